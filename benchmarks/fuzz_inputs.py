"""Fuzz every loader and command with hypothesis: bad input must give a one-line error naming file and field.

Surfaces: hardware YAML, workload YAML, trace meta.json, trace chunk files, dlrm_datasets files, dlrm text
traces, sweep specs, sweep stores, CLI arguments of run/trace/gemm/results, and the commands with their input
files: memsim (DRAMsim3 / Ramulator / binary traces, arguments), DRAMsim3 .ini files (to memsim and as
`dram: {ini:}`), serve (arrival files, query-size specs, arguments), replay (weights folders and torch files,
arguments), gemm --topology (SCALE-Sim topology CSV and .cfg), validate --grid files, probe / validate
arguments, main / figures arguments (with a --sweep store). Measurements (probe, validate) and the
simulations behind main and figures are replaced by `Accepted`: their arguments and files are what is fuzzed.
Each case ends in one of: ok (accepted, and ran when it is a config), rejected (InputError naming the file
and a field or position), and the findings: traceback (any other exception), hang (over the time limit in
CPU seconds, or ten times it in wall seconds), unnamed (an InputError that names no file or no field), lost (a user's file beside the output paths
was deleted or overwritten).

    python benchmarks/fuzz_inputs.py [--cases N] [--only A,B]   # N cases per surface (default 1200)

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


WALL_FACTOR = 10  # a case blocked without using the CPU (waiting on a lock, a pipe) ends after 10x the limit


@contextlib.contextmanager
def time_limit(seconds: float):
    """Hang after `seconds` of this process's CPU time (the machine is shared: wall time moves with the load of
    other jobs, CPU time does not), or after WALL_FACTOR times that of wall time."""
    def fire(*_):
        raise Hang()
    old = signal.signal(signal.SIGVTALRM, fire), signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds * WALL_FACTOR)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGVTALRM, old[0])
        signal.signal(signal.SIGALRM, old[1])


class Fuzz:
    """Runs cases and tallies outcomes per surface; keeps a few examples of every finding."""

    def __init__(self, time_limit_s: float):
        self.limit = time_limit_s
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.examples: dict[tuple[str, str], list[str]] = defaultdict(list)

    def case(self, surface: str, what: str, fn: Callable[[], Any], names: tuple[str, ...] = (),
             file: str | None = None, user: "UserFiles | None" = None) -> None:
        """Run one case; a rejection must mention `file` and one of `names` (a field, a record, a position);
        `user`'s files must survive it."""
        if os.environ.get("FUZZ_VERBOSE"):
            print(f"{surface}: {what}", file=sys.__stderr__, flush=True)
        t0 = time.process_time()
        try:
            with time_limit(self.limit), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                fn()
            outcome, detail = "ok", ""
        except Accepted:
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
        if outcome == "ok" and time.process_time() - t0 > self.limit:
            outcome, detail = "hang", f"{time.process_time() - t0:.1f} s of CPU"
        if user is not None and not user.intact():
            outcome, detail = "lost", "a user's file was deleted or overwritten"
            user.__init__(user.dir.parent)
        self.counts[surface][outcome] += 1
        if outcome in ("traceback", "hang", "unnamed", "lost") and len(self.examples[(surface, outcome)]) < 5:
            self.examples[(surface, outcome)].append(f"{what} -> {detail}")

    @staticmethod
    def warm(fn: Callable[[], Any]) -> None:
        """Run a valid case once, untimed: numba compiles its kernels on first use (tens of seconds at load 8),
        and a time limit firing inside an import or a compilation would break the cases after it."""
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                contextlib.suppress(Exception, SystemExit, Accepted):
            fn()

    def findings(self) -> dict[tuple[str, str], list[str]]:
        return {k: v for k, v in self.examples.items() if v}

    def report(self) -> str:
        lines = [f"{'surface':<16}{'cases':>7}{'ok':>7}{'rejected':>9}{'traceback':>10}{'hang':>6}{'unnamed':>8}"
                 f"{'lost':>6}"]
        for s, c in self.counts.items():
            lines.append(f"{s:<16}{sum(c.values()):>7}{c['ok']:>7}{c['rejected']:>9}{c['traceback']:>10}"
                         f"{c['hang']:>6}{c['unnamed']:>8}{c['lost']:>6}")
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
    for hw, mapping in (("harpv2_centaur", "centaur"), ("broadwell_cpu_only", "cpu_only")):
        for fidelity in ("analytic", "detailed"):
            fz.warm(lambda: run_point(resolve_point({"hw": hw, "workload": str(wl), "mapping": mapping,
                                                     "batch_size": 2, "fidelity": fidelity, "functional": False})))

    def body(draw):
        name, data, path, f, fidelity = mutated_yaml(draw, bases, tmp / "hw.yaml")
        mapping = "centaur" if "accelerator" in data or name == "harpv2_centaur" else "cpu_only"

        def go():
            run_point(resolve_point({"hw": str(f), "workload": str(wl), "mapping": mapping, "batch_size": 2,
                                     "fidelity": fidelity, "functional": False}))
        names = names_of(path)
        if path == ("extends",) and "extends" not in data:  # what the base gave is now missing: naming it is right
            names += tuple(yaml.safe_load((ROOT / "hwconfigs" / f"{bases[name]['extends']}.yaml").read_text()))
        fz.case("hw yaml", f"{name} {path}", go, names, str(f))
    run_surface("hw yaml", cases, body)


def fuzz_workload(fz: Fuzz, tmp: Path, cases: int) -> None:
    from accelsim.sim.api import resolve_point, run_point
    bases = {n: yaml.safe_load((ROOT / "workloads" / f"{n}.yaml").read_text()) for n in ("rm1", "rm2", "rm3")}
    bases["tiny"] = TINY
    for fidelity in ("analytic", "detailed"):
        fz.warm(lambda: run_point(resolve_point({"hw": "harpv2_centaur", "workload": "rm1", "mapping": "centaur",
                                                 "batch_size": 4, "fidelity": fidelity})))

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


def mutate_npy(draw: Callable, target: Path) -> str:
    """Damage one .npy file in place (bytes, truncation, dtype, shape, values, an .npz or pickle, deletion)."""
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
    return kind


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
        kind = mutate_npy(draw, target)
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
    (tmp / "cli").mkdir()
    trace = _small_trace(tmp / "cli")
    wl = tmp / "cli" / "tiny.yaml"
    wl.write_text(yaml.safe_dump(TINY))
    notes = tmp / "cli" / "mine"
    notes.mkdir()
    (notes / "notes.txt").write_text("x")
    fz.warm(lambda: run_cli(["run", "--hw", "harpv2_centaur", "--workload", str(wl), "--batch-size", "2", "--fidelity", "analytic",
                             "--no-functional", "-o", str(tmp / "cli" / "warm")]))
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
        # an error may name a flag the command needs and was not given (`gemm needs --cols, --dataflow`)
        fz.case("cli", " ".join(argv), lambda: run_cli(argv),
                flag_names(argv[len(cmd.split()):]) + tuple(commands[cmd]))
    run_surface("cli", cases, body)


# --- commands and their input files ----------------------------------------------------------------------

class Accepted(BaseException):
    """Raised in place of a measurement or a long simulation: the command accepted its input up to there."""


@contextlib.contextmanager
def accepted_at(*targets: str):
    """Replace each `module:attribute` by a function raising Accepted, for the duration of a case."""
    import importlib
    saved = []

    def stop(*_a, **_k):
        raise Accepted()
    for t in targets:
        mod, attr = t.split(":")
        m = importlib.import_module(mod)
        saved.append((m, attr, getattr(m, attr)))
        setattr(m, attr, stop)
    try:
        yield
    finally:
        for m, attr, v in saved:
            setattr(m, attr, v)


def run_cli(argv: list[str]) -> None:
    """`accelsim ARGV` as a user runs it: exit 2 becomes the InputError it printed, so its naming is checked."""
    from accelsim.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    lines = [ln for ln in err.getvalue().splitlines() if ln.startswith("accelsim: error: ")]
    if rc == 2:
        raise InputError(lines[-1][len("accelsim: error: "):] if lines else f"exit 2 without an error line: "
                         f"{err.getvalue()[-200:]!r}")
    if rc != 0:
        raise RuntimeError(f"exit {rc}: {err.getvalue()[-200:]!r}")


TOKENS = st.one_of(
    st.sampled_from(["", "0", "-1", "1", "0x", "0xZZ", "0x" + "f" * 16, "READ", "WRITE", "R", "W", "1e3", "nan",
                     "inf", "-inf", "99999999999999999999", "1e300", "\x00", "é", "#", ";", "=", "[x]", ",", "  ",
                     "\t", "1.5", "true", "CALC", "USER", "os", "ws", "is", "HBM", "DDR4", "0.0"]),
    st.text(max_size=5), st.integers(-2**70, 2**70).map(str))


def mutate_text(draw: Callable, text: str) -> tuple[bytes, str]:
    """`text` with one token replaced, a line deleted, duplicated, swapped, inserted or cut, or random bytes."""
    import re
    lines = text.split("\n")
    kind = draw(st.sampled_from(["token", "token", "token", "token", "delete", "dup", "swap", "insert", "cut",
                                 "bytes", "empty"]))
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "token":
        parts = re.split(r"([\s,=:]+)", lines[i])
        j = draw(st.integers(0, len(parts) - 1))
        parts[j] = draw(TOKENS)
        lines[i] = "".join(parts)
    elif kind == "delete":
        del lines[i]
    elif kind == "dup":
        lines.insert(i, lines[i])
    elif kind == "swap" and i + 1 < len(lines):
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif kind == "insert":
        lines.insert(i, draw(st.text(max_size=20)))
    elif kind == "cut":
        return "\n".join(lines).encode()[:draw(st.integers(0, len(text)))], "cut"
    elif kind == "bytes":
        return draw(st.binary(max_size=200)), "bytes"
    elif kind == "empty":
        return b"", "empty"
    return "\n".join(lines).encode("utf-8", "surrogatepass"), f"{kind} line {i + 1}"


def cli_flags(draw: Callable, flags: dict[str, Any], values: Any, max_flags: int = 4) -> list[str]:
    """Some of `flags` ({flag: None (a switch) or a strategy of its values}), each with a drawn value."""
    argv: list[str] = []
    for flag in draw(st.lists(st.sampled_from(sorted(flags)), max_size=max_flags, unique=True)):
        argv.append(flag)
        if flags[flag] is not None:
            argv.append(draw(st.one_of(flags[flag], values)))
    return argv


def flag_names(argv: list[str]) -> tuple[str, ...]:
    """What an error about `argv` may name: each flag, its dashes dropped or as a field name, each path, and
    each value quoted (`unknown preset 'x'`) or as the subject of the message (`x: cannot read`)."""
    out = []
    for a in argv:
        if a.startswith("-") and a.lstrip("-")[:1].isalpha():
            out += [a, a.lstrip("-"), a.lstrip("-").replace("-", "_")]
        elif "/" in a:
            out.append(a)
        else:
            out += [repr(a), f"{a}: "]
    return tuple(out)


class UserFiles:
    """A user's folder and file that every command's output path may hit: they must survive every case."""

    def __init__(self, tmp: Path):
        self.dir = tmp / "mine"
        self.file = tmp / "mine.txt"
        self.dir.mkdir(exist_ok=True)
        (self.dir / "notes.txt").write_text("my notes")
        self.file.write_text("my file")

    def outputs(self, tmp: Path) -> Any:
        return st.sampled_from([str(self.dir), str(self.file), str(tmp / "out_a"), str(tmp / "out_b.csv"),
                                str(tmp / "out_c.yaml"), str(tmp / "nope" / "deeper" / "x")])

    def intact(self) -> bool:
        return (self.dir / "notes.txt").is_file() and (self.dir / "notes.txt").read_text() == "my notes" \
            and self.file.is_file() and self.file.read_text() == "my file"


NUMS = st.sampled_from(["0", "-1", "1", "2", "3", "1e400", "nan", "inf", "-0", "abc", "", "\x00", "1e300",
                        "99999999999999999999", "1,2", "0.5"])
DRAMSIM3_TRACE = "".join(f"0x{(i * 0x1040 + (i % 3) * 0x40000):x} {'WRITE' if i % 4 == 3 else 'READ'} {i * 7}\n"
                         for i in range(40))
RAMULATOR_TRACE = "".join(f"0x{(i * 0x2040):x} {'W' if i % 5 == 4 else 'R'}\n" for i in range(40))
DDR4_INI = """[dram_structure]
protocol = DDR4
bankgroups = 4
banks_per_group = 4
rows = 65536
columns = 1024
device_width = 8
BL = 8

[timing]
tCK = 0.83
AL = 0
CL = 17
CWL = 12
tRCD = 17
tRP = 17
tRAS = 39
tRFC = 420
tREFI = 9360
tRRD_S = 4
tRRD_L = 6
tWTR_S = 3
tWTR_L = 9
tFAW = 26
tWR = 18
tRTP = 9
tCCD_S = 4
tCCD_L = 6
tRTRS = 1

[system]
channel_size = 16384
channels = 1
bus_width = 64
address_mapping = rochrababgco
row_buf_policy = OPEN_PAGE ; a comment
trans_queue_size = 16
"""


def fuzz_memsim(fz: Fuzz, tmp: Path, cases: int) -> None:
    from accelsim.cli.memsim_cmd import trace_chunks, write_binary
    (tmp / "d.txt").write_text(DRAMSIM3_TRACE)
    (tmp / "r.txt").write_text(RAMULATOR_TRACE)
    binary = tmp / "b.bin"
    write_binary(binary, trace_chunks(tmp / "d.txt"))
    raw_binary = binary.read_bytes()
    user = UserFiles(tmp)
    for fidelity in ("analytic", "detailed"):
        fz.warm(lambda: run_cli(["memsim", "--dram", "DDR4-2400", "--trace", str(tmp / "d.txt"), "--fidelity", fidelity]))
    flags = {"--channels": st.sampled_from(["1", "2", "4", "64", "100000"]), "--ranks": st.sampled_from(["1", "2"]),
             "--mapping": st.sampled_from(["ro-ba-ra-co-bg-ch", "ro-ba-ra-co-bg", "ch-ch-ro-ba-ra-co", "x"]),
             "--page-policy": st.sampled_from(["open", "closed", "lru"]), "--queue-depth": NUMS,
             "--epoch-ns": NUMS, "--save-binary": user.outputs(tmp), "--json": None,
             "--fidelity": st.sampled_from(["analytic", "detailed", "exact"]),
             "--dram": st.sampled_from(["DDR4-2400", "ddr5_4800", "hbm2", "ddr9", str(user.file), str(tmp / "x.ini")])}

    def body(draw):
        kind = draw(st.sampled_from(["dramsim3", "ramulator", "binary", "args"]))
        f = tmp / "trace.txt"
        if kind == "binary":
            b = bytearray(raw_binary)
            how = draw(st.sampled_from(["cut", "flip", "magic"]))
            if how == "cut":
                b = b[:draw(st.integers(0, len(b)))]
            elif how == "flip":
                for _ in range(draw(st.integers(1, 4))):
                    b[draw(st.integers(8, len(b) - 1))] = draw(st.integers(0, 255))
            else:
                b = b"ASIMTRC1" + b[8:8 + 17 * draw(st.integers(0, 3))]
            f.write_bytes(bytes(b))
            what = f"binary {how}"
        elif kind == "args":
            f.write_text(DRAMSIM3_TRACE)
            what = "args"
        else:
            data, what = mutate_text(draw, DRAMSIM3_TRACE if kind == "dramsim3" else RAMULATOR_TRACE)
            f.write_bytes(data)
        argv = ["memsim", "--dram", "DDR4-2400", "--trace", str(f)]
        if kind == "args":
            argv += cli_flags(draw, flags, NUMS)
        else:
            argv += ["--fidelity", draw(st.sampled_from(["analytic", "detailed"]))]
        out = [a for a in argv if a.startswith(str(tmp / "out"))]
        for o in out:
            with contextlib.suppress(OSError):
                Path(o).unlink()
        fz.case("memsim", f"{kind} {what} {' '.join(argv[5:])}", lambda: run_cli(argv),
                flag_names(argv[5:]) if kind == "args" else (), None if kind == "args" else str(f), user=user)
    run_surface("memsim", cases, body)


def fuzz_dram_ini(fz: Fuzz, tmp: Path, cases: int) -> None:
    from accelsim.sim.api import resolve_point, run_point
    (tmp / "d.txt").write_text(DRAMSIM3_TRACE)
    wl = tmp / "tiny.yaml"
    wl.write_text(yaml.safe_dump(TINY))
    for fidelity in ("analytic", "detailed"):
        fz.warm(lambda: run_point(resolve_point({"hw": "broadwell_cpu_only", "workload": str(wl), "batch_size": 2,
                                                 "mapping": "cpu_only", "fidelity": fidelity, "functional": False})))
        fz.warm(lambda: run_cli(["memsim", "--dram", "DDR4-2400", "--trace", str(tmp / "d.txt"), "--fidelity", fidelity]))

    def body(draw):
        f = tmp / "dram.ini"
        data, what = mutate_text(draw, DDR4_INI)
        f.write_bytes(data)
        via = draw(st.sampled_from(["memsim", "hw yaml"]))
        fidelity = draw(st.sampled_from(["analytic", "detailed"]))
        if via == "memsim":
            def go():
                run_cli(["memsim", "--dram", str(f), "--trace", str(tmp / "d.txt"), "--fidelity", fidelity])
        else:
            hw = tmp / "hw.yaml"
            hw.write_text(yaml.safe_dump({"extends": "broadwell_cpu_only", "name": "ini",
                                          "dram": {"ini": str(f)}}))

            def go():
                run_point(resolve_point({"hw": str(hw), "workload": str(wl), "mapping": "cpu_only",
                                         "batch_size": 2, "fidelity": fidelity, "functional": False}))
        fz.case("dram ini", f"{via} {what}", go, (), str(f))
    run_surface("dram ini", cases, body)


ARRIVALS = "".join(f"{i * 12.5:g}\n" for i in range(30))
QUERY_SIZES = ["fixed:4", "normal:mean=6,std=2,max_size=16", "lognormal:median=4,sigma=1,max_size=32"]


def fuzz_serve(fz: Fuzz, tmp: Path, cases: int) -> None:
    import shutil
    wl = tmp / "tiny.yaml"
    wl.write_text(yaml.safe_dump(TINY))
    user = UserFiles(tmp)
    flags = {"--queries": st.sampled_from(["1", "5", "20", "0", "-3", "100000000", "1e3"]),
             "--policy": st.sampled_from(["fixed", "dynamic", "split", "lifo"]),
             "--batch-size": st.sampled_from(["1", "4", "0", "2000000"]), "--timeout-us": NUMS,
             "--in-flight": st.sampled_from(["1", "2", "0", "100000"]), "--think-us": NUMS,
             "--offload-threshold": st.sampled_from(["1", "8", "0"]),
             "--offload-mapping": st.sampled_from(["centaur", "cpu_only", "nope"]),
             "--sla-p99-ms": NUMS, "--find-max-qps": None, "--no-sharing": None, "--json": None,
             "--mapping": st.sampled_from(["centaur", "cpu_only", "sparse_offload", "x"]),
             "--seed": NUMS, "--fidelity": st.sampled_from(["analytic", "detailed"]),
             "-o": user.outputs(tmp), "--workload": st.sampled_from([str(wl), "rm1", str(user.file)])}
    for mapping in ("centaur", "cpu_only"):
        fz.warm(lambda: run_cli(["serve", "--hw", "harpv2_centaur", "--workload", str(wl), "--qps", "20000",
                                 "--queries", "5", "--mapping", mapping, "-o", str(tmp / f"warm_{mapping}")]))

    def body(draw):
        kind = draw(st.sampled_from(["arrivals", "query size", "args"]))
        arr = tmp / "arrivals.txt"
        arr.write_text(ARRIVALS)
        size = draw(st.sampled_from(QUERY_SIZES))
        what = ""
        if kind == "arrivals":
            data, what = mutate_text(draw, ARRIVALS)
            arr.write_bytes(data)
        elif kind == "query size":
            data, what = mutate_text(draw, size)
            size = data.decode("utf-8", "replace").replace("\n", "")
        stream = (["--arrivals-file", str(arr)] if kind == "arrivals" else
                  draw(st.sampled_from([["--qps", draw(st.sampled_from(["20000", "0", "-5", "1e300", "nan"]))],
                                        ["--clients", draw(st.sampled_from(["1", "4", "0"]))],
                                        ["--arrivals-file", str(arr)]])))
        argv = ["serve", "--hw", "harpv2_centaur", "--workload", str(wl), "--queries", "20", "--query-size", size,
                *stream]
        if kind == "args":
            argv += cli_flags(draw, flags, NUMS)
        argv += ["--fidelity", "analytic"] if "--fidelity" not in argv else []
        if "-o" not in argv:
            argv += ["-o", str(tmp / "out_serve")]
        shutil.rmtree(tmp / "out_serve", ignore_errors=True)
        names = () if kind == "arrivals" else flag_names(argv[5:])
        fz.case("serve", f"{kind} {what} {' '.join(argv[5:])}", lambda: run_cli(argv), names,
                str(arr) if kind == "arrivals" else None, user=user)
    run_surface("serve", cases, body)


def _weights_folder(spec: Any, folder: Path) -> Path:
    """Weights in save_weights' layout for `spec`, of the right shapes (random values)."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    arrays = {f"table_{t}": rng.standard_normal((g.rows, spec.embedding_dim), dtype=np.float32)
              for t, g in enumerate(spec.table_list)}
    for part, layers in (("bottom", spec.bottom_layers), ("top", spec.top_layers)):
        for i, (n, o) in enumerate(layers):
            arrays[f"{part}_{i}.weight"] = rng.standard_normal((o, n), dtype=np.float32)
            arrays[f"{part}_{i}.bias"] = rng.standard_normal(o, dtype=np.float32)
    arrays["feature_tables"] = np.arange(len(spec.table_list), dtype=np.int64)
    for name, a in arrays.items():
        np.save(folder / f"{name}.npy", a)
    return folder


def fuzz_replay(fz: Fuzz, tmp: Path, cases: int) -> None:
    import shutil

    import torch

    from accelsim.config.base import parse_model
    from accelsim.config.workload import ModelSpec
    trace = _small_trace(tmp)
    base = _weights_folder(parse_model(ModelSpec, TINY), tmp / "weights")
    files = sorted(p.name for p in base.glob("*.npy"))
    wl = tmp / "tiny.yaml"
    wl.write_text(yaml.safe_dump(TINY))
    other = tmp / "other.yaml"
    other.write_text(yaml.safe_dump({**TINY, "embedding_dim": 16, "bottom_mlp": [4, 16]}))
    user = UserFiles(tmp)
    fz.warm(lambda: run_cli(["replay", str(trace), "--weights", str(base)]))
    flags = {"--workload": st.sampled_from([str(wl), str(other), "rm1", str(user.file), "nope"]), "--json": None,
             "-o": user.outputs(tmp),
             "--weights": st.sampled_from([str(base), str(tmp / "w.pt"), str(user.dir), str(tmp / "nope")])}

    def body(draw):
        kind = draw(st.sampled_from(["weights npy", "weights npy", "torch file", "args"]))
        w = tmp / "w"
        shutil.rmtree(w, ignore_errors=True)
        shutil.copytree(base, w)
        what = ""
        if kind == "weights npy":
            name = draw(st.sampled_from(files))
            what = f"{name} {mutate_npy(draw, w / name)}"
        pt = tmp / "w.pt"
        obj = draw(st.sampled_from(["tensors", "wrong", "list", "evil"]))
        if obj == "evil":
            with open(pt, "wb") as fh:
                import pickle
                pickle.dump(_Evil(), fh)
        else:
            arrays = {p.stem: torch.from_numpy(np.load(p)) for p in base.glob("*.npy")}
            if obj == "wrong":
                arrays["top_0.weight"] = torch.zeros(3)
            torch.save(list(arrays.values()) if obj == "list" else arrays, pt)
        argv = ["replay", str(trace)]
        if kind == "weights npy":
            argv += ["--weights", str(w)]
        elif kind == "torch file":
            argv += ["--weights", str(pt)]
            what = obj
        else:
            argv += cli_flags(draw, flags, NUMS)
        for o in (tmp / "out_b.csv", tmp / "out_c.yaml"):
            with contextlib.suppress(OSError):
                o.unlink()

        def go():
            run_cli(argv)
            if Path("/tmp/accelsim_fuzz_pwned").exists():
                raise RuntimeError("a weights file ran code on load")
        fz.case("replay", f"{kind} {what} {' '.join(argv[2:])}", go,
                flag_names(argv[2:]) if kind == "args" else (), None if kind == "args" else argv[3], user=user)
    run_surface("replay", cases, body)


TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 30, 30, 7, 7, 3, 16, 2,
Conv2, 12, 12, 3, 3, 16, 24, 1,
FC, 1, 1, 1, 1, 256, 100, 1,
DP_dw, 8, 8, 3, 3, 3, 3, 1,
"""
SCALESIM_CFG = """[general]
run_name = "tiny"

[architecture_presets]
ArrayHeight:    8
ArrayWidth:     4
IfmapSramSzkB:    1
FilterSramSzkB:   1
OfmapSramSzkB:    1
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : ws
Bandwidth : 4
MemoryBanks: 1

[run_presets]
InterfaceBandwidth: USER
"""


def fuzz_gemm(fz: Fuzz, tmp: Path, cases: int) -> None:
    import shutil
    user = UserFiles(tmp)
    flags = {"--rows": NUMS, "--cols": NUMS, "--dataflow": st.sampled_from(["os", "ws", "is", "xs"]), "--m": NUMS,
             "--json": None, "-o": user.outputs(tmp)}

    def body(draw):
        topo, cfg = tmp / "net.csv", tmp / "array.cfg"
        topo.write_text(TOPOLOGY)
        cfg.write_text(SCALESIM_CFG)
        kind = draw(st.sampled_from(["topology", "cfg", "args"]))
        what = ""
        if kind != "args":
            data, what = mutate_text(draw, TOPOLOGY if kind == "topology" else SCALESIM_CFG)
            (topo if kind == "topology" else cfg).write_bytes(data)
        argv = ["gemm", "--topology", str(topo), "--scalesim-config", str(cfg)]
        if kind == "args":
            argv += cli_flags(draw, flags, NUMS)
        shutil.rmtree(tmp / "out_a", ignore_errors=True)
        fz.case("gemm topology", f"{kind} {what} {' '.join(argv[5:])}", lambda: run_cli(argv),
                flag_names(argv[5:]) if kind == "args" else (),
                {"topology": str(topo), "cfg": str(cfg), "args": None}[kind], user=user)
    run_surface("gemm topology", cases, body)


GRID = {"cases": [{"kind": "embedding_bag", "rows": 2000, "dim": 16, "lookups": 8, "batch": 32, "dist": "zipf",
                   "alpha": 1.1, "threads": 1},
                  {"kind": "mlp", "widths": [13, 64, 16], "batch": 8, "threads": 2},
                  {"kind": "dlrm", "workload": "rm1", "max_rows": 1000, "batch": 4, "threads": 1}]}
MEASURE = "accelsim.validate.run:measure_grid"  # the measurements: replaced by Accepted
PROBES = "accelsim.probe.run:run_probes"


def fuzz_validate_grid(fz: Fuzz, tmp: Path, cases: int) -> None:
    import shutil
    user = UserFiles(tmp)

    def body(draw):
        data, path = mutate(GRID, draw)
        f = tmp / "grid.yaml"
        f.write_text(yaml.safe_dump(data))
        shutil.rmtree(tmp / "out_a", ignore_errors=True)
        argv = ["validate", "--grid", str(f), "--hw", "broadwell_cpu_only", "-o", str(tmp / "out_a")]

        def go():
            with accepted_at(MEASURE):
                run_cli(argv)
        fz.case("validate grid", str(path), go, (*names_of(path), "case "), str(f), user=user)
    run_surface("validate grid", cases, body)


def fuzz_probe_validate_args(fz: Fuzz, tmp: Path, cases: int) -> None:
    user = UserFiles(tmp)
    grid = tmp / "grid.yaml"
    grid.write_text(yaml.safe_dump(GRID))
    hw = st.sampled_from(["broadwell_cpu_only", "harpv2_centaur", str(user.file), str(tmp / "nope.yaml"), "x"])
    commands = {
        "probe": {"-o": user.outputs(tmp), "--json": None, "--fma-units": NUMS, "--force": None},
        "validate": {"--grid": st.sampled_from([str(grid), str(user.file), str(tmp / "nope.yaml")]), "--hw": hw,
                     "--json": None, "-o": user.outputs(tmp), "--seed": NUMS, "--force": None},
    }

    def body(draw):
        cmd = draw(st.sampled_from(sorted(commands)))
        argv = [cmd, *cli_flags(draw, commands[cmd], NUMS)]
        if "--force" in argv and any(a in (str(user.dir), str(user.file)) for a in argv):
            argv.remove("--force")  # --force is the user's own say-so to replace a path: not a finding

        def go():
            with accepted_at(MEASURE, PROBES):
                run_cli(argv)
        fz.case("probe/validate", " ".join(argv), go, flag_names(argv[1:]), user=user)
    run_surface("probe/validate", cases, body)


def fuzz_main_figures(fz: Fuzz, tmp: Path, cases: int) -> None:
    import shutil
    from accelsim.sweep import InProcessExecutor, run_sweep
    wl = tmp / "tiny_f.yaml"
    wl.write_text(yaml.safe_dump(TINY))
    store = tmp / "store2"
    run_sweep({"name": "s2", "base": {"hw": "harpv2_centaur", "workload": str(wl), "mapping": "centaur",
                                      "fidelity": "analytic", "functional": False, "batch_size": 2},
               "axes": [{"grid": {"batch_size": [1, 2], "hw.accelerator.sparse_engine.gather_units": [4, 8]}}]},
              store, InProcessExecutor())
    files = sorted(str(p.relative_to(store)) for p in store.rglob("*.json"))
    user = UserFiles(tmp)
    sizes = st.sampled_from(["1", "1,2", "0", "-4", "a,b", "", "1,,2", "99999999999999999999"])
    commands = {
        "main": {"--batch-sizes": sizes, "-o": user.outputs(tmp), "--force": None},
        "figures": {"--sweep": st.sampled_from([str(tmp / "s"), str(user.dir), str(user.file), str(tmp / "nope")]),
                    "--compression": st.sampled_from([str(tmp / "s"), str(user.dir), str(tmp / "nope")]),
                    "--models": st.sampled_from(["rm1", "rm1,rm2", "", ",", "nope", str(wl)]),
                    "--batch-sizes": sizes, "--serving": None, "-o": user.outputs(tmp), "--force": None,
                    "--label": st.sampled_from(["a=b", "=b", "a=", "noequals", "hw.dram.channels=DRAM channels"])},
    }

    def body(draw):
        s = tmp / "s"
        shutil.rmtree(s, ignore_errors=True)
        shutil.copytree(store, s)
        what = ""
        if draw(st.booleans()):
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
            what = f"store {name} {kind}; "
        cmd = draw(st.sampled_from(sorted(commands)))
        argv = [cmd, "--fidelity", "analytic", *cli_flags(draw, commands[cmd], NUMS)]
        if "--force" in argv and any(a in (str(user.dir), str(user.file)) for a in argv):
            argv.remove("--force")
        for o in (tmp / "out_a", tmp / "out_b.csv", tmp / "out_c.yaml"):
            shutil.rmtree(o, ignore_errors=True) if o.is_dir() else o.unlink(missing_ok=True)

        def go():  # the simulations behind a table or figure are replaced by Accepted: arguments are fuzzed
            # (main and figures compute their points through the study's sweep, possibly in worker processes
            # a patch would not reach, so the study itself is what stops)
            with accepted_at("accelsim.figures.runs:run_grid", "accelsim.cli.main_cmd:run_study",
                             "accelsim.cli.figures_cmd:run_study"):
                run_cli(argv)
        fz.case("main/figures", what + " ".join(argv), go, flag_names(argv[1:]), user=user)
    run_surface("main/figures", cases, body)


SURFACES = {"hw yaml": fuzz_hw, "workload yaml": fuzz_workload, "trace meta": fuzz_trace_meta,
            "trace chunks": fuzz_trace_chunks, "dlrm_datasets": fuzz_dlrm_datasets, "dlrm text": fuzz_text,
            "sweep spec": fuzz_sweep_spec, "sweep store": fuzz_store, "cli": fuzz_cli, "memsim": fuzz_memsim,
            "dram ini": fuzz_dram_ini, "serve": fuzz_serve, "replay": fuzz_replay, "gemm topology": fuzz_gemm,
            "validate grid": fuzz_validate_grid, "probe/validate": fuzz_probe_validate_args,
            "main/figures": fuzz_main_figures}


def _one_surface(name: str, cases: int, time_limit_s: float, derandomize: bool) -> Fuzz:
    """One surface in a scratch directory, which is also the cwd (a command's default output lands there)."""
    DERANDOMIZE["on"] = derandomize
    fz = Fuzz(time_limit_s)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        try:
            SURFACES[name](fz, Path(d), cases)
        finally:
            os.chdir(cwd)
    return fz


def fuzz_all(cases: int, time_limit_s: float, only: list[str] | None = None, derandomize: bool = False,
             log: Callable[[str], None] | None = None) -> Fuzz:
    """Run every surface (or `only` those) with `cases` cases each (run two processes with `--only` lists to
    use two cores); `log` gets each surface's report as it finishes."""
    fz = Fuzz(time_limit_s)
    for name in SURFACES:
        if not only or name in only:
            t0 = time.perf_counter()
            part = _one_surface(name, cases, time_limit_s, derandomize)
            fz.counts.update(part.counts)
            fz.examples.update(part.examples)
            if log:
                log(f"{part.report()}\n({time.perf_counter() - t0:.0f} s wall; load {os.getloadavg()})")
    return fz


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1200, help="cases per surface (default 1200)")
    ap.add_argument("--only", type=lambda s: s.split(","), default=None,
                    help=f"comma-separated surfaces, of: {', '.join(SURFACES)}")
    ap.add_argument("--time-limit-s", type=float, default=30.0, help="a case's CPU-time limit (default 30)")
    args = ap.parse_args()
    unknown = sorted(set(args.only or ()) - set(SURFACES))
    if unknown:
        ap.error(f"--only: unknown surface(s) {', '.join(unknown)}")
    print(f"load: {os.getloadavg()}", flush=True)
    t0 = time.perf_counter()
    fz = fuzz_all(args.cases, args.time_limit_s, args.only, log=lambda text: print(text, flush=True))
    print(fz.report())
    print(f"{time.perf_counter() - t0:.0f} s wall, {time.process_time():.0f} s CPU; load {os.getloadavg()}")
