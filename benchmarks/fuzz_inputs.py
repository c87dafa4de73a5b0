"""Fuzz every loader and command with hypothesis: bad input must give a one-line error naming file and field.

Surfaces: hardware YAML, workload YAML, trace meta.json, trace chunk files, dlrm_datasets files, dlrm text
traces, sweep specs, sweep stores, CLI arguments (DRAMSim3 memsim traces are fuzzed with the DRAM model).
Each case ends in one of: ok (accepted, and ran when it is a config), rejected (InputError naming the file
and a field or position), and the findings: traceback (any other exception), hang (longer than the time
limit), unnamed (an InputError that names no file or no field).

    python benchmarks/fuzz_inputs.py [--cases N]   # N per surface (default 1200: >10,000 in all)

tests/fuzz/ runs every surface with a few cases and asserts there are no findings.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from accelsim.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
TINY = {"name": "tiny", "source": "fuzz", "embedding_dim": 8, "interaction": "dot",
        "tables": [{"rows": 1000, "lookups_per_sample": 4, "count": 2}], "bottom_mlp": [4, 8], "top_mlp": [8, 1],
        "default_batch_size": 4}


class Hang(BaseException):
    """The case ran past the time limit (a BaseException so that no `except Exception` swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def fire(*_):
        raise Hang()
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Fuzz:
    """Runs cases and tallies outcomes per surface; keeps a few examples of every finding."""

    def __init__(self, time_limit_s: float):
        self.limit = time_limit_s
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.examples: dict[tuple[str, str], list[str]] = defaultdict(list)

    def case(self, surface: str, what: str, fn: Callable[[], Any], names: tuple[str, ...] = (),
             file: str | None = None) -> None:
        """Run one case; a rejection must mention `file` and one of `names` (a field, a record, a position)."""
        t0 = time.perf_counter()
        try:
            with time_limit(self.limit), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                fn()
            outcome, detail = "ok", ""
        except Hang:
            outcome, detail = "hang", f"> {self.limit} s"
        except InputError as err:
            msg = str(err)
            if "\n" in msg.strip():
                outcome = "unnamed"
            elif (file and file not in msg) or (names and not any(n in msg for n in names)):
                outcome = "unnamed"
            else:
                outcome = "rejected"
            detail = msg
        except SystemExit as err:
            outcome, detail = ("rejected", "") if err.code in (0, 2) else ("traceback", f"exit {err.code}")
        except Exception as err:  # noqa: BLE001 - a finding
            outcome, detail = "traceback", f"{type(err).__name__}: {str(err)[:200]}"
        if outcome == "ok" and time.perf_counter() - t0 > self.limit:
            outcome, detail = "hang", f"{time.perf_counter() - t0:.1f} s"
        self.counts[surface][outcome] += 1
        if outcome in ("traceback", "hang", "unnamed") and len(self.examples[(surface, outcome)]) < 5:
            self.examples[(surface, outcome)].append(f"{what} -> {detail}")

    def findings(self) -> dict[tuple[str, str], list[str]]:
        return {k: v for k, v in self.examples.items() if v}

    def report(self) -> str:
        lines = [f"{'surface':<16}{'cases':>7}{'ok':>7}{'rejected':>9}{'traceback':>10}{'hang':>6}{'unnamed':>8}"]
        for s, c in self.counts.items():
            lines.append(f"{s:<16}{sum(c.values()):>7}{c['ok']:>7}{c['rejected']:>9}{c['traceback']:>10}"
                         f"{c['hang']:>6}{c['unnamed']:>8}")
        total = sum(sum(c.values()) for c in self.counts.values())
        lines.append(f"{'all':<16}{total:>7}")
        for (s, o), ex in self.findings().items():
            lines.append(f"{s} {o}:")
            lines += [f"  {e}" for e in ex]
        return "\n".join(lines)


# --- generic mutation of a nested config -------------------------------------------------------------------

WEIRD = st.one_of(
    st.booleans(), st.none(), st.integers(-2**70, 2**70),
    st.sampled_from([0, -1, 1, 3, 2**31, 2**62, 2**63, 10**30, 0.5, -0.0, 1e308, "\x00", "1e6", "", "rm1"]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.lists(st.integers(-3, 5), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
)
SCALES = st.sampled_from([0, -1, 1000, 10**6, 1e-3, 2.5])


def leaves(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every path into a nested dict/list (sections too, so whole sections get replaced)."""
    out = [path] if path else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += leaves(v, (*path, i))
    return out


def mutate(data: dict, draw: Callable) -> tuple[dict, tuple]:
    """A copy of `data` with one path replaced, scaled, deleted, or an unknown key added."""
    data = copy.deepcopy(data)
    paths = leaves(data)
    path = draw(st.sampled_from(paths))
    parent = data
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    kind = draw(st.sampled_from(["replace", "replace", "scale", "delete", "add"]))
    if kind == "scale" and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
        v = parent[key] * draw(SCALES)
        parent[key] = int(v) if isinstance(parent[key], int) and float(v).is_integer() else v
    elif kind == "delete" and isinstance(parent, dict):
        del parent[key]
    elif kind == "add" and isinstance(parent, dict):
        parent["bogus_" + str(key)] = 1
        key = "bogus_" + str(key)
    else:
        parent[key] = draw(WEIRD)
    return data, path[:-1] + (key,)


def names_of(path: tuple) -> tuple[str, ...]:
    return tuple(str(p) for p in path if isinstance(p, str)) + ("line ",)


DERANDOMIZE = {"on": False}  # the tests' subset replays the same cases every run


def run_surface(name: str, cases: int, body: Callable) -> None:
    @settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE["on"])
    @given(st.data())
    def case(data):
        body(data.draw)
    case()


def mutated_yaml(draw: Callable, bases: dict, f: Path) -> tuple[str, dict, tuple, Path, str]:
    """One of `bases`, mutated and written to `f`; and a fidelity to run it in."""
    name = draw(st.sampled_from(sorted(bases)))
    data, path = mutate(bases[name], draw)
    f.write_text(yaml.safe_dump(data))
    return name, data, path, f, draw(st.sampled_from(["analytic", "detailed"]))


# --- surfaces ---------------------------------------------------------------------------------------------

def fuzz_hw(fz: Fuzz, tmp: Path, cases: int) -> None:
    from accelsim.sim.api import resolve_point, run_point
    bases = {n: yaml.safe_load((ROOT / "hwconfigs" / f"{n}.yaml").read_text())
             for n in ("harpv2_centaur", "broadwell_cpu_only", "spr_hbm_ucie_chiplet")}
    wl = tmp / "tiny.yaml"
    wl.write_text(yaml.safe_dump(TINY))

    def body(draw):
        name, data, path, f, fidelity = mutated_yaml(draw, bases, tmp / "hw.yaml")
        mapping = "centaur" if "accelerator" in data or name == "harpv2_centaur" else "cpu_only"

        def go():
            run_point(resolve_point({"hw": str(f), "workload": str(wl), "mapping": mapping, "batch_size": 2,
                                     "fidelity": fidelity, "functional": False}))
        fz.case("hw yaml", f"{name} {path}", go, names_of(path), str(f))
    run_surface("hw yaml", cases, body)


def fuzz_workload(fz: Fuzz, tmp: Path, cases: int) -> None:
    from accelsim.sim.api import resolve_point, run_point
    bases = {n: yaml.safe_load((ROOT / "workloads" / f"{n}.yaml").read_text()) for n in ("rm1", "rm2", "rm3")}
    bases["tiny"] = TINY

    def body(draw):
        name, _, path, f, fidelity = mutated_yaml(draw, bases, tmp / "wl.yaml")

        def go():  # at the workload's own default batch size, with the functional model: as `accelsim run` does
            run_point(resolve_point({"hw": "harpv2_centaur", "workload": str(f), "mapping": "centaur",
                                     "fidelity": fidelity}))
        fz.case("workload yaml", f"{name} {path}", go, (*names_of(path), "budget"), str(f))
    run_surface("workload yaml", cases, body)


def _small_trace(tmp: Path) -> Path:
    from accelsim.config.base import parse_model
    from accelsim.config.workload import ModelSpec
    from accelsim.workload.synth import synthesize
    spec = parse_model(ModelSpec, TINY)
    return synthesize(spec, dist="zipf", batches=3, batch_size=4, seed=0, out=tmp / "base.trace")


def _read_all(path: Path) -> None:
    from accelsim.workload.stats import trace_stats
    from accelsim.workload.trace import open_trace
    reader = open_trace(path)
    for _ in reader:
        pass
    trace_stats(open_trace(path))


def fuzz_trace_meta(fz: Fuzz, tmp: Path, cases: int) -> None:
    import shutil
    base = _small_trace(tmp)
    meta = json.loads((base / "meta.json").read_text())

    def body(draw):
        data, path = mutate(meta, draw)
        t = tmp / "m.trace"
        shutil.rmtree(t, ignore_errors=True)
        shutil.copytree(base, t)
        (t / "meta.json").write_text(json.dumps(data))
        fz.case("trace meta", str(path), lambda: _read_all(t), (*names_of(path), "batch ", "chunk"), str(t))
    run_surface("trace meta", cases, body)


def fuzz_trace_chunks(fz: Fuzz, tmp: Path, cases: int) -> None:
    import shutil
    base = _small_trace(tmp)
    files = sorted(p.name for p in base.glob("*.npy"))

    def body(draw):
        t = tmp / "c.trace"
        shutil.rmtree(t, ignore_errors=True)
        shutil.copytree(base, t)
        name = draw(st.sampled_from(files))
        target = t / name
        kind = draw(st.sampled_from(["bytes", "truncate", "dtype", "shape", "values", "npz", "object", "delete"]))
        a = np.load(target)
        if kind == "bytes":
            target.write_bytes(draw(st.binary(max_size=200)))
        elif kind == "truncate":
            raw = target.read_bytes()
            target.write_bytes(raw[:draw(st.integers(0, len(raw) - 1))])
        elif kind == "dtype":
            np.save(target, a.astype(draw(st.sampled_from([np.float64, np.int32, np.uint64, np.bool_, np.float32]))))
        elif kind == "shape":
            np.save(target, a.reshape(-1)[:max(a.size - draw(st.integers(0, 3)), 0)].reshape(-1, 1))
        elif kind == "values":
            b = a.copy().reshape(-1)
            if b.size:
                b[draw(st.integers(0, b.size - 1))] = draw(st.sampled_from([-1, 2**40, 0, 10**18]))
            np.save(target, b.reshape(a.shape).astype(a.dtype))
        elif kind == "npz":
            with open(target, "wb") as fh:
                np.savez(fh, a=a)
        elif kind == "object":
            np.save(target, np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
        else:
            target.unlink()
        fz.case("trace chunks", f"{name} {kind}", lambda: _read_all(t), (name, "batch "), str(t))
    run_surface("trace chunks", cases, body)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/accelsim_fuzz_pwned",))


def fuzz_dlrm_datasets(fz: Fuzz, tmp: Path, cases: int) -> None:
    import torch
    from accelsim.workload.importers import import_dlrm_datasets

    ints = st.sampled_from([torch.int64, torch.int32, torch.float32, torch.bool, torch.uint8])

    def tensor(draw):
        n = draw(st.integers(0, 6))
        kind = draw(st.sampled_from(["1d", "2d", "sparse", "scalar", "big"]))
        if kind == "sparse":
            return torch.sparse_coo_tensor(torch.tensor([[0, 1]]), torch.tensor([1, 2]), (3,))
        if kind == "scalar":
            return torch.tensor(draw(st.integers(-5, 5)))
        if kind == "big":
            return torch.tensor([2**62, -1, 0])
        shape = (n,) if kind == "1d" else (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
        return torch.randint(0, 5, shape).to(draw(ints))

    def body(draw):
        f = tmp / "b.pt.gz"
        kind = draw(st.sampled_from(["valid-ish", "tensors", "not-tuple", "evil", "bytes", "plain", "npz"]))
        if kind == "valid-ish":
            B = draw(st.integers(1, 3))
            lengths = torch.tensor([[draw(st.integers(0, 3)) for _ in range(B)]])
            offsets = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.reshape(-1).cumsum(0)])
            n = int(offsets[-1]) + draw(st.integers(-1, 1))
            obj = (torch.randint(-1, 12, (max(n, 0),)), offsets, lengths)
        elif kind == "tensors":
            obj = tuple(tensor(draw) for _ in range(draw(st.integers(0, 4))))
        elif kind == "not-tuple":
            obj = draw(st.sampled_from([{"a": 1}, [1, 2, 3], "text", None]))
        elif kind == "evil":
            obj = _Evil()
        else:
            obj = None
        if obj is not None or kind == "not-tuple":
            buf = io.BytesIO()
            torch.save(obj, buf)
            raw = buf.getvalue()
        elif kind == "npz":
            buf = io.BytesIO()
            np.savez(buf, a=np.arange(3))
            raw = buf.getvalue()
        else:
            raw = draw(st.binary(max_size=100))
        f.write_bytes(gzip.compress(raw) if draw(st.booleans()) or kind != "bytes" else raw)

        def go():
            import_dlrm_datasets(f, tmp / "out.trace", rows=10)
            if Path("/tmp/accelsim_fuzz_pwned").exists():
                raise RuntimeError("a dlrm_datasets file ran code on load")
        with contextlib.suppress(Exception):
            import shutil
            shutil.rmtree(tmp / "out.trace")
        fz.case("dlrm_datasets", kind, go, file=str(f))
    run_surface("dlrm_datasets", cases, body)


def fuzz_text(fz: Fuzz, tmp: Path, cases: int) -> None:
    import shutil
    from accelsim.workload.importers import import_dlrm_text
    alphabet = st.sampled_from(list("0123456789, -+.e\n\t") + ["\x00", "é", "99999999999999999999", ",,", "nan"])

    def body(draw):
        f = tmp / "ids.txt"
        f.write_bytes("".join(draw(st.lists(alphabet, max_size=40))).encode("utf-8"))
        shutil.rmtree(tmp / "t.trace", ignore_errors=True)
        fz.case("dlrm text", repr(f.read_bytes()[:40]),
                lambda: import_dlrm_text(f, tmp / "t.trace", rows=50, batch_size=draw(st.integers(1, 3))),
                file=str(f))
    run_surface("dlrm text", cases, body)


def fuzz_sweep_spec(fz: Fuzz, tmp: Path, cases: int) -> None:
    import shutil
    from accelsim.sweep import InProcessExecutor, run_sweep
    canary = tmp / "canary_mod.py"
    flag = tmp / "canary_called"
    canary.write_text(f"def touch(*a, **k):\n    open({str(flag)!r}, 'w').close()\n")
    sys.path.insert(0, str(tmp))
    wl = tmp / "tiny_wl.yaml"
    wl.write_text(yaml.safe_dump(TINY))
    base = {"name": "s", "base": {"hw": "harpv2_centaur", "workload": str(wl), "mapping": "centaur",
                                  "fidelity": "analytic", "functional": False, "batch_size": 2},
            "axes": [{"grid": {"batch_size": [1, 2]}}, {"zip": {"mapping": ["centaur", "cpu_only"],
                                                                "seed": [0, 1]}}],
            "filters": ["batch_size <= 2"]}

    def body(draw):
        data, path = mutate(base, draw)
        if draw(st.integers(0, 9)) == 0:
            data[draw(st.sampled_from(["runner", "resolver"]))] = draw(st.sampled_from(
                ["canary_mod:touch", "subprocess:run", "os:system", "canary_mod", "accelsim.sim.api:run_point"]))
        f = tmp / "spec.yaml"
        f.write_text(yaml.safe_dump(data))
        out = tmp / "store"
        shutil.rmtree(out, ignore_errors=True)

        def go():
            run_sweep(str(f), out, InProcessExecutor())
            if flag.exists():
                flag.unlink()
                raise RuntimeError("a sweep file ran code it named")
        fz.case("sweep spec", str(path), go, file=str(f))
    run_surface("sweep spec", cases, body)


def fuzz_store(fz: Fuzz, tmp: Path, cases: int) -> None:
    import shutil
    from accelsim.sweep import InProcessExecutor, load_results, run_sweep
    wl = tmp / "tiny_st.yaml"
    wl.write_text(yaml.safe_dump(TINY))
    base = tmp / "base_store"
    run_sweep({"name": "s", "base": {"hw": "harpv2_centaur", "workload": str(wl), "mapping": "centaur",
                                     "fidelity": "analytic", "functional": False, "batch_size": 2},
               "axes": [{"grid": {"batch_size": [1, 2, 3]}}]}, base, InProcessExecutor())
    files = sorted(str(p.relative_to(base)) for p in base.rglob("*.json"))

    def body(draw):
        s = tmp / "store"
        shutil.rmtree(s, ignore_errors=True)
        shutil.copytree(base, s)
        name = draw(st.sampled_from(files))
        target = s / name
        kind = draw(st.sampled_from(["json", "json", "bytes", "delete"]))
        if kind == "json":
            data, _ = mutate({"root": json.loads(target.read_text())}, draw)
            target.write_text(json.dumps(data.get("root")))
        elif kind == "bytes":
            target.write_bytes(draw(st.binary(max_size=50)))
        else:
            target.unlink()
        fz.case("sweep store", f"{name} {kind}", lambda: load_results(s), file=str(s))
    run_surface("sweep store", cases, body)


def fuzz_cli(fz: Fuzz, tmp: Path, cases: int) -> None:
    from accelsim.cli import main
    (tmp / "cli").mkdir()
    trace = _small_trace(tmp / "cli")
    wl = tmp / "cli" / "tiny.yaml"
    wl.write_text(yaml.safe_dump(TINY))
    notes = tmp / "cli" / "mine"
    notes.mkdir()
    (notes / "notes.txt").write_text("x")
    values = st.sampled_from(["0", "-1", "1", "2", "3", "1e400", "nan", "inf", "-0", "abc", "", "\x00",
                              "99999999999999999999", str(wl), str(trace), str(notes), str(tmp / "nope"),
                              "rm1", "harpv2_centaur", "cpu_only", "zipf", "uniform", "dlrm-text", "dlrm-datasets",
                              "analytic", "detailed", "1,2", "os", "ws"])
    commands = {
        "run": ["--hw", "--workload", "--mapping", "--batch-size", "--batches", "--fidelity", "--seed", "--trace",
                "--synth", "--alpha", "--no-functional", "--json", "-o", "--force"],
        "trace synth": ["--workload", "--dist", "--alpha", "--reuse", "--batches", "--batch-size", "--seed", "-o"],
        "trace stats": ["--json"], "trace export": ["--format", "--table", "-o", "--drop-weights"],
        "trace import": ["--format", "--workload", "--rows", "--batch-size", "--bag-size", "-o"],
        "trace profile": ["--table", "-o"], "gemm": ["--rows", "--cols", "--dataflow", "--m", "--k", "--n"],
        "results": ["-o", "--pareto", "--minimize", "--maximize"],
    }

    def body(draw):
        cmd = draw(st.sampled_from(sorted(commands)))
        argv = cmd.split()
        if cmd in ("trace stats", "trace export", "trace profile", "results", "trace import"):
            argv.append(draw(values))
        for flag in draw(st.lists(st.sampled_from(commands[cmd]), max_size=6, unique=True)):
            argv.append(flag)
            if flag not in ("--no-functional", "--json", "--force", "--drop-weights"):
                argv.append(draw(values))
        if cmd == "run":  # keep every accepted run small: the work budget is fuzzed in the workload surface
            argv += ["--fidelity", "analytic", "--no-functional", "--batch-size", "2", "--workload", str(wl)]
        if "-o" in argv:
            argv[argv.index("-o") + 1] = str(tmp / "cli" / f"out{draw(st.integers(0, 2))}")
        fz.case("cli", " ".join(argv), lambda: main(argv))
    run_surface("cli", cases, body)


SURFACES = {"hw yaml": fuzz_hw, "workload yaml": fuzz_workload, "trace meta": fuzz_trace_meta,
            "trace chunks": fuzz_trace_chunks, "dlrm_datasets": fuzz_dlrm_datasets, "dlrm text": fuzz_text,
            "sweep spec": fuzz_sweep_spec, "sweep store": fuzz_store, "cli": fuzz_cli}


def fuzz_all(cases: int, time_limit_s: float, only: list[str] | None = None, derandomize: bool = False) -> Fuzz:
    """Run every surface (or `only` those) with `cases` cases each in a scratch directory."""
    DERANDOMIZE["on"] = derandomize
    fz = Fuzz(time_limit_s)
    for name, fn in SURFACES.items():
        if only and name not in only:
            continue
        with tempfile.TemporaryDirectory() as d:
            fn(fz, Path(d), cases)
    return fz


if __name__ == "__main__":
    n = int(sys.argv[sys.argv.index("--cases") + 1]) if "--cases" in sys.argv else 1200
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
    print(f"load: {os.getloadavg()}", flush=True)
    t0 = time.perf_counter()
    fz = fuzz_all(n, 30.0, only)
    print(fz.report())
    print(f"{time.perf_counter() - t0:.0f} s; load {os.getloadavg()}")
