"""The functional model: the real outputs (pooled embeddings, CTR) of the simulated inputs, from the reference kernels."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.kernels import reference
from accelsim.workload.trace import Batch
from accelsim.workload.weights import DlrmParams, dense_inputs


def functional_pass(spec: ModelSpec, batches: Sequence[Batch], seed: int) -> list[reference.DlrmOutputs]:
    """Every intermediate (pooled embeddings, interaction, CTR) of every batch, from the reference kernels."""
    plain = [t for t in spec.table_list if t.compression is None and t.dim == spec.embedding_dim
             and t.dtype == spec.dtype and t.owns_storage]
    if len(plain) != spec.num_tables:
        # accelsim.kernels.compressed computes these tables; the whole-model forward does not call it yet
        raise InputError(f"workload {spec.name!r}: the functional model covers uniform uncompressed tables only; "
                         "compressed, mixed-dim, per-table dtype or shared tables run with functional: false")
    params = DlrmParams.from_spec(spec, seed)
    poolings = [t.pooling for t in spec.table_list]
    return [reference.dlrm_forward(params, dense_inputs(spec, batch.batch_size, seed, b), batch, poolings)
            for b, batch in enumerate(batches)]


def functional_outputs(spec: ModelSpec, batches: Sequence[Batch], seed: int) -> pd.DataFrame:
    """CTR of every sample (batch, sample, ctr): the model's real predictions on the simulated inputs."""
    frames = [pd.DataFrame({"batch": b, "sample": np.arange(out.ctr.size), "ctr": out.ctr})
              for b, out in enumerate(functional_pass(spec, batches, seed))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["batch", "sample", "ctr"])
