"""Result of one simulated point: long-format frames, a scalar summary, and the exact resolved config."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from accelsim.atomic import atomic_path

FRAMES = ("stages", "counters", "energy", "outputs")


@dataclass(frozen=True)
class Result:
    """What `simulate` returns; `summary` keys carry units (`latency_ns`, `energy_per_inference_uj`)."""

    summary: dict
    stages: pd.DataFrame = field(repr=False)    # batch, stage, device, start_ns, end_ns, duration_ns
    counters: pd.DataFrame = field(repr=False)  # device, component, counter, value
    energy: pd.DataFrame = field(repr=False)    # device, component, action, count, energy_pj
    outputs: pd.DataFrame = field(repr=False)   # batch, sample, ctr: the functional model's predictions
    config: dict = field(repr=False)            # resolved point: hw, workload, mapping, batch_size, ...

    def save(self, out_dir: str | Path) -> Path:
        """Write frames (Parquet), summary.json and config.json into `out_dir` atomically."""
        with atomic_path(out_dir, is_dir=True) as tmp:
            for name in FRAMES:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
            (tmp / "summary.json").write_text(json.dumps(self.summary, indent=2, sort_keys=True))
            (tmp / "config.json").write_text(json.dumps(self.config, indent=2, sort_keys=True))
        return Path(out_dir)

    @classmethod
    def load(cls, out_dir: str | Path) -> "Result":
        """Read back what `save` wrote."""
        out_dir = Path(out_dir)
        frames = {n: pd.read_parquet(out_dir / f"{n}.parquet") for n in FRAMES}
        return cls(summary=json.loads((out_dir / "summary.json").read_text()),
                   config=json.loads((out_dir / "config.json").read_text()), **frames)
