"""Kronos sweeps without re-running the models: a pool of sampled closes per window and
sampling distribution, from a cache of everything a forecast computes before its first draw.

The pool: per window and distribution (context_length, clip, temperature, top_k, top_p,
anchor), the forecaster's own `pool_size` samples (its sample_count = pool_size, the sweep
space's largest). A trial with sample_count n scores each window's first n: n independent
draws from the trial's distribution, the forecaster's very samples when n = pool_size. A pool
is drawn the first time a trial needs it, and a later trial of that distribution (another
sample_count or aggregate) only aggregates: a grid sweep scores every sample_count from one
pool, while a TPE study seldom comes back to a distribution.

The cache that draws a pool at horizon 1, per (window, context_length, clip): the tokenised
context, the predictor's pass over it (the s1 logits of the next token and the dependency
layer's memory), the decoder's keys/values of the context and the anchor's reconstruction of
the last close, computed in the forecaster's fixed-shape batches. The s2 logits of each s1
token drawn and the close of each (s1, s2) pair decoded are memoised per window (the
distributions share them), and what is missing is computed for a chunk of windows at once. The
draws are `sampling.generate`'s, from the same per-window generator. At horizon > 1 every path
runs the models again after its first step, so the pool is the forecaster's own forecast.
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
from cryptocast.forecast.base import fixed_batches
from cryptocast.models.kronos import KronosForecaster, KronosKnobs, SamplingConfig
from cryptocast.models.kronos.forecaster import BATCH_ROWS, model_inputs
from cryptocast.models.kronos.inputs import CLOSE, denormalise
from cryptocast.models.kronos.sampling import context_pass, draw, draw_from_cdf, filtered_probs
from cryptocast.runtime import autocast
from cryptocast.tuning.pools import SplitWindows
from cryptocast.tuning.sweep import WindowLosses

CHUNK = 10  # windows per batched model call


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
    """Pools of sampled closes of a Kronos forecaster over one split's windows, drawn from
    cached per-window model state (see the module docstring)."""

    def __init__(self, forecaster: KronosForecaster, windows: SplitWindows,
                 pool_size: int) -> None:
        self.forecaster = forecaster
        self.windows = windows
        self.pool_size = pool_size
        self.v2 = 2 ** forecaster.predictor.config.s2_bits
        self.horizon = len(windows.contexts[0].future_timestamps)
        self._states: dict[tuple[int, float], list[_Window | None]] = {}
        self._pools: dict[tuple, np.ndarray] = {}  # (sampling, reads, clip, anchor) -> pool

    def _window_states(self, indices, context_length: int, clip: float) -> list[_Window]:
        states = self._states.setdefault((context_length, clip),
                                         [None] * len(self.windows.contexts))
        lengths = {int(i): min(len(self.windows.contexts[i].timestamps), context_length,
                               self.forecaster.max_context)
                   for i in indices if states[i] is None}
        for length, rows, filled in fixed_batches(lengths, BATCH_ROWS):
            for i, state in zip(rows, self._build(filled, length, clip), strict=False):
                states[i] = state
        return [states[i] for i in indices]

    @torch.no_grad()
    def _build(self, indices: list[int], length: int, clip: float) -> list[_Window]:
        """The states of windows whose contexts have `length` candles, in one batch of the
        forecaster's fixed shape (BATCH_ROWS windows)."""
        f = self.forecaster
        contexts = [self.windows.contexts[i] for i in indices]
        inputs = model_inputs(contexts, length, clip, f.tokenizer.config.price_reference,
                              f.device)
        with autocast(f.device):
            ctx = context_pass(f.tokenizer, f.predictor, inputs.x, inputs.stamp, 1,
                               f.max_context, reconstruct=True)
            last = ctx.hidden[:, -1:, :]
            logits1 = f.predictor.head.proj_s1(last[:, 0])
        order1 = torch.sort(logits1, dim=-1, descending=True).indices
        shift = inputs.anchor_shift(ctx.last_recon)
        mean, std = inputs.mean[:, 0, CLOSE], inputs.std[:, 0, CLOSE]
        return [_Window(logits1=logits1[j], order1=order1[j],
                        mem_prefix=tuple(t[j : j + 1] for t in ctx.memory),
                        last=last[j : j + 1],
                        dec_prefix=[tuple(t[j : j + 1] for t in kv) for kv in ctx.decoder],
                        mean=float(mean[j]), std=float(std[j]), anchor_shift=float(shift[j]),
                        unit=float(inputs.units[j]), seed=c.draw_seed(f.seed))
                for j, c in enumerate(contexts)]

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

    def pool(self, knobs: KronosKnobs) -> np.ndarray:
        """[windows, pool_size] closes at the horizon of knobs' distribution (its sample_count
        and aggregate aside), drawn on first use with sample_count = pool_size."""
        if knobs.sample_count > self.pool_size:
            raise ValueError(f"Kronos sweep: sample_count {knobs.sample_count} exceeds the "
                             f"pool of {self.pool_size} samples (the space's largest)")
        knobs = dataclasses.replace(knobs, sample_count=self.pool_size, aggregate="mean")
        key = (knobs.sampling, knobs.reads, float(knobs.clip), bool(knobs.anchor))
        if key not in self._pools:
            every = list(range(len(self.windows.contexts)))
            if self.horizon > 1:
                self._pools[key] = self._forecast(every, knobs)
            else:  # every window's state first: whole fixed-shape batches
                self._window_states(every, knobs.reads, float(knobs.clip))
                chunks = (every[start : start + CHUNK] for start in range(0, len(every), CHUNK))
                self._pools[key] = np.concatenate([
                    self.samples(chunk, knobs.sampling, knobs.reads, float(knobs.clip),
                                 bool(knobs.anchor)) for chunk in chunks])
        return self._pools[key]

    def _forecast(self, indices: list[int], knobs: KronosKnobs) -> np.ndarray:
        """[len(indices), sample_count] closes at the horizon, from the forecaster itself:
        beyond the first step each path runs the models again, so there is nothing to
        cache."""
        f = self.forecaster
        forecaster = KronosForecaster(f.tokenizer, f.predictor, seed=f.seed, device=f.device,
                                      **{**dataclasses.asdict(knobs),
                                         "max_context": f.max_context})
        return forecaster.predict([self.windows.contexts[i] for i in indices]).samples[:, :, -1]

    def losses(self, config: dict, order: np.ndarray) -> Iterator[tuple[int, WindowLosses]]:
        """Yield (window index, its losses) of a trial's config (`model` and `KronosKnobs`
        keys) over the windows in `order`: the first sample_count closes of the pool."""
        knobs = knobs_of(config)
        w = self.windows
        closes = self.pool(knobs)[:, : knobs.sample_count]
        errors = np.abs(aggregate(closes, knobs.aggregate, axis=1) / w.prev_close - 1.0
                        - w.actual_return)
        crps = crps_from_samples(closes / w.prev_close[:, None] - 1.0, w.actual_return)
        for i in order:
            yield int(i), WindowLosses(float(errors[i]), float(crps[i]))


def knobs_of(config: dict) -> KronosKnobs:
    """A Kronos sweep config (`model` and `KronosKnobs` keys) as knobs."""
    return from_mapping(KronosKnobs, {k: v for k, v in config.items() if k != "model"},
                        "Kronos sweep config")


def largest_sample_count(configs: Sequence[dict]) -> int:
    """The pool size for a space: the largest sample_count of its Kronos configs."""
    return max(knobs_of(c).sample_count for c in configs if c["model"] == "kronos")


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
