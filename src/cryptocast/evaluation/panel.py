"""Pooled statistics over a panel of symbols scored on the same dates.

Losses come as matrices [T windows, S symbols] (absolute return errors, or CRPS), one for a
candidate and one for its reference (naive, naive_gaussian, or a plan item's control). Coins
move together, so every interval resamples the same time blocks for all symbols at once (a
circular block bootstrap over the rows): resampling symbols independently would count
correlated coins as independent evidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cryptocast.evaluation.claims import claim_verdict
from cryptocast.evaluation.stats import block_bootstrap_interval, diebold_mariano


def _matrices(losses, reference) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(losses, np.float64), np.asarray(reference, np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"losses and reference must be [windows, symbols] of one shape, got "
                         f"{a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("panel losses contain NaN or infinite values")
    if np.any(b.mean(axis=0) <= 0):
        raise ValueError("a symbol's reference loss is zero: its relative score is undefined")
    return a, b


def relative_score(losses: np.ndarray, reference: np.ndarray) -> float:
    """The geometric mean over symbols of mean loss / the reference's mean loss."""
    return float(np.exp(np.mean(np.log(losses.mean(axis=0) / reference.mean(axis=0)))))


@dataclass(frozen=True)
class PooledComparison:
    """A candidate against its reference over the panel.

    relative: geometric mean over symbols of loss / reference loss (below 1: better), with its
    95% interval (joint time-block bootstrap); win_rate: the share of symbols where the
    candidate's mean loss is lower; dm_pvalue: Diebold-Mariano on the cross-sectional mean loss
    differential (Newey-West variance).
    """

    relative: float
    relative_ci95_lo: float
    relative_ci95_hi: float
    win_rate: float
    dm_pvalue: float
    symbols: int
    windows: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def pooled_comparison(losses, reference, *, horizon: int = 1, n_boot: int = 2000,
                      seed: int = 0, block_length: int | None = None) -> PooledComparison:
    """`losses` against `reference`, both [T windows, S symbols] on the same dates."""
    a, b = _matrices(losses, reference)
    lo, hi = block_bootstrap_interval(relative_score, (a, b), horizon=horizon,
                                      block_length=block_length, n_boot=n_boot, seed=seed)
    pvalue = diebold_mariano(a.mean(axis=1), b.mean(axis=1), horizon).pvalue
    return PooledComparison(relative_score(a, b), lo, hi,
                            float(np.mean(a.mean(axis=0) < b.mean(axis=0))), pvalue,
                            a.shape[1], a.shape[0])


def pooled_claim(losses, reference, claimed: tuple[float, float], **options) -> dict:
    """A plan item's claimed gain judged on the panel: the pooled gain 1 - relative score of
    the treatment (`losses`) over its control (`reference`), its interval, the pooled DM
    p-value and the verdict (`evaluation.claims`)."""
    pooled = pooled_comparison(losses, reference, **options)
    gain = 1.0 - pooled.relative
    interval = (1.0 - pooled.relative_ci95_hi, 1.0 - pooled.relative_ci95_lo)
    return {"gain": gain, "gain_ci95_lo": interval[0], "gain_ci95_hi": interval[1],
            "dm_pvalue": pooled.dm_pvalue, "win_rate": pooled.win_rate,
            "claimed_lo": claimed[0], "claimed_hi": claimed[1], "symbols": pooled.symbols,
            "verdict": claim_verdict(gain, interval, pooled.dm_pvalue, claimed)}
