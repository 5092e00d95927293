"""Kronos sweeps without re-running the models: everything a horizon-1 forecast computes
before its first random draw is cached per window.

Per (window, context_length, clip): the tokenised context, the predictor's pass over it (the
s1 logits of the next token and the dependency layer's memory), the decoder's keys/values of
the context and the anchor's reconstruction of the last close, each computed for the window
alone, as the forecaster does. A trial that changes only temperature / top_p / top_k /
sample_count / anchor / aggregate then only draws tokens: the s2 logits of each s1 token drawn
and the close of each (s1, s2) pair decoded are memoised per window, and what is missing is
computed for a chunk of windows at once. The draws are `sampling.generate`'s, from the same
per-window generator, so the samples are the forecaster's. At horizon > 1 every path runs the
models again after its first step, so a trial runs the forecaster itself on its windows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from cryptocast.config import from_mapping
from cryptocast.evaluation.metrics import crps_from_samples
from cryptocast.forecast.aggregation import aggregate
from cryptocast.models.kronos import KronosForecaster, KronosKnobs, SamplingConfig
from cryptocast.models.kronos.inputs import (
    CLOSE,
    candle_features,
    denormalise,
    in_price_units,
    normalise,
    price_unit,
    time_stamps,
)
from cryptocast.models.kronos.sampling import draw, draw_from_cdf, filtered_probs
from cryptocast.runtime import autocast
from cryptocast.tuning.pools import SplitWindows, tail
from cryptocast.tuning.sweep import WindowLosses

CHUNK = 10  # windows per batched model call (and per pruning check of the sweep)


@dataclass
class _Window:
    logits1: torch.Tensor  # [V1] next-token s1 logits
    order1: torch.Tensor  # [V1] their descending order (kept: it does not depend on T)
    mem_prefix: tuple  # dependency-layer memory K/V, each [1, h, T, hd]
    last: torch.Tensor  # [1, 1, d] last hidden state
    dec_prefix: list  # decoder K/V of the context, per layer
    mean: float
    std: float
    anchor_shift: float  # actual last close - its reconstruction (the tokenizer's units)
    unit: float  # the window's unit of price (1 for raw prices)
    seed: int
    s2_logits: dict[int, torch.Tensor] = field(default_factory=dict)  # s1 id -> [V2]
    s2_order: dict[int, torch.Tensor] = field(default_factory=dict)  # s1 id -> [V2] (int16)
    closes: dict[int, float] = field(default_factory=dict)  # s1 * V2 + s2 -> normalised close


def _stack(kvs: Sequence[tuple]) -> tuple:
    return tuple(torch.cat(parts) for parts in zip(*kvs, strict=True))


class KronosCache:
    """Cached per-window state of a Kronos forecaster's models over one split's windows."""

    def __init__(self, forecaster: KronosForecaster, windows: SplitWindows) -> None:
        self.forecaster = forecaster
        self.windows = windows
        self.v2 = 2 ** forecaster.predictor.config.s2_bits
        self.horizon = len(windows.contexts[0].future_timestamps)
        self._states: dict[tuple[int, float], list[_Window | None]] = {}

    def warm(self, context_length: int, clip: float) -> None:
        """Build every window's state for (context_length, clip) now."""
        self._window_states(range(len(self.windows.contexts)), context_length, clip)

    def _window_states(self, indices, context_length: int, clip: float) -> list[_Window]:
        key = (context_length, clip)
        states = self._states.setdefault(key, [None] * len(self.windows.contexts))
        for i in indices:
            if states[i] is None:
                states[i] = self._build(int(i), context_length, clip)
        return [states[i] for i in indices]

    @torch.no_grad()
    def _build(self, i: int, context_length: int, clip: float) -> _Window:
        f = self.forecaster
        ctx = self.windows.contexts[i]
        length = min(len(ctx.timestamps), context_length, f.max_context)
        ctx = tail(ctx, length)
        unit = price_unit(ctx.close[-1], f.tokenizer.config.price_reference)
        feats = in_price_units(candle_features(ctx.ohlcv[:, :4], ctx.ohlcv[:, 4])[None], unit)
        x, mean, std = normalise(feats, clip)
        with autocast(f.device):
            s1_ctx, s2_ctx = f.tokenizer.encode(torch.from_numpy(x).float().to(f.device))
            stamp = torch.from_numpy(time_stamps(ctx.timestamps))[None].to(f.device)
            hidden, _ = f.predictor.context(s1_ctx, s2_ctx, stamp)
            last = hidden[:, -1:, :]
            start = max(0, length + 1 - f.max_context)
            recon = f.tokenizer.decode(s1_ctx[:, start:], s2_ctx[:, start:])[0, -1, CLOSE]
            logits1 = f.predictor.head.proj_s1(last[:, 0])[0]
            mem_prefix = f.predictor.dep_layer.cross_attn.memory_kv(hidden)
            dec_prefix = f.tokenizer.decoder_prefix(s1_ctx[:, start:], s2_ctx[:, start:])
        m, s = float(mean[0, 0, CLOSE]), float(std[0, 0, CLOSE])
        return _Window(
            logits1=logits1, order1=torch.sort(logits1, descending=True).indices,
            mem_prefix=mem_prefix, last=last, dec_prefix=dec_prefix,
            mean=m, std=s, anchor_shift=feats[0, -1, CLOSE] - float(denormalise(recon, m, s)),
            unit=float(unit), seed=ctx.draw_seed(f.seed),
        )

    @torch.no_grad()
    def _fill_s2_logits(self, states: list[_Window], wanted: list[list[int]]) -> None:
        """Compute the missing s2 logits of `wanted` s1 ids, batched over windows."""
        missing = [[t for t in ids if t not in st.s2_logits] for st, ids in zip(states, wanted,
                                                                                 strict=True)]
        todo = [j for j, ids in enumerate(missing) if ids]
        sizes = [len(ids) for ids in missing]
        for group in _batches(states, todo, lambda st: st.mem_prefix[0].shape[2], sizes):
            width = max(len(missing[j]) for j in group)
            ids = torch.tensor([missing[j] + [0] * (width - len(missing[j])) for j in group],
                               device=self.forecaster.device)
            prefix = _stack([states[j].mem_prefix for j in group])
            last = torch.cat([states[j].last for j in group])
            with autocast(self.forecaster.device):
                logits = self.forecaster.predictor.s2_logits(ids, prefix, None, last)
            orders = torch.sort(logits, dim=-1, descending=True).indices.to(torch.int16)
            for row, order, j in zip(logits, orders, group, strict=True):
                states[j].s2_logits.update(zip(missing[j], row, strict=False))
                states[j].s2_order.update(zip(missing[j], order, strict=False))

    @torch.no_grad()
    def _fill_closes(self, states: list[_Window], wanted: list[list[int]]) -> None:
        """Decode the missing (s1, s2) pairs (keys s1 * V2 + s2), batched as above."""
        missing = [sorted(set(keys) - set(st.closes)) for st, keys in zip(states, wanted,
                                                                          strict=True)]
        todo = [j for j, keys in enumerate(missing) if keys]
        sizes = [len(keys) for keys in missing]
        for group in _batches(states, todo, lambda st: st.dec_prefix[0][0].shape[2], sizes):
            width = max(len(missing[j]) for j in group)
            keys = torch.tensor([missing[j] + [0] * (width - len(missing[j])) for j in group],
                                device=self.forecaster.device)
            prefix = [_stack(layer) for layer in zip(*(states[j].dec_prefix for j in group),
                                                      strict=True)]
            with autocast(self.forecaster.device):
                out = self.forecaster.tokenizer.decode_suffix(
                    (keys // self.v2)[..., None], (keys % self.v2)[..., None], prefix)
            for row, j in zip(out[:, :, 0, CLOSE].double(), group, strict=True):
                states[j].closes.update(zip(missing[j], row.tolist(), strict=False))

    def samples(self, indices: Sequence[int], cfg: SamplingConfig, context_length: int,
                clip: float, anchor: bool) -> np.ndarray:
        """[len(indices), sample_count] sampled closes of the windows for the knobs."""
        states = self._window_states(indices, context_length, clip)
        generators = [torch.Generator().manual_seed(st.seed) for st in states]
        probs1 = filtered_probs(torch.stack([st.logits1 for st in states]), cfg,
                                torch.stack([st.order1 for st in states]))
        s1 = draw(probs1, cfg.sample_count, generators)  # [W, S]
        uniques = [torch.unique(row, return_inverse=True) for row in s1]
        self._fill_s2_logits(states, [u.tolist() for u, _ in uniques])
        keys = []
        for st, (unique, inverse), row, g in zip(states, uniques, s1, generators, strict=True):
            ids = unique.tolist()
            logits2 = torch.stack([st.s2_logits[t] for t in ids])
            order2 = torch.stack([st.s2_order[t] for t in ids]).long()
            # the CDF of each distinct row once; the draw is generate's (same rows, same u)
            cdf2 = filtered_probs(logits2, cfg, order2).double().cumsum(-1)
            s2 = draw_from_cdf(cdf2, 1, g, inverse)[:, 0]
            keys.append((row * self.v2 + s2).tolist())
        self._fill_closes(states, keys)
        out = np.empty((len(states), cfg.sample_count))
        for k, (st, row) in enumerate(zip(states, keys, strict=True)):
            close = denormalise(np.array([st.closes[key] for key in row]), st.mean, st.std)
            out[k] = (close + st.anchor_shift if anchor else close) * st.unit
        return out

    def _forecast(self, indices: list[int], knobs: KronosKnobs) -> np.ndarray:
        """[len(indices), sample_count] closes at the horizon, from the forecaster itself:
        beyond the first step each path runs the models again, so there is nothing to
        share across trials."""
        f = self.forecaster
        forecaster = KronosForecaster(f.tokenizer, f.predictor, seed=f.seed, device=f.device,
                                      **{**dataclasses.asdict(knobs),
                                         "max_context": f.max_context})
        return forecaster.predict([self.windows.contexts[i] for i in indices]).samples[:, :, -1]

    def losses(self, config: dict, order: np.ndarray) -> Iterator[tuple[int, WindowLosses]]:
        """Yield (window index, its losses) of a trial's config (`model` and `KronosKnobs`
        keys) over the windows in `order`, computed CHUNK windows at a time."""
        knobs = from_mapping(KronosKnobs, {k: v for k, v in config.items() if k != "model"},
                             "Kronos sweep config")
        w = self.windows
        for start in range(0, len(order), CHUNK):
            chunk = [int(i) for i in order[start : start + CHUNK]]
            closes = (self.samples(chunk, knobs.sampling, knobs.reads, float(knobs.clip),
                                   bool(knobs.anchor)) if self.horizon == 1 else
                      self._forecast(chunk, knobs))
            returns = closes / w.prev_close[chunk, None] - 1.0
            actual = w.actual_return[chunk]
            errors = np.abs(aggregate(closes, knobs.aggregate, axis=1) / w.prev_close[chunk]
                            - 1.0 - actual)
            crps = crps_from_samples(returns, actual)
            for k, i in enumerate(chunk):
                yield i, WindowLosses(float(errors[k]), float(crps[k]))


def _batches(states: list[_Window], todo: list[int], length, sizes: list[int]
             ) -> list[list[int]]:
    """Windows to compute together: the same prefix length (their keys/values stack), and
    sizes within a factor of two (a batch pads every window to its largest)."""
    groups: dict[int, list[int]] = {}
    for j in sorted(todo, key=lambda j: -sizes[j]):
        groups.setdefault(length(states[j]), []).append(j)
    batches = []
    for group in groups.values():
        for j in group:
            if batches and batches[-1][0] in group and 2 * sizes[j] >= sizes[batches[-1][0]]:
                batches[-1].append(j)
            else:
                batches.append([j])
    return batches
