"""Kronos predictor: hierarchical token embedding + temporal embedding + causal transformer,
with an s1 head and a dependency-aware s2 head (official parameter names)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import PredictorConfig
from .layers import (
    KV,
    CrossAttention,
    RMSNorm,
    TransformerBlock,
    run_blocks,
    run_blocks_suffix,
    sinusoid_table,
)

TIME_SIZES = {"minute": 60, "hour": 24, "weekday": 7, "day": 32, "month": 13}


class HierarchicalEmbedding(nn.Module):
    """emb_s1 and emb_s2 (scaled by sqrt(d_model)), concatenated and fused."""

    def __init__(self, s1_bits: int, s2_bits: int, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.emb_s1 = nn.Embedding(2**s1_bits, d_model)
        self.emb_s2 = nn.Embedding(2**s2_bits, d_model)
        self.fusion_proj = nn.Linear(2 * d_model, d_model)

    def forward(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor) -> torch.Tensor:
        scale = math.sqrt(self.d_model)
        both = torch.cat((self.emb_s1(s1_ids) * scale, self.emb_s2(s2_ids) * scale), dim=-1)
        return self.fusion_proj(both)


class FixedEmbedding(nn.Module):
    """Frozen sinusoid table (official name: `<field>_embed.emb.weight`)."""

    def __init__(self, size: int, d_model: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(size, d_model)
        self.emb.weight = nn.Parameter(sinusoid_table(size, d_model), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.emb(x).detach()


class TemporalEmbedding(nn.Module):
    """Sum of minute, hour, weekday, day and month embeddings of stamp [..., 5]."""

    def __init__(self, d_model: int, learn_te: bool) -> None:
        super().__init__()
        make = nn.Embedding if learn_te else FixedEmbedding
        for name, size in TIME_SIZES.items():
            setattr(self, f"{name}_embed", make(size, d_model))

    def forward(self, stamp: torch.Tensor) -> torch.Tensor:
        stamp = stamp.long()
        return sum(
            getattr(self, f"{name}_embed")(stamp[..., i]) for i, name in enumerate(TIME_SIZES)
        )


class DependencyAwareLayer(nn.Module):
    """norm(hidden + cross_attn(query=s1 embedding, keys/values=hidden))."""

    def __init__(self, d_model: int, n_heads: int = 4) -> None:
        super().__init__()
        self.cross_attn = CrossAttention(d_model, n_heads, 0.0, 0.0)
        self.norm = RMSNorm(d_model)

    def forward(self, hidden: torch.Tensor, sibling: torch.Tensor) -> torch.Tensor:
        return self.norm(hidden + self.cross_attn(sibling, hidden))


class DualHead(nn.Module):
    def __init__(self, s1_bits: int, s2_bits: int, d_model: int) -> None:
        super().__init__()
        self.proj_s1 = nn.Linear(d_model, 2**s1_bits)
        self.proj_s2 = nn.Linear(d_model, 2**s2_bits)


class Kronos(nn.Module):
    """The Kronos autoregressive predictor over (s1, s2) token pairs."""

    def __init__(self, config: PredictorConfig) -> None:
        super().__init__()
        self.config = c = config
        self.token_drop = nn.Dropout(c.token_dropout_p)
        self.embedding = HierarchicalEmbedding(c.s1_bits, c.s2_bits, c.d_model)
        self.time_emb = TemporalEmbedding(c.d_model, c.learn_te)
        self.transformer = nn.ModuleList(
            TransformerBlock(c.d_model, c.n_heads, c.ff_dim, c.ffn_dropout_p, c.attn_dropout_p,
                             c.resid_dropout_p)
            for _ in range(c.n_layers)
        )
        self.norm = RMSNorm(c.d_model)
        self.dep_layer = DependencyAwareLayer(c.d_model)
        self.head = DualHead(c.s1_bits, c.s2_bits, c.d_model)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.xavier_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding) and module.weight.requires_grad:
            nn.init.normal_(module.weight, mean=0.0, std=self.config.d_model**-0.5)

    def _inputs(self, s1: torch.Tensor, s2: torch.Tensor, stamp: torch.Tensor) -> torch.Tensor:
        return self.token_drop(self.embedding(s1, s2) + self.time_emb(stamp))

    def forward(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor, stamp: torch.Tensor,
                s1_targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced pass: ids/stamp [N, L(, 5)] -> (s1 logits, s2 logits given s1_targets)."""
        hidden = self.context(s1_ids, s2_ids, stamp)[0]
        s2_hidden = self.dep_layer(hidden, self.embedding.emb_s1(s1_targets))
        return self.head.proj_s1(hidden), self.head.proj_s2(s2_hidden)

    def context(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor,
                stamp: torch.Tensor) -> tuple[torch.Tensor, list[KV]]:
        """Causal pass over tokens [B, T]: normed hidden states [B, T, d] and per-layer K/V."""
        x, cache = run_blocks(self.transformer, self._inputs(s1_ids, s2_ids, stamp))
        return self.norm(x), cache

    def step(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor, stamp: torch.Tensor,
             prefix: list[KV], past: list[KV] | None) -> tuple[torch.Tensor, list[KV]]:
        """Per-path new tokens [B, S, 1] (stamp [B, 5]) after the cached context.

        Returns normed hidden states [B, S, 1, d] and the updated per-path K/V.
        """
        x = self._inputs(s1_ids, s2_ids, stamp[:, None, None])
        x, new = run_blocks_suffix(self.transformer, x, prefix, past)
        return self.norm(x), new

    def s2_logits(self, s1_ids: torch.Tensor, prefix: KV, suffix: KV | None,
                  last_hidden: torch.Tensor) -> torch.Tensor:
        """s2 logits [B, S, V2] for the chosen s1 [B, S] of each path.

        prefix/suffix: dep-layer memory K/V of the shared and per-path hidden states;
        last_hidden [B, S, d] (or [B, 1, d] when shared): the hidden state being extended.
        """
        attn = self.dep_layer.cross_attn.sample_step(self.embedding.emb_s1(s1_ids), prefix, suffix)
        return self.head.proj_s2(self.dep_layer.norm(last_hidden + attn))
