"""Sample forecasts of the close from a Toto model.

The next patch's predictive distribution depends only on the context, so for every horizon
within the first patch one forward pass gives it exactly and all samples are drawn from it at
once. Later patches need per-sample trajectories: each chunk of `samples_per_batch`
trajectories continues from a KV cache of the context, one forward pass per patch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cryptocast.config import from_mapping
from cryptocast.forecast.aggregation import aggregate, parse_aggregation
from cryptocast.forecast.base import Context, Forecast, fixed_batches
from cryptocast.models.toto.checkpoint import load_checkpoint
from cryptocast.models.toto.layers import KVCache
from cryptocast.models.toto.model import Toto, TotoOutput
from cryptocast.models.toto.scaler import price_units
from cryptocast.runtime import autocast

BATCH_ROWS = 64  # series per model call: a fixed shape, so a row's result depends on it alone


@dataclass(frozen=True)
class TotoKnobs:
    """Toto forecaster settings (params.yaml candidate keys). `num_samples` is the official
    Toto API's name for the sample count (Kronos's is `sample_count`)."""

    num_samples: int = 256
    samples_per_batch: int = 256
    context_length: int = 512
    prediction_length: int | None = None  # if set, every context's horizon must equal it
    aggregate: str = "median"

    def __post_init__(self) -> None:
        for name in ("num_samples", "samples_per_batch", "context_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Toto forecaster: {name} must be a positive int, got {value!r}")
        if self.prediction_length is not None and self.prediction_length <= 0:
            raise ValueError(
                f"Toto forecaster: prediction_length must be positive, got {self.prediction_length}"
            )
        parse_aggregation(self.aggregate)


class TotoForecaster:
    """Forecaster protocol implementation: samples [B, S, H] and aggregated points [B, H]."""

    def __init__(self, model: Toto, name: str = "toto", seed: int = 0,
                 device: str | torch.device = "cpu", **knobs) -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.name = name
        self.knobs = from_mapping(TotoKnobs, knobs, "Toto forecaster knobs")
        self.context_length = self.knobs.context_length
        self.patch_size = model.config.patch_size
        self.seed = seed
        self.dtype = next(model.parameters()).dtype

    def predict(self, contexts: Sequence[Context]) -> Forecast:
        """Forecast the close for every context (all with the same horizon)."""
        if not contexts:
            raise ValueError("Toto forecaster: contexts must not be empty")
        horizons = {c.horizon for c in contexts}
        if len(horizons) != 1:
            raise ValueError(f"Toto forecaster: contexts must share one horizon, got {horizons}")
        horizon = horizons.pop()
        if self.knobs.prediction_length is not None and horizon != self.knobs.prediction_length:
            raise ValueError(
                f"Toto forecaster: context horizon {horizon} != prediction_length "
                f"{self.knobs.prediction_length}"
            )
        seeds = [c.draw_seed(self.seed) for c in contexts]
        samples = self.sample([c.close for c in contexts], horizon, seeds)
        return Forecast(point=aggregate(samples, self.knobs.aggregate, axis=1), samples=samples)

    def sample(self, series: Sequence[np.ndarray], horizon: int,
               seeds: Sequence[int] | None = None) -> np.ndarray:
        """[len(series), num_samples, horizon] samples; each series uses its last
        `context_length` values, in the model's price units, and draws from its own NumPy
        generator seeded by `seeds[i]` (default: the forecaster's seed).

        The model sees fixed-shape batches (`fixed_batches`): `BATCH_ROWS` series of one length
        (its context, left-padded to whole patches). Each row's result depends on its own input
        only (no kernel mixes the rows of one shape), so a forecast does not depend on what
        else is forecast with it or on how the engine batches."""
        if horizon <= 0:
            raise ValueError(f"Toto forecaster: horizon must be positive, got {horizon}")
        seeds = [self.seed] * len(series) if seeds is None else list(seeds)
        if len(seeds) != len(series):
            raise ValueError(f"Toto forecaster: {len(seeds)} seeds for {len(series)} series")
        contexts = [np.asarray(values, dtype=np.float64)[-self.context_length :]
                    for values in series]
        for i, values in enumerate(contexts):
            if len(values) == 0 or not np.isfinite(values).all():
                raise ValueError(f"Toto forecaster: series {i} is empty or not finite")
        last = np.array([values[-1] for values in contexts])[:, None]
        units = price_units(last, np.ones(last.shape, bool), 1, self.model.config.price_reference)
        out = np.empty((len(series), self.knobs.num_samples, horizon))
        widths = {i: math.ceil(len(v) / self.patch_size) * self.patch_size
                  for i, v in enumerate(contexts)}
        for width, rows, filled in fixed_batches(widths, BATCH_ROWS):
            x = np.zeros((BATCH_ROWS, 1, width))
            mask = np.zeros((BATCH_ROWS, 1, width), bool)
            for row, i in enumerate(filled):
                x[row, 0, width - len(contexts[i]):] = contexts[i] / units[i]
                mask[row, 0, width - len(contexts[i]):] = True
            generators = [np.random.default_rng(seeds[i]) for i in rows]
            with torch.inference_mode(), autocast(self.device):
                draws = self._sample_batch(torch.from_numpy(x).to(self.device, self.dtype),
                                           torch.from_numpy(mask).to(self.device), horizon,
                                           generators)
            out[rows] = draws * units[rows, None, None]
        return out

    def _sample_batch(self, x: torch.Tensor, mask: torch.Tensor, horizon: int,
                      generators: list[np.random.Generator]) -> np.ndarray:
        """[len(generators), num_samples, horizon] samples of the first rows of x [B, 1, T]:
        the first patch from one forward pass of the whole batch; later patches roll out per
        series (`_rollout`)."""
        first = self.model(x, mask, scaling_prefix_length=x.shape[-1], last_patch_only=True)
        rows = len(generators)
        draws = draw_steps(first.map(lambda t: t[:rows]), min(horizon, self.patch_size),
                           self.knobs.num_samples, generators)
        if horizon <= self.patch_size:
            return draws
        return np.stack([self._rollout(x[i : i + 1], mask[i : i + 1], draws[i : i + 1],
                                       horizon, generator)[0]
                         for i, generator in enumerate(generators)])

    def _rollout(self, x: torch.Tensor, mask: torch.Tensor, first: np.ndarray, horizon: int,
                 generator: np.random.Generator) -> np.ndarray:
        """[1, num_samples, horizon]: the first patch's draws `first` [1, num_samples, patch]
        of one series x [1, 1, T], continued per sample, patch by patch, from a KV cache of
        its context (chunks of `samples_per_batch` trajectories)."""
        p = self.patch_size
        n_patches = math.ceil(horizon / p)
        length = x.shape[-1]
        cache = KVCache()
        self.model(x, mask, kv_cache=cache, scaling_prefix_length=length, last_patch_only=True)
        chunks = []
        for start in range(0, first.shape[1], self.knobs.samples_per_batch):
            part = first[:, start : start + self.knobs.samples_per_batch]
            count = part.shape[1]
            chunk_cache = cache.repeat_interleave(count)
            xs = torch.cat((x.repeat_interleave(count, 0),
                            torch.from_numpy(part.reshape(-1, 1, p)).to(x.device, x.dtype)), -1)
            ones = torch.ones(count, 1, p, dtype=torch.bool, device=x.device)
            ms = torch.cat((mask.repeat_interleave(count, 0), ones), -1)
            for _ in range(n_patches - 1):
                out = self.model(
                    xs, ms, kv_cache=chunk_cache, scaling_prefix_length=length,
                    last_patch_only=True,
                )
                step = draw_per_position(out, generator)[:, None, :]
                xs = torch.cat((xs, torch.from_numpy(step).to(x.device, x.dtype)), -1)
                ms = torch.cat((ms, ones), -1)
            # keep the float64 first patch; later patches come back through the float inputs
            later = xs[:, 0, length + p :].double().cpu().numpy().reshape(1, count, -1)
            chunks.append(np.concatenate((part, later), -1)[..., :horizon])
        return np.concatenate(chunks, axis=1)


def draw_steps(output: TotoOutput, steps: int, num: int,
               generators: Sequence[np.random.Generator]) -> np.ndarray:
    """[len(generators), num, steps] float64 values of the first `steps` steps of the
    predicted patch, row b of `output` from generators[b] (NumPy's, on the CPU, so a seed
    gives the same samples on every device, up to the model's rounding)."""
    mixture = output.distribution.map(lambda t: t[:, 0, :steps])
    loc, scale = (t[:, 0, :steps, None].double().cpu().numpy()
                  for t in (output.loc, output.scale))
    return (mixture.sample(num, generators) * scale + loc).transpose(0, 2, 1)


def draw_per_position(output: TotoOutput, generator: np.random.Generator) -> np.ndarray:
    """One float64 draw at every position of every row of `output` ([rows, 1, steps]), all
    from the one `generator` (the rows laid end to end): [rows, steps]."""
    rows, steps = output.loc.shape[0], output.loc.shape[-1]
    flat = output.map(lambda t: t.reshape(1, 1, -1, *t.shape[3:]))
    return draw_steps(flat, rows * steps, 1, [generator]).reshape(rows, steps)


def build_forecaster(checkpoint_dir: str | Path, name: str, seed: int,
                     device: str | torch.device = "cpu", **knobs) -> TotoForecaster:
    """Load the checkpoint in `checkpoint_dir` and wrap it as a forecaster with `knobs`."""
    return TotoForecaster(load_checkpoint(checkpoint_dir), name=name, seed=seed, device=device,
                          **knobs)
