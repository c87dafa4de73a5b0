"""A small deterministic resolver and runner, so sweep tests exercise the machinery without the simulator.

Importable by worker processes as `sweep_fixtures:run` / `sweep_fixtures:resolve` once tests/ is on
PYTHONPATH. Two environment variables make the runner observable: ACCELSIM_TEST_SLEEP_S (seconds to
sleep per point) and ACCELSIM_TEST_RUN_LOG (a file that gets one line, "<point hash> <pid>", per execution).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from accelsim.errors import InputError
from accelsim.results import Result
from accelsim.sweep.hashing import point_hash

TESTS_DIR = Path(__file__).resolve().parent
RUNNER = "sweep_fixtures:run"
RESOLVER = "sweep_fixtures:resolve"
DEFAULTS = {"mapping": "centaur", "batch_size": 128, "fidelity": "analytic", "seed": 0, "batches": 1,
            "trace": {"dist": "zipf", "alpha": 1.09}}


class DoesNotFit(InputError):
    """The toy accelerator's gather buffers exceed its SRAM (stands in for ResourceOverflow)."""


def hardware(name: str) -> dict:
    """A shipped toy hardware config by name."""
    configs = {
        "toy_centaur": {"name": "toy_centaur", "dram_gbps": 76.8, "sram_bytes": 65536,
                        "links": {"channels": [{"name": "qpi", "bandwidth_gbps": 12.8, "latency_ns": 300.0},
                                               {"name": "pcie0", "bandwidth_gbps": 7.88, "latency_ns": 600.0}]},
                        "accelerator": {"sparse_engine": {"gather_units": 8, "buffer_bytes": 4096}}},
        "toy_cpu": {"name": "toy_cpu", "dram_gbps": 76.8, "sram_bytes": 0, "links": {"channels": []},
                    "accelerator": None},
    }
    if name not in configs:
        raise InputError(f"hw: unknown hardware {name!r}; known: {', '.join(configs)}")
    return configs[name]


def workload(name: str) -> dict:
    """A shipped toy workload by name."""
    configs = {"tiny": {"name": "tiny", "tables": 4, "lookups_per_sample": 20, "row_bytes": 128},
               "wide": {"name": "wide", "tables": 16, "lookups_per_sample": 80, "row_bytes": 256}}
    if name not in configs:
        raise InputError(f"workload: unknown workload {name!r}; known: {', '.join(configs)}")
    return configs[name]


def _positive(value, path: str, kind: type):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or kind(value) != value:
        raise InputError(f"{path}: expected a positive {kind.__name__}, got {value!r}")
    return kind(value)


def resolve(point: dict) -> dict:
    """Names -> full dicts, defaults filled, values checked; idempotent on its own output."""
    unknown = sorted(set(point) - set(DEFAULTS) - {"hw", "workload"})
    if unknown:
        raise InputError(f"unknown key(s): {', '.join(unknown)}")
    out = {**DEFAULTS, **point}
    hw = hardware(out["hw"]) if isinstance(out["hw"], str) else out["hw"]
    channels = [{**c, "bandwidth_gbps": _positive(c["bandwidth_gbps"], f"hw.links.channels.{i}.bandwidth_gbps", float)}
                for i, c in enumerate(hw["links"]["channels"])]
    hw = {**hw, "links": {"channels": channels}, "dram_gbps": _positive(hw["dram_gbps"], "hw.dram_gbps", float)}
    if hw["accelerator"] is not None:
        units = _positive(hw["accelerator"]["sparse_engine"]["gather_units"],
                          "hw.accelerator.sparse_engine.gather_units", int)
        need = units * hw["accelerator"]["sparse_engine"]["buffer_bytes"]
        if need > hw["sram_bytes"]:
            raise DoesNotFit(f"sparse engine needs {need} B of SRAM, the device has {hw['sram_bytes']} B")
    out["hw"] = hw
    out["workload"] = workload(out["workload"]) if isinstance(out["workload"], str) else out["workload"]
    out["batch_size"] = _positive(out["batch_size"], "batch_size", int)
    return out


def run(resolved: dict) -> Result:
    """A closed-form toy latency/energy model with real frames; mappings `explode` and `die` test failures."""
    log = os.environ.get("ACCELSIM_TEST_RUN_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{point_hash(resolved)} {os.getpid()}\n")
    time.sleep(float(os.environ.get("ACCELSIM_TEST_SLEEP_S", "0")))
    if resolved["mapping"] == "explode":
        raise RuntimeError("the toy runner cannot run mapping 'explode'")
    if resolved["mapping"] == "die":
        os._exit(3)  # a worker process dying, as on a segfault or the OOM killer
    hw, wl, batch = resolved["hw"], resolved["workload"], resolved["batch_size"]
    lookups = batch * wl["tables"] * wl["lookups_per_sample"]
    gathered_bytes = lookups * wl["row_bytes"]
    channels = hw["links"]["channels"]
    if hw["accelerator"] is None:
        embed_ns = gathered_bytes / hw["dram_gbps"]
    else:
        link_ns = gathered_bytes / sum(c["bandwidth_gbps"] for c in channels)
        in_flight = 16 * hw["accelerator"]["sparse_engine"]["gather_units"]
        issue_ns = lookups * min(c["latency_ns"] for c in channels) / in_flight
        embed_ns = max(link_ns, issue_ns)
    mlp_ns = 2000.0 + 5.0 * batch
    latency_ns = embed_ns + mlp_ns
    energy_pj = gathered_bytes * 8 * 5.0 + batch * 1e5
    stages = pd.DataFrame({"batch": [0, 0], "stage": ["embedding", "top_mlp"], "device": ["sparse_engine", "cpu"],
                           "start_ns": [0.0, embed_ns], "end_ns": [embed_ns, latency_ns],
                           "duration_ns": [embed_ns, mlp_ns]})
    counters = pd.DataFrame({"device": ["sparse_engine"], "component": ["link"], "counter": ["bytes"],
                             "value": [float(gathered_bytes)]})
    energy = pd.DataFrame({"device": ["sparse_engine"], "component": ["link"], "action": ["bit"],
                           "count": [float(gathered_bytes * 8)], "energy_pj": [energy_pj]})
    outputs = pd.DataFrame({"batch": [0] * batch, "sample": list(range(batch)),
                            "ctr": [1.0 / (2.0 + i % 7) for i in range(batch)]})
    summary = {"latency_ns": latency_ns, "qps": batch / latency_ns * 1e9,
               "energy_per_inference_uj": energy_pj / batch / 1e6}
    return Result(summary=summary, stages=stages, counters=counters, energy=energy, outputs=outputs,
                  config=resolved)


def spec(**overrides) -> dict:
    """A sweep spec dict over the toy model (12 points by default)."""
    base = {"name": "toy", "base": {"hw": "toy_centaur", "workload": "tiny", "batch_size": 32},
            "runner": RUNNER, "resolver": RESOLVER,
            "axes": [{"grid": {"hw.links.channels.0.bandwidth_gbps": [8, 16, 32],
                               "hw.accelerator.sparse_engine.gather_units": [4, 8]}},
                     {"zip": {"batch_size": [16, 64], "workload": ["tiny", "wide"]}}]}
    return {**base, **overrides}


def worker_env(monkeypatch) -> None:
    """Make this module importable in spawned and Dask worker processes."""
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", f"{TESTS_DIR}{os.pathsep}{path}" if path else str(TESTS_DIR))
