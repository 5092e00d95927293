"""Causal patch scaler: per-patch mean/std from everything up to the end of that patch."""

from __future__ import annotations

import numpy as np
import torch


def causal_patch_scale(
    data: torch.Tensor,
    padding_mask: torch.Tensor,
    patch_size: int,
    minimum_scale: float = 0.1,
    stabilize_with_global: bool = True,
    scale_factor_exponent: float = 10.0,
    prefix_length: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scale `data` [batch, variate, time] patch by patch, causally.

    The running mean and Bessel-corrected variance (Welford, float64, padded steps weigh 0)
    are read at the last step of each patch and applied to the whole patch;
    scale = sqrt(variance + minimum_scale). With `stabilize_with_global` the scale is clamped to
    [global * 10^-e, global * 10^e] (global stats over the first `prefix_length` steps, or all).
    Returns (scaled, loc, scale), loc/scale tiled to the shape of `data`.
    """
    if data.ndim != 3 or data.shape != padding_mask.shape:
        raise ValueError(
            f"causal_patch_scale: data and padding_mask must be [batch, variate, time] of one "
            f"shape, got {tuple(data.shape)} and {tuple(padding_mask.shape)}"
        )
    if data.shape[-1] % patch_size:
        raise ValueError(
            f"causal_patch_scale: time steps ({data.shape[-1]}) must be a multiple of "
            f"patch_size ({patch_size})"
        )
    x = data.to(torch.float64)
    w = padding_mask.to(torch.float64)
    count = torch.cumsum(w, dim=-1).clamp_min(1.0)
    mean = torch.cumsum(w * x, dim=-1) / count
    prev_mean = torch.nn.functional.pad(mean[..., :-1], (1, 0))
    m2 = torch.cumsum((x - prev_mean) * (x - mean) * w, dim=-1)
    scale = torch.sqrt(m2 / (count - 1.0).clamp_min(1.0) + minimum_scale)
    if stabilize_with_global:
        gw = w.clone()
        if prefix_length is not None:
            gw[..., prefix_length:] = 0.0
        g_count = gw.sum(-1, keepdim=True).clamp_min(1.0)
        g_mean = torch.nan_to_num((gw * x).sum(-1, keepdim=True) / g_count)
        g_var = (((x - g_mean) * gw) ** 2).sum(-1, keepdim=True) / g_count
        g_scale = torch.sqrt(g_var + minimum_scale)
        lower = torch.clamp_min(g_scale * 10.0 ** (-scale_factor_exponent), minimum_scale)
        scale = torch.minimum(torch.maximum(scale, lower), g_scale * 10.0**scale_factor_exponent)
    loc = mean[..., patch_size - 1 :: patch_size].to(data.dtype)
    scale = scale[..., patch_size - 1 :: patch_size].to(data.dtype)
    loc = loc.repeat_interleave(patch_size, dim=-1)
    scale = scale.repeat_interleave(patch_size, dim=-1)
    return (data - loc) / scale, loc, scale


def price_units(x: np.ndarray, mask: np.ndarray, lookback: int,
                reference: float | None) -> np.ndarray:
    """Each row's unit of price [N] for a model whose inputs are in units of the last context
    close / `reference` (TotoConfig.price_reference): the last observed value among the first
    `lookback` positions of x [N, T] (the first observed one when none), / reference; ones for
    raw prices (reference None)."""
    x, mask = np.asarray(x, np.float64), np.asarray(mask, bool)
    if reference is None:
        return np.ones(len(x))
    seen = mask[:, :lookback]
    last = np.where(seen.any(1), lookback - 1 - np.argmax(seen[:, ::-1], axis=1),
                    np.argmax(mask, axis=1))
    return x[np.arange(len(x)), last] / reference
