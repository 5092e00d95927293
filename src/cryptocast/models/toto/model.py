"""The Toto model: causal patch scaling, patch embedding, transformer, unembed, mixture head.

Module tree and parameter names follow the official `toto-ts` layout, so the state dict of
`Toto` has the same keys and shapes as the official checkpoint (`model.patch_embed...`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from cryptocast.models.toto.config import TotoConfig
from cryptocast.models.toto.distribution import MixtureOfStudentTsOutput, StudentTMixture
from cryptocast.models.toto.layers import KVCache, Transformer
from cryptocast.models.toto.scaler import causal_patch_scale


class TotoOutput(NamedTuple):
    """Mixture over the predicted steps (scaled units), and loc/scale [batch, variate, time]
    to map them back: value = sample * scale + loc (loc/scale aligned with the output steps)."""

    distribution: StudentTMixture
    loc: torch.Tensor
    scale: torch.Tensor

    def map(self, fn) -> TotoOutput:
        """Apply `fn` to every tensor, the mixture's parameters [..., k] and loc/scale."""
        return TotoOutput(self.distribution.map(fn), fn(self.loc), fn(self.scale))


class PatchEmbedding(nn.Module):
    """Non-overlapping patches of each variate, one linear layer patch_size -> embed_dim."""

    def __init__(self, patch_size: int, stride: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.stride = stride
        self.projection = nn.Linear(patch_size, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x.unfold(-1, self.patch_size, self.stride))


class TotoBackbone(nn.Module):
    """Maps a (left-padded) series [batch, variate, time] to next-patch predictive mixtures."""

    def __init__(self, config: TotoConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbedding(config.patch_size, config.stride, config.embed_dim)
        self.transformer = Transformer(
            num_layers=config.num_layers,
            embed_dim=config.embed_dim,
            num_heads=config.num_heads,
            mlp_hidden_dim=config.mlp_hidden_dim,
            dropout=config.dropout,
            spacewise_every_n_layers=config.spacewise_every_n_layers,
            spacewise_first=config.spacewise_first,
        )
        self.unembed = nn.Linear(config.embed_dim, config.embed_dim * config.patch_size)
        self.output_distribution = MixtureOfStudentTsOutput(config.embed_dim, config.k_components)

    def forward(
        self,
        inputs: torch.Tensor,
        padding_mask: torch.Tensor,
        kv_cache: KVCache | None = None,
        scaling_prefix_length: int | None = None,
        last_patch_only: bool = False,
    ) -> TotoOutput:
        """Output step t predicts input step t + patch_size.

        With a `kv_cache` that already holds earlier patches, only the patches not yet in the
        cache are run (the scaler still sees the whole series). `last_patch_only` keeps only
        the distribution of the next patch (the one after the input).
        """
        cfg = self.config
        if inputs.ndim != 3:
            raise ValueError(f"Toto: inputs must be [batch, variate, time], got {inputs.shape}")
        scaled, loc, scale = causal_patch_scale(
            inputs,
            padding_mask,
            cfg.patch_size,
            stabilize_with_global=cfg.stabilize_with_global,
            scale_factor_exponent=cfg.scale_factor_exponent,
            prefix_length=scaling_prefix_length,
        )
        if kv_cache is not None:
            done = kv_cache.seq_len(self._first_timewise) * cfg.patch_size
            scaled, loc, scale = scaled[..., done:], loc[..., done:], scale[..., done:]
        hidden = self.transformer(self.patch_embed(scaled), kv_cache, last_only=last_patch_only)
        if last_patch_only:
            loc, scale = loc[..., -cfg.patch_size :], scale[..., -cfg.patch_size :]
        b, v, s, d = hidden.shape
        flat = self.unembed(hidden).view(b, v, s * cfg.patch_size, d)
        return TotoOutput(self.output_distribution(flat), loc, scale)

    @property
    def _first_timewise(self) -> int:
        return next(i for i, layer in enumerate(self.transformer.layers) if layer.timewise)


class Toto(nn.Module):
    """Official top-level wrapper: the backbone lives under `model`, hence the key prefix."""

    def __init__(self, config: TotoConfig) -> None:
        super().__init__()
        self.config = config
        self.model = TotoBackbone(config)

    def forward(self, *args, **kwargs) -> TotoOutput:
        return self.model(*args, **kwargs)
