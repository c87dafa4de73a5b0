"""`accelsim memsim`: replay a DRAMsim3-format trace on a DRAM preset and report bandwidth and latency.

Trace lines are `0x<hex address> READ|WRITE <cycle>`; blank lines and `#` comments are allowed. The cycle
counts DRAM clock cycles (tCK of the chosen preset): DRAMsim3's trace driver (src/cpu.cc TraceBasedCPU) issues
a line once its clock reaches the line's time, and src/main.cc ticks that driver in step with the memory
system, one tick per tCK.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from accelsim.errors import InputError
from accelsim.kernels.lazy_jit import njit  # numba binds on first call: `accelsim --help` stays fast

FIDELITIES = ("detailed", "analytic")
CHUNK_BYTES = 1 << 24
_PROBLEMS = {
    1: "expected 3 fields '0x<hex address> READ|WRITE <cycle>'",
    2: "address must be 0x followed by 1 to 15 hex digits",
    3: "operation must be READ or WRITE",
    4: "cycle must be a non-negative decimal integer below 10^18",
}


@njit(cache=True)
def _hex_digit(c):
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


@njit(cache=True)
def _parse_lines(buf, addr, is_write, cycle):
    """Parse whole lines of `buf`; returns (records, problem code, index of the bad line in buf)."""
    n = buf.size
    k = 0
    line = 0
    i = 0
    starts = np.empty(4, np.int64)
    ends = np.empty(4, np.int64)
    while i < n:
        ntok = 0
        j = i
        while j < n and buf[j] != 10 and buf[j] != 35:  # newline, '#'
            if buf[j] == 32 or buf[j] == 9 or buf[j] == 13:
                j += 1
                continue
            s = j
            while j < n and buf[j] != 10 and buf[j] != 35 and buf[j] != 32 and buf[j] != 9 and buf[j] != 13:
                j += 1
            if ntok < 4:
                starts[ntok] = s
                ends[ntok] = j
            ntok += 1
        while j < n and buf[j] != 10:
            j += 1
        if ntok != 0:
            if ntok != 3:
                return k, 1, line
            s, e = starts[0], ends[0]
            if e - s < 3 or e - s > 17 or buf[s] != 48 or (buf[s + 1] != 120 and buf[s + 1] != 88):
                return k, 2, line
            v = np.int64(0)
            for p in range(s + 2, e):
                d = _hex_digit(buf[p])
                if d < 0:
                    return k, 2, line
                v = v * 16 + d
            addr[k] = v
            s, e = starts[1], ends[1]
            word = 0
            for p in range(s, min(e, s + 6)):
                word = word * 256 + (buf[p] & 0xDF)  # upper-case letters
            if e - s == 4 and word == 0x52454144:  # READ
                is_write[k] = False
            elif e - s == 5 and word == 0x5752495445:  # WRITE
                is_write[k] = True
            else:
                return k, 3, line
            s, e = starts[2], ends[2]
            if e - s > 18:
                return k, 4, line
            c = np.int64(0)
            for p in range(s, e):
                d = buf[p] - 48
                if d < 0 or d > 9:
                    return k, 4, line
                c = c * 10 + d
            cycle[k] = c
            k += 1
        line += 1
        i = j + 1
    return k, 0, line


def read_trace(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(addr int64, is_write bool, cycle int64) of a DRAMsim3 trace, parsed in chunks of whole lines."""
    path = Path(path)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    line0 = 0
    try:
        f = open(path, "rb")
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", source=str(path)) from None
    with f:
        rest = b""
        while True:
            block = f.read(CHUNK_BYTES)
            data = rest + block
            if not data:
                break
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:
                rest = data
                continue
            buf = np.frombuffer(data, np.uint8, count=cut)
            lines = int(np.count_nonzero(buf == 10)) + 1
            addr, is_write, cyc = np.empty(lines, np.int64), np.empty(lines, np.bool_), np.empty(lines, np.int64)
            k, problem, bad = _parse_lines(buf, addr, is_write, cyc)
            if problem:
                text = data[:cut].split(b"\n")[bad].decode("utf-8", "replace").strip()
                raise InputError(f"line {line0 + bad + 1}: {_PROBLEMS[problem]}, got {text[:80]!r}", source=str(path))
            parts.append((addr[:k], is_write[:k], cyc[:k]))
            line0 += data.count(b"\n", 0, cut)
            rest = data[cut:]
            if not block:
                break
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.bool_), np.empty(0, np.int64)
    return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]


def run_memsim(args: argparse.Namespace) -> dict:
    """Simulate the trace and return the report (units in the keys)."""
    from accelsim.config.dram import load_dram
    from accelsim.hw.host_memory import make_dram

    cfg = load_dram(args.dram, channels=args.channels, ranks=args.ranks, address_mapping=args.mapping,
                    page_policy=args.page_policy, queue_depth=args.queue_depth)
    addr, is_write, cyc = read_trace(args.trace)
    if addr.size == 0:
        raise InputError("no requests in trace", source=str(args.trace))
    model = make_dram(cfg, args.fidelity)
    t0 = time.perf_counter()
    res = model.simulate(cyc * cfg.tck_ns, addr, is_write)
    wall_s = time.perf_counter() - t0
    k = res.counters
    return {"dram": cfg.standard, "channels": cfg.channels, "fidelity": args.fidelity, "requests": k.requests,
            "reads": k.reads, "writes": k.writes, "sim_time_ns": k.sim_time_ns,
            "bandwidth_gbps": res.bandwidth_gbps, "peak_bandwidth_gbps": cfg.peak_bandwidth_gbps,
            **res.read_latency_stats(), "row_hit_rate": k.row_hit_rate, "activates": k.activates,
            "refreshes": k.refreshes, "wall_time_s": wall_s}


def _cmd(args: argparse.Namespace) -> int:
    report = run_memsim(args)
    if args.json:
        print(json.dumps({key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in report.items()}))
        return 0
    r = report
    print(f"{r['dram']} x {r['channels']} channel(s), {r['fidelity']} model")
    print(f"requests        {r['requests']} ({r['reads']} reads, {r['writes']} writes)")
    print(f"simulated time  {r['sim_time_ns']:.1f} ns")
    print(f"bandwidth       {r['bandwidth_gbps']:.2f} GB/s (peak {r['peak_bandwidth_gbps']:.2f} GB/s)")
    print(f"read latency    avg {r['read_latency_avg_ns']:.1f} ns, p50 {r['read_latency_p50_ns']:.1f} ns, "
          f"p99 {r['read_latency_p99_ns']:.1f} ns")
    print(f"row-hit rate    {r['row_hit_rate']:.3f}")
    print(f"wall time       {r['wall_time_s']:.3f} s")
    return 0


def register(sub) -> None:
    """Add `memsim`."""
    p = sub.add_parser("memsim", help="replay a DRAMsim3-format trace on a DRAM preset",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dram", required=True, help="preset (DDR4-2400, ddr5_4800, hbm2, ...) or YAML path")
    p.add_argument("--channels", type=int, help="override the preset's channel count")
    p.add_argument("--ranks", type=int, help="override ranks per channel")
    p.add_argument("--mapping", help="address mapping, MSB first, e.g. ro-ba-ra-co-bg-ch")
    p.add_argument("--page-policy", choices=["open", "closed"])
    p.add_argument("--queue-depth", type=int, help="request queue entries per channel")
    p.add_argument("--fidelity", choices=FIDELITIES, default="detailed")
    p.add_argument("--trace", required=True, help="DRAMsim3 trace: '0x<hex> READ|WRITE <cycle>' per line")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd)
