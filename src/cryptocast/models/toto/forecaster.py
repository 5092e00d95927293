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
from cryptocast.forecast.base import Context, Forecast
from cryptocast.models.toto.checkpoint import load_checkpoint
from cryptocast.models.toto.layers import KVCache
from cryptocast.models.toto.model import Toto, TotoOutput
from cryptocast.models.toto.scaler import price_units
from cryptocast.runtime import autocast


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
        `context_length` values and draws from its own generator seeded by `seeds[i]` (default:
        the forecaster's seed). Each series runs through the model alone (batch of one):
        batched kernels round differently for other batch shapes, and a forecast must not
        depend on what else is forecast with it."""
        if horizon <= 0:
            raise ValueError(f"Toto forecaster: horizon must be positive, got {horizon}")
        seeds = [self.seed] * len(series) if seeds is None else list(seeds)
        if len(seeds) != len(series):
            raise ValueError(f"Toto forecaster: {len(seeds)} seeds for {len(series)} series")
        out = np.empty((len(series), self.knobs.num_samples, horizon))
        for i, values in enumerate(series):
            values = np.asarray(values, dtype=np.float64)[-self.context_length :]
            if len(values) == 0 or not np.isfinite(values).all():
                raise ValueError(f"Toto forecaster: series {i} is empty or not finite")
            unit = price_units(values[None], np.ones((1, len(values)), bool), len(values),
                               self.model.config.price_reference)[0]
            values = values / unit
            length = math.ceil(len(values) / self.patch_size) * self.patch_size
            x = torch.zeros(1, 1, length, dtype=self.dtype)
            x[0, 0, length - len(values) :] = torch.tensor(values, dtype=self.dtype)
            mask = torch.zeros(1, 1, length, dtype=torch.bool)
            mask[0, 0, length - len(values) :] = True
            generator = torch.Generator().manual_seed(seeds[i])
            with torch.inference_mode(), autocast(self.device):
                out[i] = self._sample_series(x.to(self.device), mask.to(self.device), horizon,
                                             generator)[0].numpy() * unit
        return out

    @staticmethod
    def _draw(output: TotoOutput, steps: int, num: int,
              generator: torch.Generator) -> torch.Tensor:
        """[batch, num, steps] values (float64, on the CPU) of the first `steps` steps of the
        predicted patch. The draws are made on the CPU from a CPU generator, so a seed gives
        the same samples on every device (up to the model's rounding)."""
        mixture = output.distribution.map(lambda t: _host(t[:, 0, :steps]))
        draws = mixture.sample(num, generator).double()  # [batch, steps, num]
        loc = output.loc[:, 0, :steps, None].double().cpu()
        scale = output.scale[:, 0, :steps, None].double().cpu()
        return (draws * scale + loc).transpose(1, 2)

    def _sample_series(self, x: torch.Tensor, mask: torch.Tensor, horizon: int,
                       generator: torch.Generator) -> torch.Tensor:
        """[1, num_samples, horizon] samples for one series x [1, 1, T]."""
        p, n_samples = self.patch_size, self.knobs.num_samples
        n_patches = math.ceil(horizon / p)
        length = x.shape[-1]
        cache = KVCache() if n_patches > 1 else None
        first = self.model(
            x, mask, kv_cache=cache, scaling_prefix_length=length, last_patch_only=True
        )
        draws = self._draw(first, min(horizon, p), n_samples, generator)
        if n_patches == 1:
            return draws
        chunks = []
        for start in range(0, n_samples, self.knobs.samples_per_batch):
            part = draws[:, start : start + self.knobs.samples_per_batch]
            count = part.shape[1]
            chunk_cache = cache.repeat_interleave(count)
            xs = torch.cat((x.repeat_interleave(count, 0),
                            part.reshape(-1, 1, p).to(x.device, x.dtype)), -1)
            ones = torch.ones(count, 1, p, dtype=torch.bool, device=x.device)
            ms = torch.cat((mask.repeat_interleave(count, 0), ones), -1)
            for _ in range(n_patches - 1):
                out = self.model(
                    xs, ms, kv_cache=chunk_cache, scaling_prefix_length=length,
                    last_patch_only=True,
                )
                step = self._draw(out, p, 1, generator).reshape(-1, 1, p)
                xs = torch.cat((xs, step.to(x.device, x.dtype)), -1)
                ms = torch.cat((ms, ones), -1)
            # keep the float64 first patch; later patches come back through the float inputs
            later = xs[:, 0, length + p :].double().cpu().view(1, count, -1)
            chunks.append(torch.cat((part, later), -1)[..., :horizon])
        return torch.cat(chunks, dim=1)


def _host(t: torch.Tensor) -> torch.Tensor:
    """`t` on the CPU, in float32 at least (bf16 under CUDA autocast)."""
    return t.to("cpu", torch.promote_types(t.dtype, torch.float32))


def build_forecaster(checkpoint_dir: str | Path, name: str, seed: int,
                     device: str | torch.device = "cpu", **knobs) -> TotoForecaster:
    """Load the checkpoint in `checkpoint_dir` and wrap it as a forecaster with `knobs`."""
    return TotoForecaster(load_checkpoint(checkpoint_dir), name=name, seed=seed, device=device,
                          **knobs)
