"""Transformer pieces shared by the Kronos tokenizer and predictor (official parameter names).

Besides the usual full-sequence causal pass, attention supports a *shared-prefix* pass: many
sample paths (axis S) continue one context whose keys/values are computed once per series
(`prefix`, [B, h, T, hd]), each path attending to that prefix plus its own suffix
([B, h, S, m, hd]). This is exact causal attention without repeating the context per sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

KV = tuple[torch.Tensor, torch.Tensor]


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned scale."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class FeedForward(nn.Module):
    """SwiGLU feed-forward: w2(silu(w1 x) * w3 x)."""

    def __init__(self, d_model: int, ff_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, ff_dim, bias=False)
        self.w3 = nn.Linear(d_model, ff_dim, bias=False)
        self.w2 = nn.Linear(ff_dim, d_model, bias=False)
        self.ffn_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn_dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (base 10000, rotate-half); `inv_freq` is a persistent buffer
    as in the official checkpoints."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate x [..., L, hd] by the integer positions [L]."""
        freqs = positions.to(self.inv_freq.dtype)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * emb.cos().to(x.dtype) + rotated * emb.sin().to(x.dtype)


def prefix_attention(q: torch.Tensor, prefix: KV, suffix: KV, causal: bool) -> torch.Tensor:
    """Attention of per-path queries q [B,h,S,n,hd] over a shared prefix and per-path suffix.

    The n queries are the last n suffix positions; `causal` hides later suffix keys from them.
    """
    k_pre, v_pre = prefix
    k_suf, v_suf = suffix
    scale = q.shape[-1] ** -0.5
    s_pre = torch.einsum("bhsnd,bhtd->bhsnt", q, k_pre) * scale
    s_suf = torch.einsum("bhsnd,bhsmd->bhsnm", q, k_suf) * scale
    n, m = q.shape[3], k_suf.shape[3]
    if causal and n > 1:
        allowed = torch.ones(n, m, dtype=torch.bool, device=q.device).tril(m - n)
        s_suf = s_suf.masked_fill(~allowed, float("-inf"))
    weights = torch.cat((s_pre, s_suf), dim=-1).softmax(dim=-1)
    t = k_pre.shape[2]
    return torch.einsum("bhsnt,bhtd->bhsnd", weights[..., :t], v_pre) + torch.einsum(
        "bhsnm,bhsmd->bhsnd", weights[..., t:], v_suf
    )


class _Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, attn_dropout_p: float, resid_dropout_p: float):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.rotary = RotaryEmbedding(self.head_dim)
        self.attn_dropout_p = attn_dropout_p
        self.resid_dropout = nn.Dropout(resid_dropout_p)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """[..., L, d] -> [..., h, L, hd] (heads before the sequence axis)."""
        x = x.unflatten(-1, (self.n_heads, self.head_dim))
        return x.transpose(-3, -2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        return self.resid_dropout(self.out_proj(x.transpose(-3, -2).flatten(-2)))


class SelfAttention(_Attention):
    """Causal multi-head self-attention with rotary positions."""

    def keys_values(self, x: torch.Tensor) -> KV:
        """Rotated keys and values of x [N, L, d], each [N, h, L, hd]."""
        pos = torch.arange(x.shape[1], device=x.device)
        return self.rotary(self._heads(self.k_proj(x)), pos), self._heads(self.v_proj(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, KV]:
        """Full causal pass over x [N, L, d]; also returns the rotated keys and values."""
        q = self.rotary(self._heads(self.q_proj(x)), torch.arange(x.shape[1], device=x.device))
        k, v = self.keys_values(x)
        drop = self.attn_dropout_p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        return self._merge(out), (k, v)

    def forward_suffix(
        self, x: torch.Tensor, prefix: KV, past: KV | None
    ) -> tuple[torch.Tensor, KV]:
        """Per-path continuation x [B, S, n, d] after the prefix and `past` suffix keys/values."""
        start = prefix[0].shape[2] + (0 if past is None else past[0].shape[3])
        pos = torch.arange(start, start + x.shape[2], device=x.device)
        q = self.rotary(self._heads(self.q_proj(x)), pos).transpose(1, 2)  # [B,h,S,n,hd]
        k = self.rotary(self._heads(self.k_proj(x)), pos).transpose(1, 2)
        v = self._heads(self.v_proj(x)).transpose(1, 2)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=3), torch.cat((past[1], v), dim=3)
        out = prefix_attention(q, prefix, (k, v), causal=True)
        return self._merge(out.transpose(1, 2)), (k, v)


class CrossAttention(_Attention):
    """Cross-attention of the dependency-aware layer.

    Teacher-forced (query length == key length): causal with rotary positions in every mode.
    The official layer is causal only in training mode, so its eval-mode teacher-forced s2
    logits at position t attend to hidden states after t, a look-ahead that makes validation
    cross-entropy look better than any forecast can be; we keep it causal (deliberately).
    Both agree at the last position, the only one sampling uses. Sampling (one query per
    path): the official model rotates by the query length (1 -> position 0, the identity) and
    attends to every hidden state without a mask.
    """

    def forward(self, query: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(query.shape[1], device=query.device)
        q = self.rotary(self._heads(self.q_proj(query)), pos)
        k = self.rotary(self._heads(self.k_proj(memory)), pos)
        v = self._heads(self.v_proj(memory))
        drop = self.attn_dropout_p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        return self._merge(out)

    def memory_kv(self, memory: torch.Tensor) -> KV:
        """Keys/values of hidden states [..., L, d] for sampling (no rotation)."""
        return self._heads(self.k_proj(memory)), self._heads(self.v_proj(memory))

    def sample_step(self, query: torch.Tensor, prefix: KV, suffix: KV | None) -> torch.Tensor:
        """One query per path, query [B, S, d], over shared prefix + per-path suffix memory."""
        q = self._heads(self.q_proj(query[:, :, None, :])).transpose(1, 2)  # [B,h,S,1,hd]
        if suffix is None:
            b, h, s = q.shape[:3]
            empty = q.new_zeros(b, h, s, 0, q.shape[-1])
            suffix = (empty, empty)
        out = prefix_attention(q, prefix, suffix, causal=False)
        return self._merge(out.transpose(1, 2))[:, :, 0, :]


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(norm1 x), then + ffn(norm2 x)."""

    def __init__(self, d_model: int, n_heads: int, ff_dim: int, ffn_dropout_p: float = 0.0,
                 attn_dropout_p: float = 0.0, resid_dropout_p: float = 0.0) -> None:
        super().__init__()
        self.norm1 = RMSNorm(d_model)
        self.self_attn = SelfAttention(d_model, n_heads, attn_dropout_p, resid_dropout_p)
        self.norm2 = RMSNorm(d_model)
        self.ffn = FeedForward(d_model, ff_dim, ffn_dropout_p)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, KV]:
        attn, kv = self.self_attn(self.norm1(x))
        x = x + attn
        return x + self.ffn(self.norm2(x)), kv

    def forward_suffix(
        self, x: torch.Tensor, prefix: KV, past: KV | None
    ) -> tuple[torch.Tensor, KV]:
        attn, kv = self.self_attn.forward_suffix(self.norm1(x), prefix, past)
        x = x + attn
        return x + self.ffn(self.norm2(x)), kv


def run_blocks(blocks: Sequence[nn.Module], x: torch.Tensor) -> tuple[torch.Tensor, list[KV]]:
    """Full causal pass through blocks; returns the output and each block's keys/values."""
    cache = []
    for block in blocks:
        x, kv = block(x)
        cache.append(kv)
    return x, cache


def blocks_keys_values(blocks: nn.ModuleList, x: torch.Tensor) -> list[KV]:
    """run_blocks' keys/values alone: the last block's attention and feed-forward, which no
    key or value depends on, are skipped."""
    if not blocks:
        return []
    *first, last = blocks
    x, cache = run_blocks(first, x)
    return [*cache, last.self_attn.keys_values(last.norm1(x))]


def run_blocks_suffix(blocks: nn.ModuleList, x: torch.Tensor, prefix: list[KV],
                      past: list[KV] | None) -> tuple[torch.Tensor, list[KV]]:
    """Per-path continuation through blocks with shared-prefix caches."""
    new = []
    for i, block in enumerate(blocks):
        x, kv = block.forward_suffix(x, prefix[i], None if past is None else past[i])
        new.append(kv)
    return x, new


def sinusoid_table(size: int, d_model: int) -> torch.Tensor:
    """Fixed sin/cos table of the non-learned temporal embedding."""
    pos = torch.arange(size, dtype=torch.float32)[:, None]
    exponent = torch.arange(0, d_model, 2, dtype=torch.float32) / d_model
    div = torch.exp(-math.log(10000.0) * exponent)
    table = torch.zeros(size, d_model)
    table[:, 0::2] = torch.sin(pos * div)
    table[:, 1::2] = torch.cos(pos * div)
    return table
