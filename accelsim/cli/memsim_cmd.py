"""`accelsim memsim`: replay a memory trace on a DRAM preset and report bandwidth, latency and DRAM statistics.

Text traces, one request per line (blank lines and `#` comments are allowed):
  DRAMsim3   `0x<hex address> READ|WRITE <cycle>`: the cycle counts DRAM clock cycles (tCK of the chosen DRAM):
             DRAMsim3's trace driver (src/cpu.cc TraceBasedCPU) issues a line once its clock reaches the line's
             time, and src/main.cc ticks that driver in step with the memory system, one tick per tCK.
  Ramulator  `0x<hex address> R|W`: no time stamp; the driver offers one request per memory cycle and waits
             while the controller's queue is full, as Ramulator's memory-trace mode does (the line's index is
             its earliest cycle).
A file holds one of the two. Time stamps must not go backwards. A binary trace (`--save-binary` writes one)
starts with the 8 bytes `ASIMTRC1` followed by records of little-endian int64 cycle, int64 address and one byte
is-write; it is read without parsing. The detailed model streams the trace in chunks, so memory stays flat as
the trace grows; `--fidelity analytic` reads it whole. The first run compiles the DRAM and trace kernels ahead
of time (accelsim.kernels.aot, ~30 s once); later runs load them without numba.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from accelsim.errors import InputError

FIDELITIES = ("detailed", "analytic")
CHUNK_BYTES = 1 << 20  # 1 MB of trace at a time: ~40k text lines or 60k binary records
BINARY_MAGIC = b"ASIMTRC1"
BINARY_RECORD = np.dtype([("cycle", "<i8"), ("addr", "<i8"), ("write", "u1")])
_PROBLEMS = {
    1: "expected '0x<hex address> READ|WRITE <cycle>' (DRAMsim3) or '0x<hex address> R|W' (Ramulator)",
    2: "address must be 0x followed by 1 to 15 hex digits",
    3: "operation must be READ or WRITE (DRAMsim3) or R or W (Ramulator)",
    4: "cycle must be a non-negative decimal integer below 10^18",
    5: "time stamp goes backwards (earlier than the line before)",
    6: "a file holds DRAMsim3 lines (with a cycle) or Ramulator lines (without), not both",
}


def _text_chunks(path: Path, f):
    from accelsim.kernels import aot

    parse_lines = aot.kernel("parse_lines")
    st = np.zeros(3, np.int64)
    line0 = 0
    rest = b""
    while True:
        block = f.read(CHUNK_BYTES)
        data = rest + block
        if not data:
            return
        cut = data.rfind(b"\n") + 1 if block else len(data)
        if cut == 0:
            rest = data
            continue
        buf = np.frombuffer(data, np.uint8, count=cut)
        lines = int(np.count_nonzero(buf == 10)) + 1
        addr, is_write, cyc = np.empty(lines, np.int64), np.empty(lines, np.bool_), np.empty(lines, np.int64)
        k, problem, bad = parse_lines(buf, addr, is_write, cyc, st)
        if problem:
            text = data[:cut].split(b"\n")[bad].decode("utf-8", "replace").strip()
            raise InputError(f"line {line0 + bad + 1}: {_PROBLEMS[problem]}, got {text[:80]!r}", source=str(path))
        yield addr[:k], is_write[:k], cyc[:k]
        line0 += data.count(b"\n", 0, cut)
        rest = data[cut:]
        if not block:
            return


def _binary_chunks(path: Path, f):
    size = os.fstat(f.fileno()).st_size - len(BINARY_MAGIC)
    if size % BINARY_RECORD.itemsize:
        raise InputError(f"binary trace: {size} bytes after the header is not a whole number of "
                         f"{BINARY_RECORD.itemsize}-byte records", source=str(path))
    n = size // BINARY_RECORD.itemsize
    per = max(1, CHUNK_BYTES // BINARY_RECORD.itemsize)
    prev = 0
    for r0 in range(0, n, per):
        rec = np.fromfile(f, BINARY_RECORD, count=min(per, n - r0))
        cyc, addr, w = rec["cycle"].copy(), rec["addr"].copy(), rec["write"]
        bad = np.flatnonzero((cyc < 0) | (addr < 0) | (w > 1))
        back = np.flatnonzero(np.diff(cyc, prepend=prev) < 0)
        if bad.size or back.size:
            i = int(min(bad.min() if bad.size else n, back.min() if back.size else n))
            what = "time stamp goes backwards" if back.size and i == back.min() else \
                "cycle and address must be non-negative and is-write 0 or 1"
            raise InputError(f"record {r0 + i + 1}: {what}", source=str(path))
        prev = int(cyc[-1])
        yield addr, w.astype(np.bool_), cyc


def trace_chunks(path: str | Path):
    """(addr int64, is_write bool, cycle int64) of a trace, chunk by chunk in file order."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", source=str(path)) from None
    except ValueError as err:  # a NUL in the path
        raise InputError(f"cannot read: {err}", source=repr(str(path))) from None
    with f:
        binary = f.read(len(BINARY_MAGIC)) == BINARY_MAGIC
        if not binary:
            f.seek(0)
        yield from (_binary_chunks(path, f) if binary else _text_chunks(path, f))


def read_trace(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(addr int64, is_write bool, cycle int64) of a whole trace."""
    parts = list(trace_chunks(path))
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.bool_), np.empty(0, np.int64)
    return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]


def write_binary(path: str | Path, chunks) -> None:
    """Write chunks of (addr, is_write, cycle) as a binary trace, atomically; an existing file is refused."""
    path = Path(path)
    if path.exists():
        raise InputError("exists; not overwritten (choose a new name)", source=str(path))
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # as every other output path: its folders are made
        out = open(tmp, "wb")
    except OSError as err:
        raise InputError(f"cannot write: {err.strerror or err}", source=str(path)) from None
    try:
        with out:
            out.write(BINARY_MAGIC)
            for addr, w, cyc in chunks:
                rec = np.empty(addr.size, BINARY_RECORD)
                rec["cycle"], rec["addr"], rec["write"] = cyc, addr, w
                rec.tofile(out)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_memsim_dram(args: argparse.Namespace):
    """The DRAM config of the command line: a preset, a YAML file or a DRAMsim3 .ini, with overrides."""
    from accelsim.config.dram import load_dram
    return load_dram(args.dram, channels=args.channels, ranks=args.ranks, address_mapping=args.mapping,
                     page_policy=args.page_policy, queue_depth=args.queue_depth)


def run_memsim(args: argparse.Namespace) -> dict:
    """Simulate the trace and return the report (units in the keys)."""
    from accelsim.hw import dram_replay
    from accelsim.kernels import aot

    cfg = load_memsim_dram(args)
    if args.epoch_ns is not None and not (math.isfinite(args.epoch_ns) and args.epoch_ns > 0):
        raise InputError(f"--epoch-ns: expected a positive number of ns, got {args.epoch_ns}")
    if args.epoch_ns is not None and args.epoch_ns > 2**48:  # its cycle count must fit a 64-bit integer
        raise InputError(f"--epoch-ns: {args.epoch_ns:g} ns is longer than any run (limit 2^48 ns)")
    aot.ensure()  # the kernels without numba's start-up (~0.7 s a process): built on the first run
    t0 = time.perf_counter()
    if args.save_binary:
        write_binary(args.save_binary, trace_chunks(args.trace))
    if args.fidelity == "detailed":
        replay = dram_replay.StreamReplay(cfg, args.epoch_ns)
        for addr, is_write, cyc in trace_chunks(args.trace):
            replay.feed(cyc, addr, is_write)
        stats, counters = replay.finish(), replay.counters()
    else:
        from accelsim.hw.host_memory import make_dram
        addr, is_write, cyc = read_trace(args.trace)
        res = make_dram(cfg, args.fidelity).simulate(cyc * cfg.tck_ns, addr, is_write)
        stats, counters = dram_replay.stats_of_result(cfg, res, args.epoch_ns), dram_replay.counters_of_result(res)
    if stats.reads + stats.writes == 0:
        raise InputError("no requests in trace", source=str(args.trace))
    report = dram_replay.report(cfg, stats, counters)
    return {**report, "fidelity": args.fidelity, "wall_time_s": time.perf_counter() - t0}


def _json_safe(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def _cmd(args: argparse.Namespace) -> int:
    report = run_memsim(args)
    if args.json:
        print(json.dumps(_json_safe(report)))
        return 0
    r = report
    print(f"{r['dram']} x {r['channels']} channel(s), {r['fidelity']} model")
    print(f"requests        {r['requests']} ({r['reads']} reads, {r['writes']} writes)")
    print(f"simulated time  {r['sim_time_ns']:.1f} ns")
    print(f"bandwidth       {r['bandwidth_gbps']:.2f} GB/s (peak {r['peak_bandwidth_gbps']:.2f} GB/s)")
    print(f"read latency    avg {r['read_latency_avg_ns']:.1f} ns, p50 {r['read_latency_p50_ns']:.1f} ns, "
          f"p99 {r['read_latency_p99_ns']:.1f} ns")
    print(f"row-hit rate    {r['row_hit_rate']:.3f}")
    print(f"activates       {r['activates']}, refreshes {r['refreshes']}")
    hist = r["read_latency_histogram"]
    print("read latency histogram (ns): " + ", ".join(
        f"{lo:g}+: {c}" for lo, c in zip(hist["bucket_low_ns"], hist["counts"]) if c))
    print(f"wall time       {r['wall_time_s']:.3f} s")
    return 0


def register(sub) -> None:
    """Add `memsim`."""
    p = sub.add_parser("memsim", help="replay a DRAMsim3 or Ramulator memory trace on a DRAM preset",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dram", required=True,
                   help="preset (DDR4-2400, ddr5_4800, ddr5_6400, hbm2, ...), a YAML file or a DRAMsim3 .ini file")
    p.add_argument("--channels", type=int, help="override the preset's channel count")
    p.add_argument("--ranks", type=int, help="override ranks per channel")
    p.add_argument("--mapping", help="address mapping, MSB first, e.g. ro-ba-ra-co-bg-ch")
    p.add_argument("--page-policy", choices=["open", "closed"])
    p.add_argument("--queue-depth", type=int, help="read queue entries per channel")
    p.add_argument("--fidelity", choices=FIDELITIES, default="detailed")
    p.add_argument("--trace", required=True,
                   help="'0x<hex> READ|WRITE <cycle>' (DRAMsim3) or '0x<hex> R|W' (Ramulator) lines, or binary")
    p.add_argument("--epoch-ns", type=float,
                   help="also report statistics per epoch of this many ns (rounded to whole DRAM cycles)")
    p.add_argument("--save-binary", help="also write the trace in the binary format to this new file")
    p.add_argument("--json", action="store_true", help="print one JSON object (per-channel and per-bank "
                                                        "statistics, latency histogram, epochs)")
    p.set_defaults(func=_cmd)
