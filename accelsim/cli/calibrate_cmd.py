"""`accelsim calibrate`: the CPU model's embedding time for this machine vs PyTorch EmbeddingBag measured here."""

from __future__ import annotations

import argparse
import json
import math
import sys

from accelsim.atomic import write_text_atomic
from accelsim.calibrate import (
    DEFAULT_FMA_UNITS,
    ZIPF_ALPHA,
    CalibrationRow,
    HostCpu,
    build_system,
    calibrate,
    detect_host,
    row_dict,
)
from accelsim.cli import add_force_flag, positive_int
from accelsim.config.base import to_yaml
from accelsim.config.system import SystemConfig
from accelsim.errors import InputError


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `calibrate` subcommand."""
    p = sub.add_parser("calibrate", help="CPU model's prediction for this machine vs a real EmbeddingBag timing")
    p.add_argument("--base", default="broadwell_cpu_only",
                   help="config giving what cannot be detected (DRAM, fill buffers, latencies, energy)")
    p.add_argument("--freq-ghz", type=_positive_float, help="core clock, if Linux does not report it")
    p.add_argument("--fma-units", type=positive_int, default=DEFAULT_FMA_UNITS,
                   help=f"FMA pipes per core (not detectable; default {DEFAULT_FMA_UNITS}, typical of AVX2/AVX-512 "
                        "server cores)")
    p.add_argument("--dram", metavar="PRESET", help="DRAM preset (default: the base config's DRAM)")
    p.add_argument("--channels", type=positive_int, help="DRAM channels (default: the base config's)")
    p.add_argument("--lfb", type=positive_int, help="line fill buffers per core (default: the base config's)")
    p.add_argument("--cache", action="append", default=[], metavar="NAME=SIZE[,WAYS]",
                   help="describe a cache level by hand, e.g. L3=32M,16 (when Linux reports an odd geometry)")
    p.add_argument("--rows", type=positive_int, default=1_000_000, help="table rows")
    p.add_argument("--dim", type=positive_int, default=64, help="embedding dimension (fp32)")
    p.add_argument("--lookups", type=positive_int, default=80, help="lookups per sample (bag size)")
    p.add_argument("--batch", type=positive_int, default=2048, help="samples per batch")
    p.add_argument("--repeats", type=positive_int, default=5, help="timed runs per kernel (best counts)")
    p.add_argument("--seed", type=int, default=0, help="trace and table seed")
    p.add_argument("--save-hw", metavar="FILE", help="write the detected machine as a hardware YAML")
    p.add_argument("--suggest", action="store_true",
                   help="also print the gather_cycles_per_lookup that would match the measurement (not applied)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_force_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Detect, build, measure, predict, print."""
    if args.seed < 0:
        raise InputError(f"--seed: expected a non-negative integer, got {args.seed}")
    host = detect_host()
    system = build_system(host, base=args.base, freq_ghz=args.freq_ghz, fma_units=args.fma_units, dram=args.dram,
                          channels=args.channels, lfb=args.lfb, cache_overrides=args.cache)
    if args.save_hw:
        write_text_atomic(args.save_hw, to_yaml(system), kind="hwconfig")
    note = None if args.json else (lambda msg: print(f"  ... {msg}", file=sys.stderr, flush=True))
    rows = calibrate(system, rows=args.rows, dim=args.dim, lookups=args.lookups, batch_size=args.batch,
                     repeats=args.repeats, seed=args.seed, progress=note)
    if args.json:
        print(json.dumps({"machine": _machine_dict(host, system), "workload": _workload_dict(args),
                          "saved_hw": args.save_hw, "rows": [row_dict(r) for r in rows]}))
        return 0
    _print_text(host, system, args, rows)
    return 0


def _machine_dict(host: HostCpu, s: SystemConfig) -> dict:
    c = s.cpu
    return {"model_name": host.model_name, "hw": s.name, "cores": c.cores, "freq_ghz": c.freq_ghz,
            "simd_fp32_lanes": c.simd_fp32_lanes, "fma_units_per_core": c.fma_units_per_core,
            "line_fill_buffers_per_core": c.line_fill_buffers_per_core,
            "gather_cycles_per_lookup": c.gather_cycles_per_lookup, "op_overhead_ns": c.op_overhead_ns,
            "caches": [{"name": x.name, "size_bytes": x.size_bytes, "ways": x.ways, "line_bytes": x.line_bytes,
                        "hit_latency_ns": x.hit_latency_ns} for x in c.caches],
            "private_cache_levels": c.private_cache_levels,
            "dram_standard": s.dram.standard, "dram_channels": s.dram.channels,
            "dram_peak_gbps": s.dram.peak_bandwidth_gbps}


def _workload_dict(args: argparse.Namespace) -> dict:
    return {"tables": 1, "rows": args.rows, "dim": args.dim, "dtype": "fp32", "lookups_per_sample": args.lookups,
            "batch_size": args.batch, "repeats": args.repeats, "seed": args.seed, "zipf_alpha": ZIPF_ALPHA}


def _size(n: int) -> str:
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


def _print_text(host: HostCpu, s: SystemConfig, args: argparse.Namespace, rows: list[CalibrationRow]) -> None:
    c = s.cpu
    caches = ", ".join(f"{x.name} {_size(x.size_bytes)}/{x.ways}w" for x in c.caches)
    print(f"machine   {host.model_name}: {c.cores} cores @ {c.freq_ghz:.2f} GHz, {c.simd_fp32_lanes} FP32 lanes x "
          f"{c.fma_units_per_core} FMA; {caches} (last shared)")
    print(f"assumed   {s.dram.standard} x {s.dram.channels} ch ({s.dram.peak_bandwidth_gbps:.1f} GB/s), "
          f"{c.line_fill_buffers_per_core} fill buffers/core, gather {c.gather_cycles_per_lookup:g} cycles/lookup, "
          f"op overhead {c.op_overhead_ns / 1e3:g} us  (from --base {args.base} / CLI; see `sources:`)")
    print(f"workload  1 table {args.rows:,} x {args.dim} fp32, {args.lookups} lookups/sample, batch {args.batch}; "
          f"best of {args.repeats} after warm-up; {rows[0].measured.threads} threads")
    if args.save_hw:
        print(f"saved     {args.save_hw}  (accelsim run --hw {args.save_hw} ...)")
    head = (f"{'dist':8} {'lookups':>8} {'torch ms':>9} {'numba ms':>9} {'detailed ms':>12} {'analytic ms':>12} "
            f"{'overhead ms':>12} {'detailed/torch':>15} {'analytic/torch':>15}")
    print(head)
    print("-" * len(head))
    for r in rows:
        d = row_dict(r)
        print(f"{r.dist:8} {r.lookups:>8,} {d['measured_torch_ms']:>9.3f} {d['measured_numba_ms']:>9.3f} "
              f"{d['predicted_detailed_ms']:>12.3f} {d['predicted_analytic_ms']:>12.3f} {d['op_overhead_ms']:>12.3f} "
              f"{d['detailed_to_torch_ratio']:>15.2f} {d['analytic_to_torch_ratio']:>15.2f}")
    print("predicted = embedding stage of the batch replayed after itself (warm caches, like the timed runs); "
          "it includes the overhead column (op_overhead_ns per table). Nothing is fitted.")
    if args.suggest:
        for r in rows:
            g = r.suggested_gather_cycles
            bound_ms = r.bound.time_ns / 1e6
            what = (f"gather_cycles_per_lookup = {g:.1f} would make the compute-bound part match torch"
                    if g is not None else "no positive gather_cycles_per_lookup matches torch (measured time is "
                                          "below the SIMD adds + dispatch alone)")
            memory_ns = r.predicted["detailed"].warm_ns - r.op_overhead_ns
            memory_bound = memory_ns > 1.01 * r.bound.time_ns
            if memory_bound and memory_ns > r.measured.torch_ns - r.op_overhead_ns:
                limit = (f"; but the model is memory-bound at {memory_ns / 1e6:.3f} ms, above the measurement, "
                         "so no value matches")
            elif memory_bound:
                limit = ("; the prediction is memory-bound here, so this value would put a memory-side gap into a "
                         "per-lookup core constant")
            else:
                limit = ""
            print(f"suggest   {r.dist}: {what} (now {c.gather_cycles_per_lookup:g}; compute-bound part "
                  f"{bound_ms:.3f} ms for the busiest core's {r.bound.max_lookups_per_core:,} lookups){limit}; "
                  "not applied")
