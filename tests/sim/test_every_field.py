"""Every field of a hardware config changes some result of a simulated run (a model that ignores a field is a defect).

A field counts as having an effect when some perturbation of it changes a summary number in either fidelity or
under either mapping, or when a perturbation is rejected with an InputError (a checked constraint such as one
cache level's line size, which must match the others, or tables that no longer fit in DRAM).

Not covered here, and why: DRAM command constraints are rows of data read by the DRAM engine, and the write
timings (tWR, tWTR_S, tWTR_L) act only when a write is followed by a read or a precharge of the same bank,
which inference traffic never issues; tests/hw/test_dram.py shows each of them changing DRAM results. The dual
command bus (a row and a column command in one cycle) matters where ACTs crowd the command bus, as on HBM's
pseudo-channels, not on this DDR4 run; tests/hw/test_dram_mechanisms.py shows it changing HBM2 results. The bank
refresh timings (tRFCsb, tREFIsb) act only with bank refresh, which DDR4 does not have, and the write queue's
depth only when writes queue up behind it, which these runs' DRAM traffic does not make, and per-rank or
per-bank command queues (queue_structure, command_queue_depth) only when the requests waiting for a rank
outgrow its command queue, which these runs' traffic does not make (per_rank leaves their summaries unchanged);
tests/hw/test_dram_mechanisms.py and tests/hw/test_dram.py show them changing results. A
replacement policy (and SRRIP's rrpv_bits) only matters when reused lines conflict in a set, which these
small traces do not provoke; tests/hw/test_cache.py shows each changing hit counts against a reference.
"""

import copy

import pytest

from accelsim.errors import InputError
from accelsim.sim.api import resolve_point, run_point

WORKLOAD = {"name": "big", "source": "test", "embedding_dim": 32, "interaction": "dot",
            "tables": [{"rows": 2_000_000, "lookups_per_sample": 24, "count": 3}],
            "bottom_mlp": [13, 64, 32], "top_mlp": [64, 1]}
LABELS = {"name", "description", "sources", "standard", "constraints", "tWR", "tWTR_S", "tWTR_L", "policy",
          "rrpv_bits", "tRFCsb", "tREFIsb", "write_queue_depth", "dual_command_bus", "command_queue_depth",
          "queue_structure"}  # see the docstring
TRACE = {"dist": "zipf", "alpha": 1.2, "reuse": 0.5}  # reuse across the two batches, so caches matter
ALTERNATIVES = {"policy": "srrip", "dataflow": "ws", "page_policy": "closed", "scheduler": "fcfs",
                "steering": "round_robin", "hot_cache_kind": "scratchpad", "precision": "fp16",
                "address_mapping": "ro-ra-bg-ba-co-ch", "refresh": "per_bank", "refresh_ranks": "simultaneous",
                "embedding_tables": "concurrent"}


def base_hw() -> dict:
    hw = resolve_point(dict(hw="harpv2_centaur", workload=WORKLOAD, mapping="centaur", batch_size=8))["hw"]
    # Make every optional mechanism active and every resource matter at this small scale: a small on-chip
    # hot-row cache, caches comparable to the working set, and a coherent-first steering whose preferred
    # (coherent) channel is the slow one, with few credits, so that it spills onto the others.
    hw["accelerator"]["sparse_engine"]["hot_cache_bytes"] = 4096
    hw["accelerator"]["sparse_engine"]["hot_cache_kind"] = "cache"
    hw["links"]["steering"] = "coherent_first"
    hw["links"]["channels"][0]["max_outstanding"] = 16
    hw["links"]["channels"][0]["bandwidth_gbps"] = 4.0
    hw["cpu"]["caches"][1]["size_bytes"] = 16384
    hw["cpu"]["caches"][2]["size_bytes"] = 65536
    hw["cpu"]["caches"][2]["ways"] = 16
    hw["cpu"]["gemm_efficiency_table"] = [{"m": 1, "k": 64, "n": 64, "efficiency": 0.3},
                                          {"m": 64, "k": 64, "n": 64, "efficiency": 0.6}]
    hw["cpu"]["software"].update(embedding_threads=4, gemm_threads=4, parallel_region_ns=3000.0,
                                   gemm_parallel_min_flops=20_000)  # numbers, so that they can be perturbed
    hw["dram"]["address_mapping"] = "ro-ba-ra-bg-ch-co"  # a row's lines share a DRAM row: FR-FCFS has hits to favour
    # The per-core read interfaces and the walk table, set so that they bind at this scale.
    hw["cpu"]["caches"][1]["core_read_gbps"] = 8.0
    hw["cpu"]["caches"][2]["core_read_gbps"] = 4.0
    hw["cpu"]["memory_core_read_gbps"] = 6.0
    hw["cpu"]["gather_cycles_per_bag"] = 40.0
    hw["cpu"]["tlb"]["page_walk_ns"] = None
    hw["cpu"]["tlb"]["page_walk_table"] = [{"ws_bytes": 1 << 20, "walk_ns": 20.0},
                                           {"ws_bytes": 1 << 30, "walk_ns": 200.0}]
    hw["cpu"]["tlb"]["page_walk_interval_table"] = [{"ws_bytes": 1 << 20, "interval_ns": 30.0},
                                                    {"ws_bytes": 1 << 30, "interval_ns": 90.0}]
    hw["cpu"]["tlb"].update(first_level_entries=16, first_level_miss_ns=5.0)  # a first level, so it can be perturbed
    return hw


def leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            if k not in LABELS:
                yield from leaves(v, path + (k,))
    elif isinstance(node, list) and node and not all(isinstance(x, (int, float)) for x in node):
        for i, v in enumerate(node):
            yield from leaves(v, path + (i,))
    else:
        yield path, node


def perturbed(value, key):
    if value is None:  # an optional number left unset (a first level's core_read_gbps: setting it is refused)
        return [1.0]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, (int, float)):
        return [value * 2, value // 2 if isinstance(value, int) else value / 2, value + 1, value * 16, value * 1000,
                max(1, value // 1000) if isinstance(value, int) else value / 1000]
    if isinstance(value, str):
        return [ALTERNATIVES[key]] if key in ALTERNATIVES else []
    if isinstance(value, list):
        return [[x * 2 for x in value], value[:1] if len(value) > 1 else value * 2]
    return []


def signature(hw: dict, fidelity: str):
    out = []
    for mapping in ("cpu_only", "centaur"):
        point = resolve_point(dict(hw=hw, workload=WORKLOAD, mapping=mapping, batch_size=8, batches=2,
                                   fidelity=fidelity, functional=False, trace=TRACE))
        s = run_point(point).summary
        out.append(tuple(sorted((k, v) for k, v in s.items() if isinstance(v, float))))
    return tuple(out)


BASE = base_hw()
FIELDS = [p for p, _ in leaves(BASE)]


@pytest.mark.parametrize("path", FIELDS, ids=[".".join(map(str, p)) for p in FIELDS])
def test_field_changes_a_result(path):
    value = BASE
    for k in path:
        value = value[k]
    candidates = perturbed(value, path[-1])
    assert candidates, f"no perturbation known for {path} = {value!r}"
    base = {f: signature(BASE, f) for f in ("analytic", "detailed")}
    for new in candidates:
        hw = copy.deepcopy(BASE)
        node = hw
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = new
        try:
            for fidelity in ("analytic", "detailed"):
                if signature(hw, fidelity) != base[fidelity]:
                    return
        except InputError:
            return  # the value is rejected by a check that reads the field: a visible effect
    pytest.fail(f"{'.'.join(map(str, path))}: no result changed for any of {candidates}")


# Workload table fields (per-table layout and compression): each perturbation changes some result.
TABLE_FIELD_CHANGES = {
    "dim": {"dim": 16},  # with interaction cat: narrower rows and a narrower top input
    "dtype": {"dtype": "int8"},
    "dtype_int4": {"dtype": "int4"},
    "pooling": {"pooling": "max"},
    "shared_with": "shared",
    "compression.md.dims": {"compression": {"scheme": "md", "dims": [8]}},
    "compression.md.block_rows": {"compression": {"scheme": "md", "dims": [16, 4],
                                                  "block_rows": [1_000_000, 1_000_000]}},
    "compression.qr.collisions": {"compression": {"scheme": "qr", "collisions": 1000}},
    "compression.qr.operation": {"compression": {"scheme": "qr", "collisions": 1000, "operation": "concat"}},
    "compression.hash.hashes": {"compression": {"scheme": "hash", "hashes": 3, "hash_rows": 100_000}},
    "compression.hash.combine": {"compression": {"scheme": "hash", "hashes": 2, "hash_rows": 100_000,
                                                 "combine": "concat"}},
    "compression.tt": {"compression": {"scheme": "tt", "row_factors": [200, 100, 100], "dim_factors": [2, 4, 4],
                                       "ranks": [4, 4]}},
    "compression.lowrank.rank": {"compression": {"scheme": "lowrank", "rank": 4}},
}


def _workload_signature(workload: dict, mapping: str) -> tuple:
    # pooling changes what is computed, not its cost: the functional model shows it (ctr_mean)
    functional = all(not {"compression", "dim", "dtype", "shared_with"} & set(t) for t in workload["tables"])
    point = resolve_point(dict(hw="harpv2_centaur", workload=workload, mapping=mapping, batch_size=8,
                               fidelity="analytic", functional=functional, trace=TRACE))
    s = run_point(point).summary
    return tuple(sorted((k, v) for k, v in s.items() if isinstance(v, float)))


@pytest.mark.parametrize("field", TABLE_FIELD_CHANGES)
def test_table_field_changes_a_result(field):
    base = {**copy.deepcopy(WORKLOAD), "interaction": "cat"}
    new = copy.deepcopy(base)
    change = TABLE_FIELD_CHANGES[field]
    if change == "shared":  # three features reading one table instead of three tables
        new["tables"] = [{"rows": 2_000_000, "lookups_per_sample": 24, "name": "t"},
                         {"lookups_per_sample": 24, "count": 2, "shared_with": "t"}]
    else:
        new["tables"][0].update(change)
    assert any(_workload_signature(base, m) != _workload_signature(new, m) for m in ("cpu_only", "centaur")), field
