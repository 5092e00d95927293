"""The contract between the evaluation engine and every forecasting model.

A forecaster never sees a full candle frame: the engine hands it `Context` objects that hold
copies of the candles strictly before the forecast origin, so look-ahead is impossible by
construction.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

OHLCV = ("open", "high", "low", "close", "volume")
CLOSE = OHLCV.index("close")


def draw_seed(seed: int, series: str, timestamp: np.datetime64) -> int:
    """The seed of one forecast's random draws: a function of (seed, series, the first
    forecast timestamp) only, so a window's samples are the same whatever else is evaluated
    (other windows, splits, batch sizes or candidates)."""
    stamp = int(np.datetime64(timestamp, "ns").astype(np.int64))
    entropy = [int(seed), zlib.crc32(series.encode()), stamp % 2**64]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)


def fixed_batches(lengths: Mapping[int, int], size: int
                  ) -> Iterator[tuple[int, list[int], list[int]]]:
    """Items grouped into model calls of one fixed shape, so that a row's result depends on
    its own input only (kernels round differently for other shapes). Yields (length, rows,
    filled) per call, lengths ascending: rows, at most `size` items (keys of `lengths`, in
    its order) of that length; filled, rows then copies of the last, `size` in all."""
    for length in sorted(set(lengths.values())):
        group = [i for i, n in lengths.items() if n == length]
        for lo in range(0, len(group), size):
            rows = group[lo : lo + size]
            yield length, rows, rows + [rows[-1]] * (size - len(rows))


@dataclass(frozen=True)
class Context:
    """Candles strictly before the forecast origin, plus the timestamps to forecast.

    timestamps: datetime64[ns], shape [T]; ohlcv: float64, shape [T, 5] (columns `OHLCV`);
    future_timestamps: datetime64[ns], shape [horizon] (known in advance from the interval);
    series: the name of the series (the symbol), part of the forecast's random seed.
    """

    timestamps: np.ndarray
    ohlcv: np.ndarray
    future_timestamps: np.ndarray
    series: str = ""

    def draw_seed(self, seed: int) -> int:
        """The seed of this forecast's random draws (`draw_seed`)."""
        return draw_seed(seed, self.series, self.future_timestamps[0])

    @property
    def close(self) -> np.ndarray:
        return self.ohlcv[:, CLOSE]

    @property
    def horizon(self) -> int:
        return len(self.future_timestamps)


@dataclass(frozen=True)
class Forecast:
    """Forecasts of the close for a batch of contexts.

    point: [batch, horizon] close prices. samples: [batch, num_samples, horizon] close prices,
    or None for point-only forecasters.
    """

    point: np.ndarray
    samples: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.point.ndim != 2:
            raise ValueError(f"Forecast.point must be [batch, horizon], got {self.point.shape}")
        if self.samples is not None and (
            self.samples.ndim != 3
            or self.samples.shape[0] != self.point.shape[0]
            or self.samples.shape[2] != self.point.shape[1]
        ):
            raise ValueError(
                f"Forecast.samples must be [batch, num_samples, horizon] matching point "
                f"{self.point.shape}, got {self.samples.shape}"
            )


class Forecaster(Protocol):
    """Anything that forecasts the close from candle contexts.

    `context_length` is the most candles the forecaster looks at; the engine never passes more.
    `predict` receives contexts that all share the same horizon and returns one row per context.
    """

    name: str
    context_length: int

    def predict(self, contexts: Sequence[Context]) -> Forecast: ...


@dataclass(frozen=True)
class ModelFamily:
    """A model family as forecasting sees it (`cryptocast.models.<name>.FAMILY`).

    knobs: the frozen dataclass of its forecaster settings (validated on construction, so a
    typo fails before any checkpoint loads); build(folder, name, seed, device, **knobs): a
    forecaster on the checkpoint in `folder`.
    """

    name: str
    knobs: type
    build: Callable[..., Forecaster]

    def forecaster(self, folder: Path, knobs: Any, name: str, seed: int, device: Any
                   ) -> Forecaster:
        """A forecaster with already validated `knobs` (an instance of `self.knobs`)."""
        values = {f: getattr(knobs, f) for f in knobs.__dataclass_fields__}
        return self.build(folder, name=name, seed=seed, device=device, **values)
