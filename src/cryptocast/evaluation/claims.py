"""Verdicts on a claimed gain: does the evidence support the claim, and is there any gain?

A claim is a range [lo, hi] of MAE reduction over a reference (1 - MAE / MAE_reference). The
measured gain comes with a Diebold-Mariano p-value (is there any gain?) and a block-bootstrap
95% interval (which gains are compatible with the data?). Four verdicts, in this order:

- reversed: a significant loss (DM p < alpha, gain < 0);
- refuted: the interval lies below the claimed range (its upper end < lo), whatever zero does;
- held: a significant gain whose interval reaches the claimed range;
- consistent but unproven: anything else (the interval reaches the claim, but not
  significantly above zero).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cryptocast.evaluation.stats import bootstrap_gain, diebold_mariano

HELD, CONSISTENT, REFUTED, REVERSED = "held", "consistent but unproven", "refuted", "reversed"
VERDICTS = (HELD, CONSISTENT, REFUTED, REVERSED)


def claim_verdict(gain: float, gain_ci95: tuple[float, float], pvalue: float | None,
                  claimed: tuple[float, float], alpha: float = 0.05) -> str:
    """One of `VERDICTS` for a measured `gain` with its interval and DM p-value against the
    `claimed` [lo, hi] gain (an undefined p-value is not significant)."""
    significant = pvalue is not None and pvalue < alpha
    if significant and gain < 0:
        return REVERSED
    if gain_ci95[1] < claimed[0]:
        return REFUTED
    if significant and gain > 0:
        return HELD
    return CONSISTENT


def judge_claim(errors: np.ndarray, reference_errors: np.ndarray, claimed: tuple[float, float],
                *, horizon: int = 1, n_boot: int = 2000, seed: int = 0,
                alpha: float = 0.05) -> dict[str, Any]:
    """The claim judged from per-window errors of the candidate and the reference:
    {gain, gain_ci95_lo, gain_ci95_hi, dm_pvalue, claimed_lo, claimed_hi, verdict}."""
    errors = np.asarray(errors, np.float64)
    reference_errors = np.asarray(reference_errors, np.float64)
    gain = 1.0 - np.mean(np.abs(errors)) / np.mean(np.abs(reference_errors))
    lo, hi = bootstrap_gain(errors, reference_errors, horizon=horizon, n_boot=n_boot, seed=seed)
    pvalue = diebold_mariano(errors, reference_errors, horizon).pvalue
    return {"gain": float(gain), "gain_ci95_lo": lo, "gain_ci95_hi": hi, "dm_pvalue": pvalue,
            "claimed_lo": claimed[0], "claimed_hi": claimed[1],
            "verdict": claim_verdict(gain, (lo, hi), pvalue, claimed, alpha)}
