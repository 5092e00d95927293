"""Point forecasts from sample forecasts: one spec grammar shared by every sampling model.

A spec names how the samples of one forecast collapse into one number, e.g. `median`,
`trimmed_mean_5` (drop 5% from each tail, then average) or `mean_quantile_mix_0.5_0.3`.

The one rule for a level `X`/`Q`: an integer is a percent, a number with a decimal point is a
fraction. `quantile_1` is the 1% quantile and `quantile_1.0` the maximum; `trimmed_mean_5` and
`trimmed_mean_0.05` both drop 5% per tail; `quantile_0.50` and `quantile_50` are the median.
`K` is a plain number of standard deviations; `W` is a weight in [0, 1]. `winsorized_mean`
alone (the plan's name) is `winsorized_mean_5`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

VALID_FORMS: tuple[str, ...] = (
    "mean",
    "median",
    "p10",
    "p90",
    "trimmed_mean_X",
    "lower_trimmed_mean_X",
    "upper_trimmed_mean_X",
    "winsorized_mean",
    "winsorized_mean_X",
    "quantile_X",
    "mean_minus_std_K",
    "mean_plus_std_K",
    "mean_quantile_mix_Q_W",
    "quantile_plus_std_Q_K",
)

_NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_SIGNED = r"(-?\d+(?:\.\d+)?|-?\.\d+)"


@dataclass(frozen=True)
class Aggregation:
    """A parsed spec: `kind` plus its numeric arguments (fractions already normalised)."""

    spec: str
    kind: str
    args: tuple[float, ...] = ()

    def __call__(self, samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return _KINDS[self.kind](np.moveaxis(np.asarray(samples, dtype=np.float64), axis, -1),
                                 *self.args)


def _error(spec: str, why: str) -> ValueError:
    forms = ", ".join(VALID_FORMS)
    return ValueError(
        f"aggregate: invalid spec {spec!r} ({why}); valid forms: {forms} "
        "(X, Q: an integer is a percent, a number with a decimal point a fraction: 5 = 0.05; "
        "K: number of std; W: weight in [0, 1])"
    )


def _fraction(spec: str, text: str, upper: float, inclusive: bool = True) -> float:
    """A level: an integer is a percent (`5` = 0.05), a decimal a fraction (`0.05`)."""
    value = float(text) if "." in text else int(text) / 100.0
    if not (0.0 <= value <= upper if inclusive else 0.0 <= value < upper):
        bound = "]" if inclusive else ")"
        raise _error(spec, f"level {text} = {value:g} out of range [0, {upper:g}{bound}")
    return value


def _trimmed(x: np.ndarray, lower: float, upper: float) -> np.ndarray:
    n = x.shape[-1]
    lo = math.floor(n * lower + 1e-9)
    hi = n - math.floor(n * upper + 1e-9)  # the grammar keeps lower + upper < 1: hi > lo
    return np.sort(x, axis=-1)[..., lo:hi].mean(axis=-1)


def _winsorized(x: np.ndarray, frac: float) -> np.ndarray:
    n = x.shape[-1]
    k = math.floor(n * frac + 1e-9)
    s = np.sort(x, axis=-1)
    if k > 0:
        s[..., :k] = s[..., k : k + 1]
        s[..., n - k :] = s[..., n - k - 1 : n - k]
    return s.mean(axis=-1)


_KINDS: dict[str, Callable[..., np.ndarray]] = {
    "mean": lambda x: x.mean(axis=-1),
    "quantile": lambda x, q: np.quantile(x, q, axis=-1),
    "trimmed": _trimmed,
    "winsorized": _winsorized,
    "mean_std": lambda x, k: x.mean(axis=-1) + k * x.std(axis=-1),
    "mean_quantile_mix": lambda x, q, w: (1.0 - w) * x.mean(axis=-1)
    + w * np.quantile(x, q, axis=-1),
    "quantile_std": lambda x, q, k: np.quantile(x, q, axis=-1) + k * x.std(axis=-1),
}


def parse_aggregation(spec: str) -> Aggregation:
    """Parse `spec` into an `Aggregation`; raise ValueError listing the valid forms if invalid."""
    if not isinstance(spec, str):
        raise _error(str(spec), "not a string")
    fixed = {
        "mean": ("mean", ()),
        "median": ("quantile", (0.5,)),
        "winsorized_mean": ("winsorized", (0.05,)),
        "p10": ("quantile", (0.1,)),
        "p90": ("quantile", (0.9,)),
    }
    if spec in fixed:
        kind, args = fixed[spec]
        return Aggregation(spec, kind, args)

    def frac(text: str, upper: float = 1.0) -> float:
        return _fraction(spec, text, upper)

    def tail(text: str, upper: float = 0.5) -> float:  # trimmed share: some samples must stay
        return _fraction(spec, text, upper, inclusive=False)

    patterns: list[tuple[str, Callable[..., Aggregation]]] = [
        (rf"trimmed_mean_{_NUM}", lambda x: _agg(spec, "trimmed", (tail(x),) * 2)),
        (rf"lower_trimmed_mean_{_NUM}", lambda x: _agg(spec, "trimmed", (tail(x, 1.0), 0.0))),
        (rf"upper_trimmed_mean_{_NUM}", lambda x: _agg(spec, "trimmed", (0.0, tail(x, 1.0)))),
        (rf"winsorized_mean_{_NUM}", lambda x: _agg(spec, "winsorized", (tail(x),))),
        (rf"quantile_{_NUM}", lambda x: _agg(spec, "quantile", (frac(x),))),
        (rf"mean_minus_std_{_NUM}", lambda k: _agg(spec, "mean_std", (-float(k),))),
        (rf"mean_plus_std_{_NUM}", lambda k: _agg(spec, "mean_std", (float(k),))),
        (
            rf"mean_quantile_mix_{_NUM}_{_NUM}",
            lambda q, w: _agg(spec, "mean_quantile_mix", (frac(q), _weight(spec, w))),
        ),
        (
            rf"quantile_plus_std_{_NUM}_{_SIGNED}",
            lambda q, k: _agg(spec, "quantile_std", (frac(q), float(k))),
        ),
    ]
    for pattern, build in patterns:
        match = re.fullmatch(pattern, spec)
        if match:
            return build(*match.groups())
    raise _error(spec, "unknown or malformed")


def _agg(spec: str, kind: str, args: tuple[float, ...]) -> Aggregation:
    return Aggregation(spec, kind, args)


def _weight(spec: str, text: str) -> float:
    w = float(text)
    if not 0.0 <= w <= 1.0:
        raise _error(spec, f"weight {text} out of range [0, 1]")
    return w


def aggregate(samples: np.ndarray, spec: str, axis: int = -1) -> np.ndarray:
    """Collapse `samples` along `axis` into point values according to `spec`."""
    samples = np.asarray(samples)
    if samples.ndim == 0 or samples.shape[axis] == 0:
        raise ValueError(
            f"aggregate: samples must have a non-empty axis {axis}, got shape {samples.shape}"
        )
    return parse_aggregation(spec)(samples, axis=axis)
