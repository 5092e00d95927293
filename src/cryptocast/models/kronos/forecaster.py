"""The Kronos forecaster: contexts -> sampled close paths -> point forecast."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cryptocast.config import from_mapping
from cryptocast.forecast.aggregation import aggregate, parse_aggregation
from cryptocast.forecast.base import Context, Forecast, fixed_batches
from cryptocast.runtime import autocast

from .checkpoint import load_checkpoint
from .inputs import (
    CLOSE,
    candle_features,
    denormalise,
    in_price_units,
    normalise,
    price_unit,
    time_stamps,
)
from .predictor import Kronos
from .sampling import SamplingConfig, generate
from .tokenizer import KronosTokenizer

BATCH_ROWS = 8  # contexts per model call: a fixed shape, so a row's result depends on it alone


@dataclass(frozen=True)
class KronosKnobs:
    """Kronos forecaster settings (params.yaml candidate keys; `sample_count` is the official
    Kronos API's name for the number of sample paths).

    max_context: the predictor/decoder window (512 for the official models); context_length:
    the most candles read (None: max_context; never more than the horizon leaves of it); the
    reference aggregate is the mean. anchor: False maps decoded closes back with the window
    mean/std (the reference); True adds the decoded change from the tokenizer's own
    reconstruction of the last context close to the actual last close.
    """

    sample_count: int = 1
    temperature: float = 1.0
    top_p: float = 0.9
    top_k: int = 0
    clip: float = 5.0
    max_context: int = 512
    context_length: int | None = None
    aggregate: str = "mean"
    anchor: bool = False

    def __post_init__(self) -> None:
        if self.max_context < 1:
            raise ValueError(f"max_context must be >= 1, got {self.max_context}")
        if self.context_length is not None and self.context_length < 1:
            raise ValueError(f"context_length must be >= 1, got {self.context_length}")
        if not self.clip > 0:
            raise ValueError(f"clip must be > 0, got {self.clip}")
        parse_aggregation(self.aggregate)

    @property
    def sampling(self) -> SamplingConfig:
        return SamplingConfig(self.temperature, int(self.top_k), float(self.top_p),
                              int(self.sample_count))

    @property
    def reads(self) -> int:
        """The most candles read: context_length, within max_context."""
        return min(self.context_length or self.max_context, self.max_context)


class KronosForecaster:
    """Forecasts the close with Kronos (`KronosKnobs`); keeps the sample paths (close prices)
    for CRPS. The candles read are the ones normalised: the official predictor normalises every
    candle it is given and then slides a max_context window, so its statistics can come from
    candles the model never sees; ours come from the window the model sees, as in training
    (deliberately; tests/test_kronos_golden.py). With `anchor` the tokenizer's reconstruction
    error (and clipping) of the current level cancels out of the forecast.
    """

    def __init__(self, tokenizer: KronosTokenizer, predictor: Kronos, name: str = "kronos",
                 seed: int = 0, device: str | torch.device = "cpu", **knobs: object) -> None:
        self.knobs = from_mapping(KronosKnobs, knobs, "Kronos forecaster knobs")
        self.name = name
        self.device = torch.device(device)
        self.tokenizer = tokenizer.eval().to(self.device)
        self.predictor = predictor.eval().to(self.device)
        self.sampling = self.knobs.sampling
        self.clip, self.max_context = float(self.knobs.clip), int(self.knobs.max_context)
        self.aggregate, self.anchor = self.knobs.aggregate, bool(self.knobs.anchor)
        self.context_length = self.knobs.reads
        self.seed = seed

    def predict(self, contexts: Sequence[Context]) -> Forecast:
        """Sample paths per context, in fixed-shape batches of `BATCH_ROWS` contexts of one
        length (`fixed_batches`), so each forecast is independent of what else is forecast
        with it."""
        if not contexts:
            raise ValueError("predict needs at least one context")
        horizon = contexts[0].horizon
        if horizon < 1 or any(c.horizon != horizon for c in contexts):
            raise ValueError("all contexts must share one horizon >= 1")
        # The whole horizon must fit the predictor window, as generate() requires.
        keep = min(self.context_length, self.max_context - horizon + 1)
        if keep < 1:
            raise ValueError(f"horizon {horizon} does not fit max_context {self.max_context}")
        samples = np.empty((len(contexts), self.sampling.sample_count, horizon))
        lengths = {}
        for i, ctx in enumerate(contexts):
            if len(ctx.timestamps) < 2:
                raise ValueError(f"context {i} has {len(ctx.timestamps)} candles; need >= 2")
            lengths[i] = min(len(ctx.timestamps), keep)
        for length, rows, filled in fixed_batches(lengths, BATCH_ROWS):
            batch = self._sample_close([contexts[i] for i in filled], length)
            samples[rows] = batch[: len(rows)]
        return Forecast(point=aggregate(samples, self.aggregate, axis=1), samples=samples)

    def _sample_close(self, contexts: Sequence[Context], length: int) -> np.ndarray:
        """[len(contexts), sample_count, horizon] close paths from the last `length` candles
        of each context, in the tokenizer's price units and back. One fixed-shape batch: a
        row's result depends on its own context only."""
        inputs = model_inputs(contexts, length, self.clip, self.tokenizer.config.price_reference,
                              self.device)
        future = torch.from_numpy(np.stack([time_stamps(c.future_timestamps)
                                            for c in contexts])).to(self.device)
        generators = [torch.Generator().manual_seed(c.draw_seed(self.seed)) for c in contexts]
        with autocast(self.device):
            out, last_recon = generate(self.tokenizer, self.predictor, inputs.x, inputs.stamp,
                                       future, self.sampling, self.max_context, generators,
                                       reconstruct=self.anchor)
        out = out.double().cpu().numpy()  # [B, S, H, F]
        mean, std = inputs.mean[:, :, None, CLOSE], inputs.std[:, :, None, CLOSE]
        close = denormalise(out[..., CLOSE], mean, std)
        if self.anchor:
            shift = inputs.anchor_shift(last_recon)
            close = close + shift[:, None, None]
        return close * inputs.units[:, None, None]


@dataclass(frozen=True)
class ModelInputs:
    """A batch of contexts as the models read them: feats [B, L, d_in] in price units (the
    context's `units` [B]), x the normalised and clipped feats (float32 tensor), mean and std
    [B, 1, d_in] of the normalisation, stamp [B, L, 5] the calendar stamps (int64 tensor)."""

    feats: np.ndarray
    units: np.ndarray
    x: torch.Tensor
    mean: np.ndarray
    std: np.ndarray
    stamp: torch.Tensor

    def anchor_shift(self, last_recon: torch.Tensor) -> np.ndarray:
        """[B] actual last close minus the tokenizer's reconstruction of it (`last_recon`
        [B, d_in], normalised), in price units."""
        recon = denormalise(last_recon[:, CLOSE].double().cpu().numpy(), self.mean[:, 0, CLOSE],
                            self.std[:, 0, CLOSE])
        return self.feats[:, -1, CLOSE] - recon


def model_inputs(contexts: Sequence[Context], length: int, clip: float,
                 price_reference: float | None, device: torch.device) -> ModelInputs:
    """The last `length` candles of each context as the models read them (`ModelInputs`)."""
    units = np.array([price_unit(c.close[-1], price_reference) for c in contexts], np.float64)
    feats = in_price_units(np.stack([candle_features(c.ohlcv[-length:, :4],
                                                     c.ohlcv[-length:, 4])
                                     for c in contexts]), units)
    x, mean, std = normalise(feats, clip)
    stamp = np.stack([time_stamps(c.timestamps[-length:]) for c in contexts])
    return ModelInputs(feats, units, torch.from_numpy(x).float().to(device), mean, std,
                       torch.from_numpy(stamp).to(device))


def build_forecaster(checkpoint_dir: str | Path, name: str, seed: int = 0,
                     device: str | torch.device = "cpu", **knobs: object) -> KronosForecaster:
    """Load `checkpoint_dir/{tokenizer,predictor}` and build a forecaster with the knobs
    (`KronosKnobs`) on `device`."""
    tokenizer, predictor = load_checkpoint(checkpoint_dir)
    return KronosForecaster(tokenizer, predictor, name=name, seed=seed, device=device,
                            **knobs)  # type: ignore[arg-type]
