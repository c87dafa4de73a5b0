"""Capture overhead: forwards of the PyTorch DLRM plain vs under EmbeddingCapture, and replay vs torch.

Model: 8 tables of 100k rows x 32 fp32, 20 lookups per bag, bottom 13-64-32, top 128-1, dot; batch 1024.
Each repeat times the plain forwards and the captured forwards (TorchFunctionMode on every op, bags copied to
numpy) back to back, so load drifts hit both; the ratio is the figure. Replay: the functional model with the
model's weights (functional_pass, each table pooled in place by kernels.compressed, as `accelsim replay` does) over
the same captured batches vs the torch forwards, beside reference.dlrm_forward (the generated-weights path: a
compact gather of the touched rows, then pooling) on the same weights.
Run: .venv/bin/python benchmarks/bench_capture.py
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.kernels.reference import dlrm_forward
from accelsim.sim.functional import functional_pass
from accelsim.workload.capture import EmbeddingCapture, run_forwards
from accelsim.workload.torch_model import build_torch_dlrm, generate_inputs, torch_bags

SPEC = parse_model(ModelSpec, dict(name="bench", source="bench", embedding_dim=32,
                                   tables=[{"rows": 100_000, "lookups_per_sample": 20, "count": 8}],
                                   bottom_mlp=[13, 64, 32], top_mlp=[128, 1]))
BATCH, BATCHES, REPEATS = 1024, 8, 5


def main() -> None:
    torch.set_num_threads(1)
    model = build_torch_dlrm(SPEC, seed=0)
    data = [generate_inputs(SPEC, BATCH, 1, i) for i in range(BATCHES)]
    inputs = [(torch.from_numpy(d), torch_bags(b)) for d, b in data]
    with EmbeddingCapture(model) as cap:
        run_forwards(model, inputs[:1])
    params = cap.model_weights(SPEC)  # the model's own tables and MLPs, as replay uses them
    plain, captured, replay, compact = [], [], [], []
    for _ in range(REPEATS + 1):  # the first round warms up (numba compile, allocator)
        t0 = time.perf_counter()
        run_forwards(model, inputs)
        t1 = time.perf_counter()
        with EmbeddingCapture(model, dense_module="bottom") as cap:
            run_forwards(model, inputs)
        t2 = time.perf_counter()
        functional_pass(SPEC, cap.batches, 0, params)
        t3 = time.perf_counter()
        for (d, _), b in zip(data, cap.batches):
            dlrm_forward(params, d, b)
        t4 = time.perf_counter()
        plain.append(t1 - t0), captured.append(t2 - t1), replay.append(t3 - t2), compact.append(t4 - t3)
    plain, captured, replay, compact = (np.array(x[1:]) for x in (plain, captured, replay, compact))
    lookups = sum(b.num_lookups for _, b in data)
    print(f"load {os.getloadavg()[0]:.2f}; {BATCHES} batches x {BATCH}, {lookups / 1e6:.2f} M lookups")
    print(f"torch forward      {np.median(plain) * 1e3:8.1f} ms  ({lookups / np.median(plain) / 1e6:.1f} M lookups/s)")
    print(f"captured forward   {np.median(captured) * 1e3:8.1f} ms  (x{np.median(captured / plain):.2f} of plain, "
          f"range x{(captured / plain).min():.2f}-x{(captured / plain).max():.2f})")
    print(f"numba replay       {np.median(replay) * 1e3:8.1f} ms  (x{np.median(replay / plain):.2f} of torch)")
    print(f"compact gather     {np.median(compact) * 1e3:8.1f} ms  (x{np.median(compact / plain):.2f} of torch; "
          f"replay x{np.median(replay / compact):.2f} of it)")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__).parse_args()  # --help, and no stray arguments
    main()
