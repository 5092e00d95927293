"""Transformer pieces of Toto: RMSNorm, xPos rotary embedding, time/space attention, SwiGLU."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * scale (parameter named `scale`, as in the reference)."""

    def __init__(self, dim: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / torch.sqrt(torch.mean(x * x, dim=-1, keepdim=True) + self.eps) * self.scale


class SwiGLU(nn.Module):
    """silu(gate) * value, with the gate in the FIRST half of the input (xFormers order)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = x.chunk(2, dim=-1)
        return F.silu(gate) * value


def _rotate_pairs(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Interleaved rotate-half along `dim` (negative): (x0, x1, x2, x3, ...) -> (-x1, x0, -x3,
    x2, ...)."""
    pairs = x.unflatten(dim, (-1, 2))
    return torch.stack((-pairs.select(dim, 1), pairs.select(dim, 0)), dim=dim).flatten(dim - 1,
                                                                                        dim)


class RotaryXPos(nn.Module):
    """Rotary embedding with xPos scaling, as `rotary_embedding_torch` + Toto's override compute it.

    Angles use interleaved pairs (theta 10000); the xPos scale base per pair is
    (2i + 0.4 d) / (1.4 d) raised to (pos - floor(max_pos / 2)) / 512, laid out as [s, s]
    (concatenated, not interleaved). Queries are multiplied by the scale, keys divided.
    Holds no persistent state (the official checkpoint's `rotary_emb.freqs` is not loaded).
    """

    def __init__(self, head_dim: int, theta: float = 10000.0, scale_base: float = 512.0) -> None:
        super().__init__()
        half = torch.arange(0, head_dim, 2).float()
        self.register_buffer("freqs", 1.0 / theta ** (half / head_dim), persistent=False)
        self.register_buffer("xpos", (half + 0.4 * head_dim) / (1.4 * head_dim), persistent=False)
        self.scale_base = scale_base
        self._tables: dict[tuple, tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]] = {}

    def tables(self, length: int, offset: int, dtype: torch.dtype, heads: int
               ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """Two (cos, sin, xPos scale) triples at positions offset .. offset+length-1: each
        [length, head_dim] (the queries'), and the same copied over `heads`, [length,
        head_dim, heads] (the keys'); kept per shape for inference mode only (tensors made
        there cannot enter autograd, and autograd's tables may not leave it)."""
        inference = torch.is_inference_mode_enabled()
        key = (length, offset, dtype, self.freqs.device, heads)
        if inference and key in self._tables:
            return self._tables[key]
        pos = torch.arange(length, device=self.freqs.device, dtype=torch.float32) + offset
        angles = (pos[:, None] * self.freqs[None, :]).repeat_interleave(2, dim=-1)
        power = (pos - torch.div(pos.max(), 2, rounding_mode="floor")) / self.scale_base
        scale = self.xpos[None, :] ** power[:, None]
        scale = torch.cat((scale, scale), dim=-1).to(dtype)
        plain = angles.cos().to(dtype), angles.sin().to(dtype), scale
        result = plain, tuple(t[..., None].expand(*t.shape, heads).contiguous() for t in plain)
        if inference:
            self._tables[key] = result
        return result

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, offset: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate keys k [n, heads, Lk, head_dim] at positions offset .. offset+Lk-1 and
        queries q [n, heads, Lq, head_dim] at the last Lq of them (q and k of one dtype)."""
        length = k.shape[-2]
        (cos, sin, scale), per_head = self.tables(length, offset, q.dtype, k.shape[1])
        last = slice(length - q.shape[-2], length)
        rq = (q * cos[last] + _rotate_pairs(q) * sin[last]) * scale[last]
        # k is a slice of the fused projection, heads fastest: rotating it in that layout
        # ([n, Lk, head_dim, heads]) runs 64-wide loops instead of loops over 4 heads, and
        # gives the same values in the same layout
        cos, sin, scale = per_head
        keys = k.permute(0, 2, 3, 1)
        rk = (keys * cos + _rotate_pairs(keys, -2) * sin) / scale
        return rq, rk.permute(0, 3, 1, 2)


class KVCache:
    """Keys/values of the time-wise layers, [batch*variate, heads, seq, head_dim] per layer."""

    def __init__(self) -> None:
        self.store: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def seq_len(self, layer_idx: int) -> int:
        return self.store[layer_idx][0].shape[-2] if layer_idx in self.store else 0

    def extend(
        self, layer_idx: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if layer_idx in self.store:
            old_k, old_v = self.store[layer_idx]
            k, v = torch.cat((old_k, k), dim=-2), torch.cat((old_v, v), dim=-2)
        self.store[layer_idx] = (k, v)
        return k, v

    def repeat_interleave(self, repeats: int) -> KVCache:
        """A copy where every batch row is repeated `repeats` times (row b -> b*repeats + j)."""
        out = KVCache()
        out.store = {
            i: (k.repeat_interleave(repeats, dim=0), v.repeat_interleave(repeats, dim=0))
            for i, (k, v) in self.store.items()
        }
        return out


class Attention(nn.Module):
    """Multi-head attention over time (causal, rotary) or over variates (bidirectional)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float, timewise: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.timewise = timewise
        self.wQKV = nn.Linear(embed_dim, 3 * embed_dim)  # noqa: N815 - official name
        self.wO = nn.Linear(embed_dim, embed_dim)  # noqa: N815 - official name

    def forward(
        self,
        x: torch.Tensor,
        layer_idx: int,
        rotary: RotaryXPos,
        kv_cache: KVCache | None = None,
        last_query: bool = False,
    ) -> torch.Tensor:
        """x: [batch, variate, seq, embed] -> same shape, or [batch, variate, 1, embed] for
        `last_query` (time-wise only: the last position's output, attending to every key)."""
        if last_query and not self.timewise:
            raise ValueError("Attention: last_query is for time-wise layers only")
        b, v, s, d = x.shape
        if not self.timewise and v == 1 and not (self.training and self.dropout):
            # attention over one variate is the identity on its values, bit for bit (softmax
            # of one score is 1): skip the kernel and its batch x seq sequences of length one
            values = self.wQKV(x)[..., 2 * d :].unflatten(-1, (self.head_dim, self.num_heads))
            return self.wO(values.transpose(-1, -2).flatten(-2))
        seqs = x.reshape(b * v, s, d) if self.timewise else x.transpose(1, 2).reshape(b * s, v, d)
        n, length = seqs.shape[0], seqs.shape[1]
        # The fused projection is laid out as (qkv, head_dim, heads): heads vary fastest.
        qkv = self.wQKV(seqs).view(n, length, 3, self.head_dim, self.num_heads)
        q, k, val = qkv.permute(2, 0, 4, 1, 3).unbind(0)  # each [n, heads, length, head_dim]
        if last_query:
            q = q[:, :, -1:]
        if not self.training:  # faster element-wise work; k keeps its layout (see `attend`)
            q, val = q.contiguous(), val.contiguous()
        causal = False
        if self.timewise:
            offset = kv_cache.seq_len(layer_idx) if kv_cache is not None else 0
            q, k = rotary(q, k, offset)
            if kv_cache is not None:
                k, val = kv_cache.extend(layer_idx, k, val)
            causal = offset == 0
            if last_query:  # the last position sees every key: no mask needed
                causal, length, s = False, 1, 1
        if self.training:
            out = F.scaled_dot_product_attention(q, k, val, dropout_p=self.dropout,
                                                 is_causal=causal)
        else:
            out = attend(q, k, val, causal)
        out = out.transpose(1, 2).reshape(n, length, d)
        out = out.view(b, v, s, d) if self.timewise else out.view(b, s, v, d).transpose(1, 2)
        return self.wO(out)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """Softmax attention of q [..., Lq, d] over k, v [..., Lk, d] (causal: query i sees keys
    up to i), computed as PyTorch's math kernel of `scaled_dot_product_attention` does, bit for
    bit, without its checks for fully masked rows (none here: a causal row sees its own key)
    and its copies of strided inputs: 1.5x as fast on the CPU for Toto's short sequences of
    many series (64 x 4 heads x 32 patches)."""
    root_scale = math.sqrt(1.0 / math.sqrt(q.shape[-1]))
    # the product's rounding depends on the layout of k: pass it as the kernel would get it
    scores = (q * root_scale) @ (k * root_scale).transpose(-2, -1)
    if causal:
        keep = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
        scores.masked_fill_(~keep, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


class TransformerLayer(nn.Module):
    """Pre-norm block: x + attn(norm1(x)), then + mlp(norm2(.)) with a SwiGLU MLP."""

    def __init__(
        self, embed_dim: int, num_heads: int, mlp_hidden_dim: int, dropout: float, timewise: bool
    ) -> None:
        super().__init__()
        self.timewise = timewise
        self.norm1 = RMSNorm(embed_dim)
        self.norm2 = RMSNorm(embed_dim)
        self.attention = Attention(embed_dim, num_heads, dropout, timewise)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, 2 * mlp_hidden_dim),
            SwiGLU(),
            nn.Linear(mlp_hidden_dim, embed_dim),
            nn.Dropout(dropout),
        )

    def forward(
        self, x: torch.Tensor, layer_idx: int, rotary: RotaryXPos, kv_cache: KVCache | None,
        last_query: bool = False,
    ) -> torch.Tensor:
        """x [batch, variate, seq, embed] -> same shape ([..., 1, embed] for `last_query`)."""
        attn = self.attention(self.norm1(x), layer_idx, rotary, kv_cache, last_query)
        x = (x[:, :, -1:] if last_query else x) + attn
        return x + self.mlp(self.norm2(x))


def layer_kinds(
    num_layers: int, spacewise_every_n_layers: int, spacewise_first: bool
) -> list[bool]:
    """True for a time-wise layer, False for a space-wise one, in stack order."""
    if spacewise_every_n_layers == -1:
        return [True] * num_layers
    block = [True] * (spacewise_every_n_layers - 1)
    block = [False, *block] if spacewise_first else [*block, False]
    return block * (num_layers // spacewise_every_n_layers)


class Transformer(nn.Module):
    """Stack of time-wise and space-wise layers sharing one rotary embedding."""

    def __init__(
        self,
        num_layers: int,
        embed_dim: int,
        num_heads: int,
        mlp_hidden_dim: int,
        dropout: float,
        spacewise_every_n_layers: int,
        spacewise_first: bool,
    ) -> None:
        super().__init__()
        self.rotary_emb = RotaryXPos(embed_dim // num_heads)
        kinds = layer_kinds(num_layers, spacewise_every_n_layers, spacewise_first)
        self.layers = nn.ModuleList(
            TransformerLayer(embed_dim, num_heads, mlp_hidden_dim, dropout, timewise)
            for timewise in kinds
        )

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None,
                last_only: bool = False) -> torch.Tensor:
        """x [batch, variate, seq, embed] -> same shape; `last_only`: the last position's
        output only ([..., 1, embed]), computed without the other positions' queries after
        the last time-wise layer's keys and values (space-wise layers act per position)."""
        cut = None
        if last_only:
            cut = max((i for i, layer in enumerate(self.layers) if layer.timewise), default=None)
            if cut is None:  # space-wise layers only
                x = x[:, :, -1:]
        for idx, layer in enumerate(self.layers):
            x = layer(x, idx, self.rotary_emb, kv_cache, last_query=idx == cut)
        return x
