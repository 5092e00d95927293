"""Toto's training and validation windows: closes, left-padded to a fixed length, in the
model's price units (`price_units`: the last context close / TotoConfig.price_reference)."""

from __future__ import annotations

import numpy as np
import torch

from cryptocast.data.corpus import TrainingCorpus
from cryptocast.models.toto.scaler import price_units


class WindowSampler:
    """Random training windows of `length` closes from all series, left-padded when short,
    each divided by its price unit (its last close before the final `target` steps)."""

    def __init__(self, series: list[np.ndarray], length: int, target: int, pad_fraction: float,
                 interval_weight_power: float, reference: float | None) -> None:
        self.series = [s for s in series if len(s) >= 2]
        if not self.series:
            raise ValueError("Toto pretraining: the corpus has no series with 2+ candles")
        windows = np.array([max(len(s) - length + 1, 1) for s in self.series], dtype=np.float64)
        weights = windows ** interval_weight_power
        self.probs = weights / weights.sum()
        self.length, self.target = length, target
        self.pad_fraction = pad_fraction
        self.reference = reference

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = np.zeros((batch, 1, self.length), dtype=np.float32)
        mask = np.zeros((batch, 1, self.length), dtype=bool)
        picks = rng.choice(len(self.series), size=batch, p=self.probs)
        for row, i in enumerate(picks):
            s = self.series[i]
            end = int(rng.integers(min(self.length, len(s)), len(s) + 1))
            window = s[max(0, end - self.length) : end]
            if rng.random() < self.pad_fraction:
                window = window[int(rng.integers(0, len(window) - 1)) :]
            x[row, 0, self.length - len(window) :] = window
            mask[row, 0, self.length - len(window) :] = True
        units = price_units(x[:, 0], mask[:, 0], self.length - self.target, self.reference)
        x /= units.astype(np.float32)[:, None, None]
        return torch.from_numpy(x), torch.from_numpy(mask)


def validation_set(
    corpus: TrainingCorpus, context_length: int, reference: float | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One window per validation target candle: the `context_length` closes before it
    (left-padded) and the target close, in the window's price units: (x [N, 1,
    context_length] float32, mask [N, 1, context_length] bool, target [N] float64)."""
    xs, masks, targets = [], [], []
    for frame in corpus.validation:
        close = frame.candles["close"].to_numpy(np.float64)
        first = int((frame.candles["timestamp"] < corpus.val_start).sum())
        for t in range(max(first, 1), len(close)):
            ctx = close[max(0, t - context_length) : t]
            x = np.zeros(context_length, dtype=np.float32)
            m = np.zeros(context_length, dtype=bool)
            x[context_length - len(ctx) :], m[context_length - len(ctx) :] = ctx, True
            xs.append(x)
            masks.append(m)
            targets.append(close[t])
    if not xs:
        raise ValueError("Toto pretraining: no validation targets at or after val_start")
    x, mask = np.stack(xs), np.stack(masks)
    units = price_units(x, mask, context_length, reference)
    return (torch.from_numpy((x / units[:, None]).astype(np.float32))[:, None],
            torch.from_numpy(mask)[:, None],
            torch.tensor(np.asarray(targets) / units, dtype=torch.float64))
