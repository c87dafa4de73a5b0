"""Sums of a float column by a string key, as pandas' `groupby(key)[column].sum()` computes them."""

from __future__ import annotations

import math

import numpy as np


def group_sums(keys: list[str], values: np.ndarray) -> dict[str, float]:
    """{key: sum of its values} in sorted key order, bit for bit pandas' groupby sum (a pandas groupby costs
    ~1 ms of dispatch for the few dozen rows of a stage frame).

    pandas (3.x) has two summations: keys already in sorted order and no NaN -- `np.add.reduceat` over each
    key's run of rows; otherwise its `group_sum` kernel -- rows in order, NaN skipped, each group's running sum
    from 0.0 Kahan-compensated (the compensation reset when an infinity makes it NaN).
    """
    values = np.asarray(values, dtype=np.float64)
    if keys == sorted(keys) and not np.isnan(values).any():
        starts = [i for i in range(len(keys)) if i == 0 or keys[i] != keys[i - 1]]
        sums = np.add.reduceat(values, np.array(starts, dtype=np.intp)).tolist() if starts else []
        return {keys[i]: s for i, s in zip(starts, sums)}
    total: dict[str, float] = {}
    carry: dict[str, float] = {}
    for key, val in zip(keys, values.tolist()):
        if key not in total:
            total[key], carry[key] = 0.0, 0.0
        if math.isnan(val):
            continue
        s = total[key]
        y = val - carry[key]
        t = s + y
        c = t - s - y
        carry[key] = 0.0 if math.isnan(c) else c
        total[key] = t
    return {k: total[k] for k in sorted(total)}
