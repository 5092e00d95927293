"""Fine-tuning losses on the Toto mixture (plan 3.1), per position, averaged over the masked
positions of scaled targets.

- `nll`: negative log-likelihood of the Student-t mixture;
- `huber`: Huber loss of the mixture mean (robust point loss, `delta` in scaled units);
- `heteroscedastic`: Gaussian NLL with the mixture's mean and variance as the predicted mean
  and variance, 0.5 (log(2 pi var) + (y - mean)^2 / var).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cryptocast.models.toto.distribution import StudentTMixture

LOSSES = ("nll", "huber", "heteroscedastic")


def mixture_variance(mixture: StudentTMixture) -> torch.Tensor:
    """Var of the mixture: sum_k w_k (scale_k^2 df_k / (df_k - 2) + loc_k^2) - mean^2 (df > 2)."""
    w = F.softmax(mixture.logits, dim=-1)
    second = (w * (mixture.scale**2 * mixture.df / (mixture.df - 2) + mixture.loc**2)).sum(-1)
    return (second - mixture.mean**2).clamp_min(1e-12)


def _masked_mean(per_position: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return per_position.mean()
    mask = mask.to(per_position.dtype)
    return (per_position * mask).sum() / mask.sum().clamp_min(1.0)


def finetune_loss(kind: str, mixture: StudentTMixture, target: torch.Tensor,
                  mask: torch.Tensor | None = None, delta: float = 1.0) -> torch.Tensor:
    """The fine-tuning loss `kind` (one of LOSSES) of scaled targets under `mixture`."""
    if kind == "nll":
        per_position = -mixture.log_prob(target)
    elif kind == "huber":
        per_position = F.huber_loss(mixture.mean, target, reduction="none", delta=delta)
    elif kind == "heteroscedastic":
        var = mixture_variance(mixture)
        per_position = 0.5 * (torch.log(2 * math.pi * var) + (target - mixture.mean) ** 2 / var)
    else:
        raise ValueError(f"finetune loss must be one of {list(LOSSES)}, got {kind!r}")
    return _masked_mean(per_position, mask)
