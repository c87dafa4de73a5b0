"""Every timing and organisation number of every shipped DRAM preset equals the value in the source it cites.

The table of cited values lives in docs/dram_sources.md (the facts, with their sources); a preset value that
differs from its source's value must say why in the table's note column.
"""

from pathlib import Path

import pytest

from accelsim.config.dram import DRAM_DIR, DramConfig, load_dram

TABLE = Path(__file__).resolve().parents[2] / "docs" / "dram_sources.md"
ORGANISATION = {"channels", "ranks", "bankgroups", "banks_per_group", "rows", "columns", "device_width_bits",
                "bus_width_bits", "burst_length", "tck_ns"}
TIMINGS = {f for f in DramConfig.model_fields if f.startswith("t") and f != "tck_ns"}


def rows() -> list[dict]:
    out = []
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] not in ("preset", "---"):
            out.append(dict(zip(("preset", "field", "source", "preset_value", "cited", "note"), cells)))
    return out


PRESETS = sorted(p.stem for p in DRAM_DIR.glob("*.yaml"))


@pytest.mark.parametrize("name", PRESETS)
def test_preset_equals_the_table_of_its_sources(name):
    cfg = load_dram(name)
    mine = [r for r in rows() if r["preset"] == name]
    covered = {r["field"] for r in mine}
    expected = ORGANISATION | {t for t in TIMINGS if getattr(cfg, t) is not None}
    assert expected <= covered, f"{name}: no cited value for {sorted(expected - covered)}"
    for r in mine:
        value = getattr(cfg, r["field"])
        assert float(r["preset_value"]) == pytest.approx(float(value), abs=0), f"{name}.{r['field']}"
        if float(r["source"]) != float(value):
            assert r["note"], f"{name}.{r['field']}: {value} differs from its source's {r['source']} without a note"
        assert r["cited"], f"{name}.{r['field']}: no source named"


def test_a_preset_value_off_its_source_is_caught(tmp_path, monkeypatch):
    text = TABLE.read_text().replace("| ddr4_2400 | tCL | 17 | 17 |", "| ddr4_2400 | tCL | 16 | 17 |")
    (tmp_path / "t.md").write_text(text)
    monkeypatch.setattr(__import__(__name__), "TABLE", tmp_path / "t.md")
    with pytest.raises(AssertionError, match="differs from its source"):
        test_preset_equals_the_table_of_its_sources("ddr4_2400")
