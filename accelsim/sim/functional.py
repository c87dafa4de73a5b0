"""The functional model: the real outputs (pooled embeddings, CTR) of the simulated inputs, from the reference kernels.

With a model's own weights (captured with the trace, or a torch file) and the dense inputs captured with the
trace, the outputs are that model's, and `captured_ctr` holds what the model itself returned. Each table is
then pooled by accelsim.kernels.compressed as the spec describes it (its own dim, dtype, pooling and
compression: qr, md, hash, tt, low rank; int8 / int4 rows dequantised as read), so a captured model with
compressed, quantised or mixed-dim tables replays too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.kernels import reference
from accelsim.kernels.compressed import compressed_bag
from accelsim.workload.trace import TRACE_WEIGHTS, Batch, check_against_spec, open_trace, stored_spec
from accelsim.workload.weights import DlrmParams, ModelWeights, dense_inputs, load_weights


def _dense(spec: ModelSpec, batch: Batch, seed: int, b: int) -> np.ndarray:
    if batch.dense is None:
        return dense_inputs(spec, batch.batch_size, seed, b)
    if batch.dense.shape[1] != spec.dense_features:
        raise InputError(f"batch {b}: captured dense inputs have {batch.dense.shape[1]} features, workload "
                         f"{spec.name} has {spec.dense_features}")
    return batch.dense


def functional_pass(spec: ModelSpec, batches: Sequence[Batch], seed: int,
                    weights: ModelWeights | None = None) -> list[reference.DlrmOutputs]:
    """Every intermediate (pooled embeddings, interaction, CTR) of every batch, from the reference kernels.

    Without `weights` the parameters are generated from (spec, seed), for uncompressed tables of the model's
    dim and dtype; captured dense inputs are used when the batches carry them.
    """
    if weights is None:
        plain = [t for t in spec.table_list if t.compression is None and t.dim == spec.embedding_dim
                 and t.dtype == spec.dtype]
        if len(plain) != spec.num_tables:
            # generated rows are drawn at the model's dim and dtype; a model's own weights cover every table
            raise InputError(f"workload {spec.name!r}: the functional model with generated weights covers "
                             "uncompressed tables of the model's dim and dtype only; compressed, mixed-dim or "
                             "per-table dtype tables need the model's weights (capture --with-weights), or run "
                             "without the functional model (functional: false, run --no-functional)")
        params = DlrmParams.from_spec(spec, seed)
        poolings = [t.pooling for t in spec.table_list]
        return [reference.dlrm_forward(params, _dense(spec, batch, seed, b), batch, poolings)
                for b, batch in enumerate(batches)]
    return [reference.dense_forward(weights, _dense(spec, batch, seed, b), _pooled(spec, weights, batch, b))
            for b, batch in enumerate(batches)]


def _pooled(spec: ModelSpec, weights: ModelWeights, batch: Batch, b: int) -> np.ndarray | tuple[np.ndarray, ...]:
    """Every table of one batch pooled with the model's weights: (T, B, d), or T arrays (B, d_t) of mixed dims."""
    if len(batch.tables) != spec.num_tables:
        raise InputError(f"batch {b} has {len(batch.tables)} tables, workload {spec.name} {spec.num_tables}")
    pooled = []
    for t, (table, bags) in enumerate(zip(spec.table_list, batch.tables)):
        if bags.batch_size != batch.tables[0].batch_size:
            raise InputError(f"batch {b}, table {t}: {bags.batch_size} bags, table 0 has {batch.tables[0].batch_size}")
        pooled.append(compressed_bag(table, weights.table(t), bags.indices, bags.offsets, bags.weights))
    return np.stack(pooled) if len({p.shape[1] for p in pooled}) == 1 else tuple(pooled)


def functional_outputs(spec: ModelSpec, batches: Sequence[Batch], seed: int,
                       weights: ModelWeights | None = None) -> pd.DataFrame:
    """CTR of every sample (batch, sample, ctr[, captured_ctr]): the model's predictions on the simulated inputs.

    `captured_ctr` is present when every batch carries the outputs the captured model returned.
    """
    frames = []
    captured = bool(batches) and all(b.outputs is not None for b in batches)
    for b, (batch, out) in enumerate(zip(batches, functional_pass(spec, batches, seed, weights))):
        frame = {"batch": b, "sample": np.arange(out.ctr.size), "ctr": out.ctr}
        if captured:
            frame["captured_ctr"] = np.asarray(batch.outputs, dtype=np.float32)
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["batch", "sample", "ctr"])


def max_output_difference(outputs: pd.DataFrame) -> float | None:
    """Largest |ctr - captured_ctr| over all samples, or None when the model's own outputs were not captured."""
    if "captured_ctr" not in outputs or not len(outputs):
        return None
    return float(np.max(np.abs(outputs["ctr"].to_numpy(np.float64) - outputs["captured_ctr"].to_numpy(np.float64))))


def weights_for_trace(path: str | Path, weights: str | Path | None) -> Path | None:
    """The weights a trace's functional outputs use: `weights` if given, else the trace's own `weights/`
    (captured with --with-weights), else None (generated from the seed)."""
    own = Path(path) / TRACE_WEIGHTS
    return Path(weights) if weights is not None else own if own.is_dir() else None


def replay_trace(path: str | Path, weights: str | Path | None = None,
                 spec: ModelSpec | None = None) -> tuple[pd.DataFrame, ModelSpec, Path | None]:
    """The model's outputs on every batch of a trace, as the trace has them: (outputs, spec, weights used).

    `spec` defaults to the trace's stored spec (a given one is checked against it); `weights` to the
    trace's own `weights/` folder, else generated from the trace's seed.
    """
    reader = open_trace(path)
    stored = stored_spec(reader.meta, where=str(path))
    if spec is None:
        if stored is None:
            raise InputError(f"{path}: the trace stores no workload spec; give the workload")
        spec = stored
    check_against_spec(reader.meta, spec, where=str(path))
    chosen = weights_for_trace(path, weights)
    params = load_weights(chosen, spec) if chosen is not None else None
    frames = []
    for b, batch in enumerate(reader):
        frame = functional_outputs(spec, [batch], reader.meta.seed or 0, params)
        frames.append(frame.assign(batch=b))
    return pd.concat(frames, ignore_index=True), spec, chosen
