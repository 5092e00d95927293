"""Kronos input handling and the forecaster contract (tiny random checkpoints)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from kronos_reference import reference_generate, same_distribution_pvalue
from tiny import PRED, TOK

from cryptocast.forecast.base import Context
from cryptocast.models.kronos import (
    Kronos,
    KronosTokenizer,
    SamplingConfig,
    build_forecaster,
    generate,
    save_checkpoint,
)
from cryptocast.models.kronos.inputs import candle_features, denormalise, normalise, time_stamps


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("kronos")
    save_checkpoint(KronosTokenizer(TOK), path / "tokenizer")
    save_checkpoint(Kronos(PRED), path / "predictor")
    return path


def context(n: int, horizon: int = 1, seed: int = 0) -> Context:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    ohlcv = np.column_stack([close * 0.99, close * 1.02, close * 0.97, close,
                             rng.uniform(10, 20, n)])
    ts = np.datetime64("2024-01-01") + np.arange(n + horizon).astype("timedelta64[D]")
    return Context(ts[:n].astype("datetime64[ns]"), ohlcv, ts[n:].astype("datetime64[ns]"))


def test_candle_features_amount_and_missing_volume():
    prices = np.array([[1.0, 3.0, 1.0, 3.0], [2.0, 2.0, 2.0, 2.0]])
    feats = candle_features(prices, np.array([10.0, 5.0]))
    assert np.allclose(feats[:, 5], [20.0, 10.0])  # volume x mean(OHLC)
    assert np.allclose(candle_features(prices, np.ones(2), np.array([7.0, 8.0]))[:, 5], [7, 8])
    assert np.allclose(candle_features(prices)[:, 4:], 0.0)
    with pytest.raises(ValueError, match="prices"):
        candle_features(np.ones((3, 5)))


def test_normalise_clip_and_inverse():
    x = np.array([[0.0], [1.0], [2.0], [100.0]])
    y, mean, std = normalise(x, clip=1.0)
    assert mean.item() == pytest.approx(25.75) and std.item() == pytest.approx(np.std(x))
    assert y.max() == 1.0 and y.min() == pytest.approx((0 - 25.75) / (std.item() + 1e-5))
    unclipped, _, _ = normalise(x, clip=10.0)
    assert np.allclose(denormalise(unclipped, mean, std), x)
    with pytest.raises(ValueError, match="clip"):
        normalise(x, clip=0.0)


def test_time_stamps():
    ts = np.array(["2024-03-15T13:45", "2023-12-31T00:00"], dtype="datetime64[ns]")
    assert time_stamps(ts).tolist() == [[45, 13, 4, 15, 3], [0, 0, 6, 31, 12]]
    # pandas' calendar fields every 7 days 7 min 7 s over 1970-2100 (leap years, month ends)
    every = np.arange(np.datetime64("1970-01-01T00:00"), np.datetime64("2100-03-01T00:00"),
                      np.timedelta64(7 * 24 * 60 * 60 + 7 * 60 + 7, "s")).astype("datetime64[ns]")
    idx = pd.DatetimeIndex(every)
    expected = np.column_stack([idx.minute, idx.hour, idx.day_of_week, idx.day, idx.month])
    assert np.array_equal(time_stamps(every), expected)


def test_forecaster_shapes_mean_and_determinism(ckpt):
    knobs = dict(sample_count=16, temperature=0.3, top_p=0.78, top_k=28, clip=1.6,
                 context_length=40)
    f = build_forecaster(ckpt, name="k", seed=3, **knobs)
    assert f.context_length == 40
    ctxs = [context(40, seed=0), context(25, seed=1), context(40, seed=2)]
    out = f.predict(ctxs)
    assert out.samples.shape == (3, 16, 1) and out.point.shape == (3, 1)
    assert np.allclose(out.point, out.samples.mean(axis=1))
    assert np.isfinite(out.samples).all() and (out.samples > 0).all()
    again = build_forecaster(ckpt, name="k", seed=3, **knobs).predict(ctxs)
    assert np.array_equal(out.samples, again.samples)
    med = build_forecaster(ckpt, name="k", seed=3, aggregate="median", **knobs).predict(ctxs)
    assert np.allclose(med.point, np.median(med.samples, axis=1))


def test_forecaster_multi_step_and_window_trim(ckpt):
    f = build_forecaster(ckpt, name="k", seed=0, sample_count=4, max_context=30)
    out = f.predict([context(30, horizon=5)])
    assert out.samples.shape == (1, 4, 5)


def test_forecaster_errors_name_the_knob(ckpt):
    with pytest.raises(ValueError, match="top_p"):
        build_forecaster(ckpt, name="k", top_p=0.0)
    with pytest.raises(ValueError, match="aggregate"):
        build_forecaster(ckpt, name="k", aggregate="bogus")
    with pytest.raises(ValueError, match=r"Kronos forecaster knobs: unknown keys \['nope'\]"):
        build_forecaster(ckpt, name="k", nope=1)
    f = build_forecaster(ckpt, name="k")
    with pytest.raises(ValueError, match="horizon"):
        f.predict([context(20, horizon=1), context(20, horizon=2)])


def test_same_distribution_as_reference_loop():
    torch.manual_seed(5)
    tok, model = KronosTokenizer(TOK).eval(), Kronos(PRED).eval()
    x, stamp = torch.randn(1, 12, 6), torch.randint(0, 7, (1, 12, 5))
    future = torch.randint(0, 7, (1, 2, 5))
    cfg = SamplingConfig(temperature=1.5, top_p=0.95, sample_count=1500)
    ours = generate(tok, model, x, stamp, future, cfg, 64, [torch.Generator().manual_seed(0)])[0]
    ref = reference_generate(tok, model, x, stamp, future, cfg, 64,
                             torch.Generator().manual_seed(1))
    for step in range(2):
        a, b = ours[0, :, step, 3].numpy(), ref[0, :, step, 3].numpy()
        assert len(np.unique(a)) > 3
        assert same_distribution_pvalue(a, b) > 1e-3


def test_same_distribution_pvalue_merges_float_noise():
    a = np.array([0.12345] * 50 + [0.2] * 50)
    b = a.copy()
    b[:50] -= 1e-7  # same atom, other side of a rounding boundary
    assert same_distribution_pvalue(a, b) == pytest.approx(1.0)
    assert same_distribution_pvalue(np.zeros(100), np.ones(100)) < 1e-10


def test_anchor_shifts_by_the_last_close_reconstruction_error(ckpt):
    knobs = dict(sample_count=8, clip=1.6, max_context=30)
    ctx = context(29, horizon=2)  # 29 + 2 - 1 fits max_context 30 exactly
    plain = build_forecaster(ckpt, name="k", seed=4, **knobs)
    anchored = build_forecaster(ckpt, name="k", seed=4, anchor=True, **knobs)
    a, b = plain.predict([ctx]).samples, anchored.predict([ctx]).samples
    feats = candle_features(ctx.ohlcv[:, :4], ctx.ohlcv[:, 4])
    x, mean, std = normalise(feats[None], 1.6)
    tok = plain.tokenizer
    s1, s2 = tok.encode(torch.from_numpy(x).float())
    recon = tok.decode(s1[:, 1:], s2[:, 1:])[0, -1, 3].item()  # decoder window drops one
    shift = ctx.close[-1] - denormalise(recon, mean[0, 0, 3], std[0, 0, 3])
    assert np.allclose(b - a, shift, atol=1e-4 * ctx.close[-1])


def test_a_forecast_does_not_depend_on_its_batch(ckpt):
    """Fixed-shape batches: a context's samples are bit-identical alone, among others, in
    another position or batch, and beside contexts of another length."""
    f = build_forecaster(ckpt, name="k", seed=5, sample_count=12, context_length=30,
                         anchor=True)
    contexts = [context(30, seed=s) for s in range(11)]  # a batch of 8 and a part
    together = f.predict(contexts).samples
    for i in (0, 8, 10):
        np.testing.assert_array_equal(f.predict([contexts[i]]).samples[0], together[i])
    order = np.random.default_rng(1).permutation(len(contexts))
    np.testing.assert_array_equal(f.predict([contexts[i] for i in order]).samples,
                                  together[order])
    mixed = f.predict([context(20, seed=99), *contexts[:2]]).samples
    np.testing.assert_array_equal(mixed[1:], together[:2])
