"""Tests that count everything that was tried: the best of many configurations against a
benchmark (Hansen's SPA test), and the set of configurations that cannot be told apart from
the best (Hansen, Lunde and Nason's Model Confidence Set), both from `arch.bootstrap` with a
stationary block bootstrap over the per-window losses.

A configuration chosen as the best of many on the same windows looks better than it is; the
SPA's p-value accounts for the search by bootstrapping the maximum over every configuration
whose losses were looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from arch.bootstrap import MCS, SPA

from cryptocast.evaluation.stats import default_block_length


def distinct(losses: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The loss vectors with exact duplicates removed (the first name of each kept), and
    every dropped name -> the kept name it equals: identical forecasts are one configuration."""
    kept: dict[str, np.ndarray] = {}
    seen: dict[bytes, str] = {}
    same_as: dict[str, str] = {}
    for name, values in losses.items():
        key = np.ascontiguousarray(values, np.float64).tobytes()
        if key in seen:
            same_as[name] = seen[key]
        else:
            seen[key] = name
            kept[name] = np.asarray(values, np.float64)
    return kept, same_as


@dataclass(frozen=True)
class SPAResult:
    """pvalue: the consistent SPA p-value (`lower` and `upper` bound it); configurations: how
    many distinct configurations it covered; best: the one with the lowest mean loss."""

    pvalue: float
    lower: float
    upper: float
    configurations: int
    best: str


def spa_test(benchmark: np.ndarray, losses: Mapping[str, np.ndarray], *, reps: int = 5000,
             block_length: int | None = None, seed: int = 0) -> SPAResult:
    """Hansen's SPA test of H0: no configuration in `losses` (name -> per-window loss) has a
    lower expected loss than `benchmark`. Configurations identical to the benchmark or to
    each other count once."""
    kept, _ = distinct({"__benchmark__": benchmark, **losses})
    kept.pop("__benchmark__")
    if not kept:
        return SPAResult(1.0, 1.0, 1.0, 0, "")
    names = list(kept)
    models = np.column_stack([kept[n] for n in names])
    block = block_length or default_block_length(len(benchmark))
    spa = SPA(np.asarray(benchmark, np.float64), models, block_size=block, reps=reps, seed=seed)
    spa.compute()
    p = spa.pvalues
    best = names[int(np.argmin(models.mean(axis=0)))]
    return SPAResult(float(p["consistent"]), float(p["lower"]), float(p["upper"]), len(names),
                     best)


def confidence_set(losses: Mapping[str, np.ndarray], *, size: float = 0.1, reps: int = 5000,
                   block_length: int | None = None, seed: int = 0) -> dict[str, float]:
    """The Model Confidence Set at level 1 - `size` (method R): name -> MCS p-value of every
    configuration in the set (those that cannot be told apart from the best). Identical loss
    vectors are tested once and share their verdict."""
    kept, same_as = distinct(losses)
    names = list(kept)
    if len(names) < 2:
        pvalues = dict.fromkeys(names, 1.0)
    else:
        frame = pd.DataFrame(kept)
        block = block_length or default_block_length(len(frame))
        mcs = MCS(frame, size=size, reps=reps, block_size=block, method="R", seed=seed)
        mcs.compute()
        included = set(mcs.included)
        pvalues = {n: float(mcs.pvalues["Pvalue"][n]) for n in names if n in included}
    return {n: pvalues[same_as.get(n, n)] for n in losses if same_as.get(n, n) in pvalues}
