"""Mixture of Student-t output head, its log-likelihood and a seeded sampler."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class StudentTMixture:
    """Per-position mixture parameters, each [..., k]: logits (mixture), df, loc, scale."""

    logits: torch.Tensor
    df: torch.Tensor
    loc: torch.Tensor
    scale: torch.Tensor

    def map(self, fn) -> StudentTMixture:
        """Apply `fn` to every parameter tensor (slicing, reshaping)."""
        return StudentTMixture(fn(self.logits), fn(self.df), fn(self.loc), fn(self.scale))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log density of x [...] under the mixture."""
        z = (x.unsqueeze(-1) - self.loc) / self.scale
        df = self.df
        comp = (
            torch.lgamma((df + 1) / 2)
            - torch.lgamma(df / 2)
            - 0.5 * torch.log(df * math.pi)
            - torch.log(self.scale)
            - (df + 1) / 2 * torch.log1p(z * z / df)
        )
        return torch.logsumexp(F.log_softmax(self.logits, dim=-1) + comp, dim=-1)

    @property
    def mean(self) -> torch.Tensor:
        """Mixture mean (df > 2 always, so every component mean exists)."""
        return (F.softmax(self.logits, dim=-1) * self.loc).sum(-1)

    def sample(self, num_samples: int, generators: Sequence[np.random.Generator]) -> np.ndarray:
        """Draw [B, ..., num_samples] float64 values per position, row b of the leading axis
        from generators[b] alone (so a row's draws do not depend on the other rows): each
        sample's component by inverse CDF of the weights, then that component's Student-t
        (loc + scale * t(df))."""
        if len(generators) != self.logits.shape[0]:
            raise ValueError(f"sample: {len(generators)} generators for "
                             f"{self.logits.shape[0]} rows")
        logits, df, loc, scale = (t.detach().cpu().double().numpy() for t in
                                  (self.logits, self.df, self.loc, self.scale))
        cdf = np.cumsum(np.exp(logits - logits.max(-1, keepdims=True)), -1)
        rows, k = len(generators), logits.shape[-1]
        bounds = (cdf[..., :-1] / cdf[..., -1:]).reshape(rows, -1, 1, k - 1)
        df, loc, scale = (a.reshape(rows, -1) for a in (df, loc, scale))
        first = k * np.arange(bounds.shape[1])[:, None]  # each position's first component
        out = np.empty((rows, bounds.shape[1], num_samples))
        for row, rng in enumerate(generators):
            uniform = rng.random(out.shape[1:])
            comp = first + _components(uniform, bounds[row])
            out[row] = loc[row, comp] + scale[row, comp] * rng.standard_t(df[row, comp])
        return out.reshape(*logits.shape[:-1], num_samples)


def _components(uniform: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """[positions, num] index of each uniform draw's component: the number of its position's
    bounds ([positions, 1, k - 1], ascending) at or below it."""
    # one pass per bound: 1.7x as fast as comparing against all bounds at once
    return sum(uniform >= bounds[..., j] for j in range(bounds.shape[-1]))


class MixtureOfStudentTsOutput(nn.Module):
    """Linear heads embed -> k: df = 2 + softplus, scale = softplus, weights = softmax(logits)."""

    def __init__(self, embed_dim: int, k_components: int) -> None:
        super().__init__()
        self.df = nn.Linear(embed_dim, k_components)
        self.loc_proj = nn.Linear(embed_dim, k_components)
        self.scale_proj = nn.Linear(embed_dim, k_components)
        self.mixture_weights = nn.Linear(embed_dim, k_components)

    def forward(self, h: torch.Tensor) -> StudentTMixture:
        eps = torch.finfo(h.dtype).eps
        return StudentTMixture(
            logits=self.mixture_weights(h),
            df=2.0 + F.softplus(self.df(h)).clamp_min(eps),
            loc=self.loc_proj(h),
            scale=F.softplus(self.scale_proj(h)).clamp_min(eps),
        )


def masked_mean(per_position: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the positions where `mask` is true (all if None)."""
    if mask is None:
        return per_position.mean()
    mask = mask.to(per_position.dtype)
    return (per_position * mask).sum() / mask.sum().clamp_min(1.0)


def nll_loss(
    mixture: StudentTMixture, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean negative log-likelihood over positions where `mask` is true (all if None)."""
    return masked_mean(-mixture.log_prob(target), mask)


def combined_loss(
    mixture: StudentTMixture,
    target: torch.Tensor,
    mask: torch.Tensor,
    lambda_nll: float = 0.575,
    delta: float = 0.1,
) -> torch.Tensor:
    """The reference training loss: lambda * NLL + (1 - lambda) * Cauchy loss on the mean,
    log1p(0.5 * ((mean - target) / delta)^2), averaged over masked positions."""
    robust = torch.log1p(0.5 * ((mixture.mean - target) / delta) ** 2)
    return masked_mean(lambda_nll * -mixture.log_prob(target) + (1 - lambda_nll) * robust, mask)


# The fine-tuning losses (plan 3.1), on scaled targets.
LOSSES = ("nll", "huber", "heteroscedastic")


def mixture_variance(mixture: StudentTMixture) -> torch.Tensor:
    """Var of the mixture: sum_k w_k (scale_k^2 df_k / (df_k - 2) + loc_k^2) - mean^2 (df > 2)."""
    w = F.softmax(mixture.logits, dim=-1)
    second = (w * (mixture.scale**2 * mixture.df / (mixture.df - 2) + mixture.loc**2)).sum(-1)
    return (second - mixture.mean**2).clamp_min(1e-12)


def finetune_loss(kind: str, mixture: StudentTMixture, target: torch.Tensor,
                  mask: torch.Tensor | None = None, delta: float = 1.0) -> torch.Tensor:
    """`nll` (the mixture's negative log-likelihood), `huber` (Huber loss of the mixture
    mean, `delta` in scaled units) or `heteroscedastic` (Gaussian NLL with the mixture's mean
    and variance, 0.5 (log(2 pi var) + (y - mean)^2 / var)), averaged over masked positions."""
    if kind == "nll":
        return nll_loss(mixture, target, mask)
    if kind == "huber":
        per_position = F.huber_loss(mixture.mean, target, reduction="none", delta=delta)
    elif kind == "heteroscedastic":
        var = mixture_variance(mixture)
        per_position = 0.5 * (torch.log(2 * math.pi * var) + (target - mixture.mean) ** 2 / var)
    else:
        raise ValueError(f"finetune loss must be one of {list(LOSSES)}, got {kind!r}")
    return masked_mean(per_position, mask)
