"""Kronos sweeps without re-running the models: everything a horizon-1 forecast computes
before its first random draw is cached per window.

Per (window, context_length, clip): the tokenised context, the predictor's pass over it (the
s1 logits of the next token and the dependency layer's memory), the decoder's keys/values of
the context and the anchor's reconstruction of the last close. A trial that changes only
temperature / top_p / top_k / sample_count / anchor / aggregate then only draws tokens: the s2
logits of each s1 token drawn and the close of each (s1, s2) pair decoded are memoised too, so
later trials reuse them. The draws are those `sampling.generate` makes, from the same
per-window generator, so the distribution is the forecaster's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from cryptocast.forecast.aggregation import aggregate
from cryptocast.models.kronos import KronosForecaster, SamplingConfig
from cryptocast.models.kronos.inputs import (
    CLOSE,
    candle_features,
    denormalise,
    normalise,
    time_stamps,
)
from cryptocast.models.kronos.sampling import draw, filtered_probs
from cryptocast.tuning.pools import SplitWindows, tail


@dataclass
class _WindowState:
    logits1: torch.Tensor  # [1, V1] next-token s1 logits
    mem_prefix: tuple  # dependency-layer memory K/V of the context
    last: torch.Tensor  # [1, 1, d] last hidden state
    dec_prefix: list  # decoder K/V of the context
    mean: float
    std: float
    anchor_shift: float  # actual last close - its reconstruction (price units)
    seed: int
    s2_logits: dict[int, torch.Tensor] = field(default_factory=dict)  # s1 id -> [V2]
    closes: dict[int, float] = field(default_factory=dict)  # s1 * V2 + s2 -> normalised close


class KronosCache:
    """Cached per-window state of a Kronos forecaster's models over one split's windows."""

    def __init__(self, forecaster: KronosForecaster, windows: SplitWindows) -> None:
        self.forecaster = forecaster
        self.windows = windows
        self.v2 = 2 ** forecaster.predictor.config.s2_bits
        self._states: dict[tuple[int, float], list[_WindowState | None]] = {}

    def warm(self, context_length: int, clip: float) -> None:
        """Build every window's state for (context_length, clip) now."""
        for i in range(len(self.windows.contexts)):
            self._state(i, context_length, clip)

    @torch.no_grad()
    def _state(self, i: int, context_length: int, clip: float) -> _WindowState:
        key = (context_length, clip)
        states = self._states.setdefault(key, [None] * len(self.windows.contexts))
        if states[i] is None:
            states[i] = self._build(i, context_length, clip)
        return states[i]

    def _build(self, i: int, context_length: int, clip: float) -> _WindowState:
        f = self.forecaster
        ctx = self.windows.contexts[i]
        length = min(len(ctx.timestamps), context_length, f.max_context)
        ctx = tail(ctx, length)
        feats = candle_features(ctx.ohlcv[:, :4], ctx.ohlcv[:, 4])[None]
        x, mean, std = normalise(feats, clip)
        xt = torch.from_numpy(x).float()
        s1_ctx, s2_ctx = f.tokenizer.encode(xt)
        stamp = torch.from_numpy(time_stamps(ctx.timestamps))[None]
        hidden, _ = f.predictor.context(s1_ctx, s2_ctx, stamp)
        last = hidden[:, -1:, :]
        start = max(0, length + 1 - f.max_context)
        recon = f.tokenizer.decode(s1_ctx[:, start:], s2_ctx[:, start:])[0, -1, CLOSE]
        m, s = float(mean[0, 0, CLOSE]), float(std[0, 0, CLOSE])
        return _WindowState(
            logits1=f.predictor.head.proj_s1(last[:, 0]),
            mem_prefix=f.predictor.dep_layer.cross_attn.memory_kv(hidden), last=last,
            dec_prefix=f.tokenizer.decoder_prefix(s1_ctx[:, start:], s2_ctx[:, start:]),
            mean=m, std=s, anchor_shift=feats[0, -1, CLOSE] - float(denormalise(recon, m, s)),
            seed=ctx.draw_seed(f.seed),
        )

    @torch.no_grad()
    def samples(self, i: int, cfg: SamplingConfig, context_length: int, clip: float,
                anchor: bool) -> np.ndarray:
        """[sample_count] sampled closes of window i for the sampling knobs."""
        st = self._state(i, context_length, clip)
        generator = torch.Generator().manual_seed(st.seed)
        s1 = draw(filtered_probs(st.logits1, cfg), cfg.sample_count, [generator])  # [1, S]
        unique, inverse = torch.unique(s1[0], return_inverse=True)
        missing = [int(t) for t in unique if int(t) not in st.s2_logits]
        if missing:
            ids = torch.tensor(missing)[None]
            rows = self.forecaster.predictor.s2_logits(ids, st.mem_prefix, None, st.last)[0]
            st.s2_logits.update(zip(missing, rows, strict=True))
        logits2 = torch.stack([st.s2_logits[int(t)] for t in unique])
        probs2 = filtered_probs(logits2, cfg)[inverse][None]  # [1, S, V2]
        s2 = draw(probs2, 1, [generator])[..., 0]  # [1, S]
        keys = (s1[0] * self.v2 + s2[0]).tolist()
        todo = sorted(set(keys) - set(st.closes))
        if todo:
            t = torch.tensor(todo)
            out = self.forecaster.tokenizer.decode_suffix(
                (t // self.v2)[None, :, None], (t % self.v2)[None, :, None], st.dec_prefix)
            st.closes.update(zip(todo, out[0, :, 0, CLOSE].double().tolist(), strict=True))
        close = denormalise(np.array([st.closes[k] for k in keys]), st.mean, st.std)
        return close + st.anchor_shift if anchor else close

    def errors(self, knobs: dict, order: np.ndarray):
        """Yield (window index, absolute return error) of the config `knobs` (Kronos
        forecaster keys) over the windows in `order`."""
        cfg = SamplingConfig(knobs.get("temperature", 1.0), int(knobs.get("top_k", 0)),
                             float(knobs.get("top_p", 0.9)), int(knobs.get("sample_count", 1)))
        w = self.windows
        for i in order:
            close = self.samples(int(i), cfg, int(knobs.get("context_length", 512)),
                                 float(knobs.get("clip", 5.0)), bool(knobs.get("anchor", False)))
            point = float(aggregate(close, knobs.get("aggregate", "mean")))
            yield int(i), abs(point / w.prev_close[i] - 1.0 - w.actual_return[i])
