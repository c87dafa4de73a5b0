"""Pareto front of a results table over two or more objectives, each minimised or maximised."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from accelsim.errors import InputError

MAX_PREFIX = "max:"
MIN_PREFIX = "min:"


def parse_objectives(names: Sequence[str], maximize: Sequence[str] = ()) -> list[tuple[str, bool]]:
    """(column, maximise?) pairs from names such as `latency_ns` or `max:qps` plus an explicit maximise list."""
    out = []
    for name in names:
        if name.startswith(MAX_PREFIX):
            out.append((name[len(MAX_PREFIX):], True))
        else:
            col = name[len(MIN_PREFIX):] if name.startswith(MIN_PREFIX) else name
            out.append((col, col in maximize))
    cols = [c for c, _ in out]
    if len(set(cols)) != len(cols) or not cols:
        raise InputError(f"objectives: need distinct column names, got {', '.join(names) or 'none'}")
    return out


def pareto_mask(costs: np.ndarray) -> np.ndarray:
    """True for the rows of `costs` (n x k, all minimised) that no other row dominates.

    A row dominates another when it is no worse in every column and better in one. Rows are visited in
    lexicographic order, where any dominator comes before what it dominates, and checked against the
    front found so far (a dominated dominator implies a front member that dominates too).
    """
    n = costs.shape[0]
    order = np.lexsort(costs.T[::-1])
    keep = np.zeros(n, dtype=bool)
    front, m = np.empty_like(costs, dtype=float), 0
    for i in order:
        c, f = costs[i], front[:m]
        if not np.any(np.all(f <= c, axis=1) & np.any(f < c, axis=1)):
            keep[i] = True
            front[m], m = c, m + 1
    return keep


def pareto_front(df: pd.DataFrame, objectives: Sequence[str], maximize: Sequence[str] = ()) -> pd.DataFrame:
    """The non-dominated rows of `df` (failed points and missing values excluded), best first objective first."""
    objs = parse_objectives(objectives, maximize)
    missing = [c for c, _ in objs if c not in df.columns]
    if missing:
        raise InputError(f"objectives: no column {', '.join(missing)}; columns are: {', '.join(map(str, df.columns))}")
    rows = df[df["status"] == "ok"] if "status" in df.columns else df
    try:
        values = rows[[c for c, _ in objs]].astype(float)
    except (TypeError, ValueError):
        raise InputError(f"objectives: columns {', '.join(c for c, _ in objs)} must be numeric") from None
    rows, values = rows[values.notna().all(axis=1)], values.dropna()
    costs = values.to_numpy() * np.array([-1.0 if mx else 1.0 for _, mx in objs])
    front = rows[pareto_mask(costs)]
    return front.sort_values([c for c, _ in objs], ascending=[not mx for _, mx in objs], kind="stable")
