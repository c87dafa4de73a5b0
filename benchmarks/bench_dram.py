"""Requests per second of the detailed DRAM model (DDR4-2400, 4 channels) on 250k / 500k / 1M-request traces.

Traces: sequential 64 B lines; uniform random 64 B lines over the whole memory; 256 B embedding-row gathers
(4 consecutive 64 B requests) over a 1M-row table, rows uniform or Zipf(1.09) with a random permutation of
row ids. Every request arrives at t = 0 (the controller queue stays full: the scheduler's worst case).
The first call's JIT compile is excluded (warm-up on a small trace). Wall and process CPU time are both
shown, and the channel kernel's own CPU time (M req/s, without the address decoding and sorting around it);
on a shared machine the CPU-time rates are the steadier figures.

    .venv/bin/python benchmarks/bench_dram.py [--sizes 250000 500000 1000000] [--repeat 3]
    .venv/bin/python benchmarks/bench_dram.py --fidelity   # the DRAM fidelity table (benchmarks/RESULTS.md)
    .venv/bin/python benchmarks/bench_dram.py --ramulator1 [--write-traces DIR]   # against Ramulator 1
    .venv/bin/python benchmarks/bench_dram.py --hash   # one hash of every completion time and counter (equality)

The fidelity table runs the standard synthetic patterns on three DDR4-2400 controllers: the preset with
DRAMsim3's mapping (rochrababgco) and one shared 16-entry queue; the same with DRAMsim3's queue structure as the
peers' figures in RESULTS.md were taken (16-entry transaction queue in front of 8-entry command queues per bank);
and DRAMsim3's stored stock file (configs/DDR4_8Gb_x8_2400.ini at commit 7985fa0, written here from its
values). Patterns: saturated streams (all requests at t = 0), unloaded probes (one request every 1 us), and
offered loads (evenly spaced requests).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from accelsim.config.dram import load_dram
from accelsim.hw.dram import Dram

TABLE_ROWS = 1 << 20
ROW_BYTES = 256


def zipf_rows(rng: np.random.Generator, n: int, s: float, rows: int) -> np.ndarray:
    """n row ids with P(rank k) ~ k^-s over `rows` rows, ranks scattered by a random permutation."""
    cdf = np.cumsum(np.arange(1, rows + 1, dtype=np.float64) ** -s)
    ranks = np.searchsorted(cdf, rng.random(n) * cdf[-1])
    return rng.permutation(rows)[ranks]


def make_trace(kind: str, n: int, capacity_bytes: int, seed: int = 0) -> np.ndarray:
    """Byte addresses of n 64 B requests."""
    rng = np.random.default_rng(seed)
    if kind == "sequential":
        return np.arange(n, dtype=np.int64) * 64
    if kind == "random":
        return rng.integers(0, capacity_bytes // 64, n) * 64
    rows = rng.integers(0, TABLE_ROWS, n // 4) if kind == "gather-uniform" else zipf_rows(rng, n // 4, 1.09,
                                                                                          TABLE_ROWS)
    return (rows[:, None] * ROW_BYTES + np.arange(ROW_BYTES // 64) * 64).ravel()


# The values of DRAMsim3's configs/DDR4_8Gb_x8_2400.ini as stored at umd-memsys/DRAMsim3 commit 7985fa0 (the
# keys our loader reads, plus the system keys; power and output keys left out).
STOCK_DDR4_2400_INI = {
    "dram_structure": {"protocol": "DDR4", "bankgroups": 4, "banks_per_group": 4, "rows": 65536, "columns": 1024,
                       "device_width": 8, "BL": 8},
    "timing": {"tCK": 0.833, "AL": 0, "CL": 16, "CWL": 16, "tRCD": 16, "tRP": 16, "tRAS": 39, "tRFC": 420,
               "tREFI": 9364, "tRRD_S": 4, "tRRD_L": 6, "tWTR_S": 3, "tWTR_L": 9, "tFAW": 26, "tWR": 19,
               "tCCD_S": 4, "tCCD_L": 6, "tRTRS": 2},
    "system": {"channel_size": 8192, "channels": 1, "bus_width": 64, "address_mapping": "chrobabgraco",
               "queue_structure": "PER_RANK", "queue_size": 16, "refresh_strategy": "RANK_LEVEL_STAGGERED"},
}


def write_ini(values: dict, path: Path) -> Path:
    """Write {section: {key: value}} as a DRAMsim3 .ini file."""
    path.write_text("".join(f"[{sec}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) + "\n"
                            for sec, keys in values.items()))
    return path


def fidelity_configs(channels: int, tmp: Path) -> dict:
    """The three controllers of the fidelity table at `channels` channels."""
    base = dict(channels=channels, address_mapping="rochrababgco", queue_depth=16)
    return {"preset, shared queue 16": load_dram("DDR4-2400", **base),
            "preset, per-bank 8 (peers)": load_dram("DDR4-2400", **base, queue_structure="per_bank",
                                                    command_queue_depth=8),
            "stock .ini 7985fa0": load_dram(str(write_ini(STOCK_DDR4_2400_INI, tmp / "DDR4_8Gb_x8_2400.ini")),
                                            channels=channels)}


def fidelity_table(n: int = 200_000) -> None:
    """Bandwidth and read latency of the standard patterns, 1 and 2 channels, reads only and a 30% write mix."""
    with tempfile.TemporaryDirectory() as tmp:
        for channels in (1, 2):
            for label, cfg in fidelity_configs(channels, Path(tmp)).items():
                print(f"== {label}: {cfg.ranks} rank(s), CL{cfg.tCL}, {cfg.address_mapping}, {cfg.queue_structure}"
                      f" (transaction queue {cfg.queue_depth}, command queues {cfg.command_queue_depth})")
                fidelity_rows(cfg, n)


def fidelity_rows(cfg, n: int) -> None:
    """One controller's rows of the fidelity table."""
    print(f"{'pattern':<28}{'ch':>3}{'GB/s':>8}{'lat avg ns':>12}{'lat p99 ns':>12}{'row hits':>10}")
    channels = cfg.channels
    dram = Dram(cfg)
    cases = []
    for kind in ("sequential", "random", "gather-uniform", "gather-zipf"):
        cases.append((f"{kind} saturated", np.zeros(n), make_trace(kind, n, cfg.capacity_bytes), 0.0))
    m = 5000
    cases.append(("idle random (1/us)", np.arange(m) * 1000.0, make_trace("random", m, cfg.capacity_bytes), 0.0))
    cases.append(("idle sequential (1/us)", np.arange(m) * 1000.0, make_trace("sequential", m, cfg.capacity_bytes),
                  0.0))
    for gbps in (4.0, 8.0, 12.0, 16.0):
        arr = np.arange(n) * (64 / (gbps * channels))  # evenly spaced, as a trace with fixed cycle gaps
        cases.append((f"random offered {gbps * channels:g} GB/s", arr, make_trace("random", n, cfg.capacity_bytes),
                      0.0))
    cases.append(("random 30% writes saturated", np.zeros(n), make_trace("random", n, cfg.capacity_bytes), 0.3))
    for name, arr, addr, wf in cases:
        w = np.random.default_rng(1).random(addr.size) < wf
        res = dram.simulate(arr, addr, w)
        st = res.read_latency_stats()
        print(f"{name:<28}{channels:>3}{res.bandwidth_gbps:>8.2f}{st['read_latency_avg_ns']:>12.1f}"
              f"{st['read_latency_p99_ns']:>12.1f}{res.counters.row_hit_rate:>10.3f}")


# Ramulator 1 (CMU-SAFARI/ramulator) configured as its DDR4 example: speed DDR4_2400R, org DDR4_8Gb_x8, 1 or 2
# ranks, mapping RoBaRaCoCh, read and write queues of 32 (writes drained from 0.8 to 0.2 of the queue), FR-FCFS
# with row hits first, open page, every rank refreshed at once every nREFI (docs/dram_sources.md, "Ramulator 1").
RAMULATOR1_TCK_NS = (3 / 0.4) / 9  # its DDR4_2400R tCK, 0.8333 ns
RAMULATOR1_DDR4_2400R = dict(tCL=16, tRCD=16, tRP=16, tCWL=12, tRAS=39, tRC=55, tRTP=9, tWTR_S=3, tWTR_L=9,
                             tWR=18, tCCD_S=4, tCCD_L=6, tRTRS=2, tRRD_S=4, tRRD_L=6, tFAW=26, tRFC=420,
                             tREFI=9360, address_mapping="RoBaRaCoCh", queue_depth=32, write_queue_depth=32,
                             write_high_watermark=0.8, write_low_watermark=0.2, scheduler="frfcfs",
                             page_policy="open", refresh_ranks="simultaneous", tck_ns=RAMULATOR1_TCK_NS)


def peer_cases(n: int, capacity_bytes: int, channels: int) -> list:
    """(name, arrival cycles, addresses, write fraction) of the side-by-side table, arrivals in whole tCK."""
    tck, z, m = RAMULATOR1_TCK_NS, np.zeros(n), 4000
    out = [(f"{kind} saturated", z, make_trace(kind, n, capacity_bytes), 0.0)
           for kind in ("sequential", "random", "gather-uniform")]
    out.append(("random 30% writes saturated", z, make_trace("random", n, capacity_bytes), 0.3))
    idle = np.floor(np.arange(m) * 1000.0 / tck)
    out.append(("idle random (1/us)", idle, make_trace("random", m, capacity_bytes), 0.0))
    out.append(("idle sequential (1/us)", idle, make_trace("sequential", m, capacity_bytes), 0.0))
    for g in (4.0, 8.0, 12.0):
        out.append((f"random offered {g * channels:g} GB/s", np.floor(np.arange(n) * 64 / (g * channels) / tck),
                    make_trace("random", n, capacity_bytes), 0.0))
    return out


def ramulator1_table(n: int, trace_dir: Path | None) -> None:
    """Our side of the table against Ramulator 1; with trace_dir, also the traces as 'cycle 0xaddr R|W' lines."""
    print(f"{'pattern':<30}{'ch':>3}{'ranks':>6}{'GB/s':>8}{'lat avg ns':>12}{'row hits':>10}")
    for channels, ranks in ((1, 1), (2, 1), (1, 2)):
        cfg = load_dram("DDR4-2400", channels=channels, ranks=ranks, **RAMULATOR1_DDR4_2400R)
        for name, cyc, addr, wf in peer_cases(n, cfg.capacity_bytes, channels):
            w = np.random.default_rng(1).random(addr.size) < wf
            res = Dram(cfg).simulate(cyc * cfg.tck_ns, addr, w)
            print(f"{name:<30}{channels:>3}{ranks:>6}{res.bandwidth_gbps:>8.2f}"
                  f"{res.read_latency_stats()['read_latency_avg_ns']:>12.1f}{res.counters.row_hit_rate:>10.3f}")
            if trace_dir is not None:
                path = trace_dir / f"{channels}ch{ranks}r_{name.replace(' ', '_').replace('/', '')}.trace"
                path.write_text("".join(f"{int(c)} 0x{int(a):x} {'W' if x else 'R'}\n" for c, a, x in zip(cyc, addr, w)))


HASH_PRESETS = ("DDR4-2400", "ddr4_3200", "ddr5_4800", "hbm2")


def equality_hash(n: int = 10_000) -> str:
    """sha256 over completion times and counters of 4 presets x 3 queue depths x 2 page policies x 2 schedulers
    x 3 queue structures, 2 channels, 30% writes, saturated and offered-load arrivals: equal hashes, same model."""
    import hashlib

    h = hashlib.sha256()
    for preset in HASH_PRESETS:
        for depth in (4, 16, 32):
            for policy in ("open", "closed"):
                for scheduler in ("frfcfs", "fcfs"):
                    for structure in ("shared", "per_rank", "per_bank"):
                        cfg = load_dram(preset, channels=2, queue_depth=depth, page_policy=policy,
                                        scheduler=scheduler, queue_structure=structure, command_queue_depth=8)
                        rng = np.random.default_rng(depth)
                        for kind in ("random", "gather-zipf", "sequential"):
                            addr = make_trace(kind, n, cfg.capacity_bytes, seed=depth)
                            w = rng.random(addr.size) < 0.3
                            for arr in (np.zeros(addr.size), np.sort(rng.random(addr.size)) * addr.size * 3.0):
                                res = Dram(cfg).simulate(arr, addr, w)
                                h.update(np.ascontiguousarray(res.completion_ns).tobytes())
                                for v in res.counters.per_bank.values():
                                    h.update(np.ascontiguousarray(v).tobytes())
                                h.update(np.ascontiguousarray(res.counters.bank_busy_ns).tobytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[250_000, 500_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    ap.add_argument("--fidelity", action="store_true", help="print the DRAM fidelity table instead")
    ap.add_argument("--ramulator1", action="store_true",
                    help="our side of the side-by-side table against Ramulator 1 (benchmarks/RESULTS.md)")
    ap.add_argument("--write-traces", type=Path, metavar="DIR",
                    help="with --ramulator1: also write its traces to DIR, one 'cycle 0xaddr R|W' line a request")
    ap.add_argument("--hash", action="store_true", help="print the equality hash instead (run it in both trees)")
    args = ap.parse_args()
    if args.hash:
        print(equality_hash())
        return
    if args.ramulator1:
        ramulator1_table(200_000, args.write_traces)
        return
    if args.fidelity:
        fidelity_table()
        return
    cfg = load_dram("DDR4-2400", channels=4)
    import accelsim.hw.dram as dram_module

    kernel_cpu = [0.0]
    before_seam = hasattr(dram_module, "run_channel")  # an older tree (side by side): no `kernel` argument yet
    default = dram_module.run_channel if before_seam else Dram(cfg)._kernel

    def timed_kernel(*a):
        c0 = time.process_time()
        out = default(*a)
        kernel_cpu[0] += time.process_time() - c0
        return out

    if before_seam:
        dram_module.run_channel = timed_kernel
    dram = Dram(cfg) if before_seam else Dram(cfg, kernel=timed_kernel)  # the kernel's own CPU time
    dram.simulate(np.zeros(64), np.arange(64) * 64, np.zeros(64, bool))  # JIT warm-up
    print(f"{cfg.standard} x {cfg.channels} channels, queue {cfg.queue_depth}, {cfg.scheduler}, "
          f"peak {cfg.peak_bandwidth_gbps:.1f} GB/s, kernel {getattr(default, '__module__', None) or 'built'}")
    print(f"{'trace':<16}{'requests':>10}{'wall s':>9}{'Mreq/s wall':>13}{'Mreq/s cpu':>12}{'kernel cpu':>12}"
          f"{'GB/s':>8}{'row hits':>10}")
    for kind in ("sequential", "random", "gather-uniform", "gather-zipf"):
        for n in args.sizes:
            addr = make_trace(kind, n, cfg.capacity_bytes)
            z, w = np.zeros(n), np.zeros(n, bool)
            wall, cpu, kcpu = np.inf, np.inf, np.inf
            for _ in range(args.repeat):
                t0, c0, kernel_cpu[0] = time.perf_counter(), time.process_time(), 0.0
                res = dram.simulate(z, addr, w)
                wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
                kcpu = min(kcpu, kernel_cpu[0])
            print(f"{kind:<16}{n:>10}{wall:>9.3f}{n / wall / 1e6:>13.2f}{n / cpu / 1e6:>12.2f}{n / kcpu / 1e6:>12.2f}"
                  f"{res.bandwidth_gbps:>8.1f}{res.counters.row_hit_rate:>10.3f}")


if __name__ == "__main__":
    main()
