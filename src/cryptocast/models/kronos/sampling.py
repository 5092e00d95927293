"""Token sampling and the shared-context autoregressive generation loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .predictor import Kronos
from .tokenizer import KronosTokenizer


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling knobs: top-k (when > 0) takes precedence over top-p, as in the reference, so
    top_p is then set to 1.0 (configs of one distribution compare equal)."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.9
    sample_count: int = 1

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.sample_count < 1:
            raise ValueError(f"sample_count must be >= 1, got {self.sample_count}")
        if self.top_k > 0:
            object.__setattr__(self, "top_p", 1.0)


def filtered_probs(logits: torch.Tensor, cfg: SamplingConfig,
                   order: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax of logits / T after top-k or nucleus (top-p) filtering, along the last axis.

    `order`: the descending sort order of `logits` along the last axis, when the caller keeps
    it (it does not depend on the temperature), which saves the sort.
    """
    logits = logits / cfg.temperature
    if cfg.top_k > 0:
        k = min(cfg.top_k, logits.shape[-1])
        # the k-th largest value; a partial selection, the same value a full sort gives
        kth = (logits.gather(-1, order[..., k - 1 : k]) if order is not None
               else torch.topk(logits, k, dim=-1, sorted=False).values.amin(-1, keepdim=True))
        logits = logits.masked_fill(logits < kth, float("-inf"))
    elif cfg.top_p < 1.0:
        if order is None:
            sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        else:
            sorted_logits = logits.gather(-1, order)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop tokens once the mass before them already exceeds top_p (the first always stays).
        drop_sorted = torch.zeros_like(cumulative, dtype=torch.bool)
        drop_sorted[..., 1:] = cumulative[..., :-1] > cfg.top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits.softmax(-1)


Generators = Sequence[torch.Generator | None] | None


def draw(probs: torch.Tensor, n: int, generators: Generators,
         rows: torch.Tensor | None = None) -> torch.Tensor:
    """n independent draws per row of probs [B, ..., V] -> ids [B, ..., n], by inverse CDF
    (float64): series b's uniforms come from generators[b] (None: torch's global generator),
    so its ids do not depend on the others, and a row's draw depends only on that row.
    `rows` [B, S]: draw for the rows probs[b, rows[b]] instead ([B, S, n]), so rows that
    share a distribution compute it once."""
    if generators is None:
        generators = [None] * probs.shape[0]
    if len(generators) != probs.shape[0]:
        raise ValueError(f"draw: {len(generators)} generators for {probs.shape[0]} series")
    cdf = probs.double().cumsum(-1)
    each_rows = [None] * len(cdf) if rows is None else rows
    return torch.stack([draw_from_cdf(c, n, g, r)
                        for c, g, r in zip(cdf, generators, each_rows, strict=True)])


def distinct_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per series b, the distinct rows of rows[b] [S, ...]: (distinct [B, U, ...], each
    series' padded with copies of its first one; inverse [B, S], rows[b] ==
    distinct[b, inverse[b]])."""
    found = [unique_rows(r) for r in rows]
    width = max(len(u) for u, _ in found)
    distinct = torch.stack([torch.cat((u, u[:1].expand(width - len(u), *u.shape[1:])))
                            for u, _ in found])
    return distinct, torch.stack([inverse for _, inverse in found])


def unique_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`torch.unique(rows, dim=0, return_inverse=True)` for integer rows [S, ...]: the distinct
    rows in lexicographic order [U, ...] and inverse [S]. Computed column by column as the
    dense rank of (rank so far, column): on 320 rows 10 us for one column and 57 for two,
    where torch's dim=0 version takes 490."""
    rank = torch.zeros(len(rows), dtype=torch.long, device=rows.device)
    for column in rows.reshape(len(rows), -1).T:
        shifted = column.long() - column.min()
        rank = torch.unique(rank * (int(shifted.max()) + 1) + shifted, return_inverse=True)[1]
    distinct = rows.new_empty((int(rank.max()) + 1, *rows.shape[1:]))
    distinct[rank] = rows  # equal rows write equal values
    return distinct, rank


def draw_from_cdf(cdf: torch.Tensor, n: int, generator: torch.Generator | None,
                  rows: torch.Tensor | None = None) -> torch.Tensor:
    """n draws per row of an unnormalised float64 CDF [..., V] -> ids [..., n], or per row of
    cdf[rows] for `rows` [S] into cdf [U, V] -> ids [S, n]. The uniforms come from the CPU
    (`generator` is a CPU one), so a seed draws alike on every device."""
    shape = cdf.shape[:-1] if rows is None else rows.shape
    u = torch.rand((*shape, n), generator=generator, dtype=torch.float64).to(cdf.device)
    # right=True skips tokens of zero probability (flat steps of the CDF)
    if rows is None:
        ids = torch.searchsorted(cdf, u * cdf[..., -1:], right=True)
    else:  # every distinct row searches all uniforms (U x S searches, no [S, V] copy of cdf);
        # each draw keeps its own row's result: the same products and comparisons as cdf[rows]
        every = torch.searchsorted(cdf, u.view(1, -1) * cdf[:, -1:], right=True)
        ids = every.view(len(cdf), len(rows), n)[rows, torch.arange(len(rows), device=cdf.device)]
    return ids.clamp_max(cdf.shape[-1] - 1)


@dataclass
class ContextPass:
    """What a forecast computes from the contexts before its first draw, per series b: the
    context's tokens, the predictor's pass and the decoder's keys/values over the window the
    paths are decoded in (and, when asked, the tokenizer's reconstruction of the last
    candle, in the same decoder pass)."""

    s1: torch.Tensor  # [B, T] context s1 ids
    s2: torch.Tensor  # [B, T] context s2 ids
    hidden: torch.Tensor  # [B, T, d] the predictor's normed hidden states
    kv: list  # the predictor's keys/values per layer
    memory: tuple  # the dependency layer's memory keys/values, each [B, h, T, hd]
    decoder: list  # the decoder's keys/values per layer over the decoder window
    last_recon: torch.Tensor | None  # [B, d_in] the last context candle reconstructed


@torch.no_grad()
def context_pass(tokenizer: KronosTokenizer, model: Kronos, x: torch.Tensor,
                 stamp: torch.Tensor, horizon: int, max_context: int,
                 reconstruct: bool = False) -> ContextPass:
    """The shared work of forecasting normalised inputs x [B, T, d_in] (stamp [B, T, 5])
    `horizon` candles ahead: the reference decodes the final window of max_context tokens, so
    the decoder window is the context's last max_context - horizon tokens."""
    s1, s2 = tokenizer.encode(x)
    hidden, kv = model.context(s1, s2, stamp)
    start = max(0, x.shape[1] + horizon - max_context)
    if reconstruct:
        recon, decoder = tokenizer.decode_with_prefix(s1[:, start:], s2[:, start:])
        last_recon = recon[:, -1]
    else:
        decoder, last_recon = tokenizer.decoder_prefix(s1[:, start:], s2[:, start:]), None
    return ContextPass(s1, s2, hidden, kv, model.dep_layer.cross_attn.memory_kv(hidden),
                       decoder, last_recon)


@torch.no_grad()
def generate(tokenizer: KronosTokenizer, model: Kronos, x: torch.Tensor, stamp: torch.Tensor,
             future_stamp: torch.Tensor, cfg: SamplingConfig, max_context: int,
             generators: Generators = None, reconstruct: bool = False
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sample paths for normalised inputs x [B, T, d_in] -> (decoded outputs [B, S, H, d_in],
    the last context candle as the tokenizer reconstructs it [B, d_in] with `reconstruct`,
    else None); series b draws from generators[b].

    The context is tokenised and run through the predictor once per series; only the sampled
    continuations are per path (shared-prefix attention), and each new step reuses the K/V
    cache. Requires T + H - 1 <= max_context (the whole horizon fits the predictor window).
    """
    horizon, t = future_stamp.shape[1], x.shape[1]
    if t + horizon - 1 > max_context:
        raise ValueError(f"context {t} + horizon {horizon} - 1 exceeds max_context {max_context}")
    ctx = context_pass(tokenizer, model, x, stamp, horizon, max_context, reconstruct)
    last = ctx.hidden[:, -1:, :]
    s1 = draw(filtered_probs(model.head.proj_s1(last[:, 0]), cfg), cfg.sample_count, generators)
    past, mem_suffix, s1_steps, s2_steps = None, None, [], []
    for i in range(horizon):
        if i > 0:
            h_new, past = model.step(s1_steps[-1][..., None], s2_steps[-1][..., None],
                                     future_stamp[:, i - 1], ctx.kv, past)
            last = h_new[:, :, 0]
            s1 = draw(filtered_probs(model.head.proj_s1(last), cfg), 1, generators)[..., 0]
            k, v = model.dep_layer.cross_attn.memory_kv(h_new)
            k, v = k.transpose(1, 2), v.transpose(1, 2)  # [B, h, S, 1, hd]
            mem_suffix = (k, v) if mem_suffix is None else (
                torch.cat((mem_suffix[0], k), 3), torch.cat((mem_suffix[1], v), 3))
        # at the first step the paths share their context, so the paths that drew the same s1
        # share their s2 logits: computed once per distinct s1
        queries, rows = distinct_rows(s1) if i == 0 else (s1, None)
        logits2 = model.s2_logits(queries, ctx.memory, mem_suffix, last)
        s2 = draw(filtered_probs(logits2, cfg), 1, generators, rows)[..., 0]
        s1_steps.append(s1)
        s2_steps.append(s2)
    # The decoder's context keys/values are shared by every path, and each distinct path is
    # decoded once.
    paths, inverse = distinct_rows(torch.stack(s1_steps + s2_steps, -1))  # [B, U, 2H]
    decoded = tokenizer.decode_suffix(paths[..., :horizon], paths[..., horizon:], ctx.decoder)
    return (torch.stack([d[r] for d, r in zip(decoded, inverse, strict=True)]),
            ctx.last_recon)
