import numpy as np
import pytest
import torch
from scipy import stats
from tiny import TINY

import cryptocast.models.toto.forecaster as forecaster_module
from cryptocast.forecast.aggregation import aggregate
from cryptocast.forecast.base import Context
from cryptocast.models.toto import (
    Toto,
    TotoForecaster,
    build_forecaster,
    save_checkpoint,
)
from cryptocast.models.toto.distribution import StudentTMixture, _components
from cryptocast.models.toto.layers import KVCache


@pytest.fixture(scope="module")
def model() -> Toto:
    torch.manual_seed(0)
    return Toto(TINY).eval()


def make_context(n: int, horizon: int, seed: int) -> Context:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    ohlcv = np.column_stack([close, close * 1.01, close * 0.99, close, np.ones(n)])
    stamps = np.arange(n + horizon).astype("datetime64[D]").astype("datetime64[ns]")
    return Context(stamps[:n], ohlcv, stamps[n:])


def test_predict_shapes_and_aggregation(model):
    contexts = [make_context(n, 1, i) for i, n in enumerate([30, 13, 40, 30])]
    fc = TotoForecaster(model, seed=3, num_samples=64, context_length=20, aggregate="median")
    out = fc.predict(contexts)
    assert out.samples.shape == (4, 64, 1) and out.point.shape == (4, 1)
    np.testing.assert_allclose(out.point, aggregate(out.samples, "median", axis=1))
    assert np.isfinite(out.samples).all()


def test_same_seed_same_samples_other_seed_differs(model):
    contexts = [make_context(24, 1, 0)]
    a = TotoForecaster(model, seed=1, num_samples=32).predict(contexts).samples
    b = TotoForecaster(model, seed=1, num_samples=32).predict(contexts).samples
    c = TotoForecaster(model, seed=2, num_samples=32).predict(contexts).samples
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_first_patch_samples_follow_the_model_distribution(model):
    ctx = make_context(16, 1, 5)
    fc = TotoForecaster(model, seed=0, num_samples=20000, samples_per_batch=7)
    samples = fc.predict([ctx]).samples[0, :, 0]
    x = torch.tensor(ctx.close, dtype=torch.float32).view(1, 1, -1)
    with torch.no_grad():
        out = model(x, torch.ones_like(x, dtype=torch.bool), last_patch_only=True)
    mix = out.distribution.map(lambda t: t[0, 0, 0])
    loc, scale = float(out.loc[0, 0, 0]), float(out.scale[0, 0, 0])
    grid = np.quantile(samples, [0.1, 0.5, 0.9])
    # empirical CDF at a few points against the mixture CDF by numerical integration
    z = torch.linspace(-60, 60, 400001, dtype=torch.float64)
    dens = mix.map(lambda t: t.double()).log_prob(z).exp()
    cdf = torch.cumsum(dens, 0) * (z[1] - z[0])
    for q, value in zip([0.1, 0.5, 0.9], grid, strict=True):
        model_cdf = float(np.interp((value - loc) / scale, z.numpy(), cdf.numpy()))
        assert model_cdf == pytest.approx(q, abs=0.015)


def test_samples_per_batch_does_not_change_first_patch_draws(model):
    ctx = [make_context(24, 3, 1), make_context(24, 3, 2)]
    a = TotoForecaster(model, seed=4, num_samples=40, samples_per_batch=40).predict(ctx)
    b = TotoForecaster(model, seed=4, num_samples=40, samples_per_batch=8).predict(ctx)
    np.testing.assert_array_equal(a.samples, b.samples)


def test_multi_patch_rollout_is_consistent_across_samples_per_batch(model):
    ctx = [make_context(24, 10, 3)]
    a = TotoForecaster(model, seed=5, num_samples=600, samples_per_batch=600).predict(ctx)
    b = TotoForecaster(model, seed=6, num_samples=600, samples_per_batch=64).predict(ctx)
    assert a.samples.shape == (1, 600, 10)
    assert np.isfinite(a.samples).all()
    for step in (0, 5, 9):  # steps in the first, second and third patch
        assert stats.ks_2samp(a.samples[0, :, step], b.samples[0, :, step]).pvalue > 1e-3
    # trajectories are distinct per sample beyond the first patch
    assert len(np.unique(a.samples[0, :, 9])) == 600


class FullRecompute(KVCache):
    """A cache that stores nothing: every forward pass recomputes the whole sequence."""

    def seq_len(self, layer_idx: int) -> int:
        return 0

    def extend(self, layer_idx, k, v):
        return k, v

    def repeat_interleave(self, repeats: int) -> "FullRecompute":
        return FullRecompute()


def test_kv_cache_rollout_matches_a_full_recompute(model, monkeypatch):
    ctx = [make_context(22, 11, 4)]  # 22 candles left-padded to 24; patches 2 and 3 rolled out
    cached = TotoForecaster(model, seed=3, num_samples=50, samples_per_batch=20).predict(ctx)
    monkeypatch.setattr(forecaster_module, "KVCache", FullRecompute)
    full = TotoForecaster(model, seed=3, num_samples=50, samples_per_batch=20).predict(ctx)
    assert not np.array_equal(cached.samples[..., 4:], cached.samples[..., :1].repeat(7, -1))
    np.testing.assert_allclose(cached.samples, full.samples, rtol=1e-5)


def test_bad_input_raises_with_parameter_name(model):
    fc = TotoForecaster(model, seed=0, num_samples=8)
    with pytest.raises(ValueError, match="horizon"):
        fc.predict([make_context(10, 1, 0), make_context(10, 2, 0)])
    with pytest.raises(ValueError, match=r"Toto forecaster knobs: unknown keys \['temperature'\]"):
        TotoForecaster(model, seed=0, temperature=1.0)
    with pytest.raises(ValueError, match="valid forms"):
        TotoForecaster(model, seed=0, aggregate="mode")
    with pytest.raises(ValueError, match="num_samples"):
        TotoForecaster(model, seed=0, num_samples=0)
    with pytest.raises(ValueError, match="prediction_length"):
        TotoForecaster(model, seed=0, prediction_length=2).predict([make_context(10, 1, 0)])


def test_build_forecaster_from_checkpoint(tmp_path, model):
    save_checkpoint(model, tmp_path / "toto")
    fc = build_forecaster(tmp_path / "toto", "toto_test", 7, num_samples=16, context_length=12,
                          samples_per_batch=4, aggregate="trimmed_mean_5")
    assert fc.name == "toto_test" and fc.context_length == 12
    ref = TotoForecaster(model, seed=7, num_samples=16, context_length=12)
    ctx = [make_context(30, 1, 9)]
    np.testing.assert_array_equal(fc.predict(ctx).samples, ref.predict(ctx).samples)


def test_a_forecast_does_not_depend_on_its_batch(model):
    """Fixed-shape batches: a context's samples are bit-identical alone, among other
    contexts, in another position or chunk, and in any order."""
    contexts = [make_context(40, 1, seed) for seed in range(70)]  # a batch of 64 and a part
    fc = TotoForecaster(model, seed=3, num_samples=16, context_length=40)
    together = fc.predict(contexts).samples
    for i in (0, 7, 69):
        np.testing.assert_array_equal(fc.predict([contexts[i]]).samples[0], together[i])
    order = np.random.default_rng(0).permutation(len(contexts))
    shuffled = fc.predict([contexts[i] for i in order]).samples
    np.testing.assert_array_equal(shuffled, together[order])
    short = make_context(20, 1, 99)  # another length: its own batch
    mixed = fc.predict([short, *contexts[:3]]).samples
    np.testing.assert_array_equal(mixed[1:], together[:3])


def test_mixture_draws_pick_components_by_weight_and_follow_their_student_t():
    # two far-apart components, weights 1/4 and 3/4 (two positions, the second laid out in
    # reverse): each draw's component by its weight, its value from that component's t(df)
    loc = torch.tensor([[[-50.0, 40.0], [40.0, -50.0]]], dtype=torch.float64)
    mixture = StudentTMixture(logits=torch.log(torch.tensor([[[1.0, 3.0], [3.0, 1.0]]])),
                              df=torch.tensor([[[3.0, 7.0], [7.0, 3.0]]]), loc=loc,
                              scale=torch.tensor([[[2.0, 0.5], [0.5, 2.0]]]))
    draws = mixture.sample(20000, [np.random.default_rng(0)])
    assert draws.shape == (1, 2, 20000)
    for position in draws[0]:
        low, high = position[position < 0], position[position > 0]
        assert abs(len(low) / 20000 - 0.25) < 4 * (0.25 * 0.75 / 20000) ** 0.5
        assert stats.kstest(low, stats.t(3.0, -50.0, 2.0).cdf).pvalue > 1e-3
        assert stats.kstest(high, stats.t(7.0, 40.0, 0.5).cdf).pvalue > 1e-3


def test_mixture_draws_of_a_row_depend_on_its_generator_only():
    torch.manual_seed(0)
    mixture = StudentTMixture(logits=torch.randn(3, 1, 4), df=2 + torch.rand(3, 1, 4),
                              loc=torch.randn(3, 1, 4), scale=torch.rand(3, 1, 4) + 0.1)
    together = mixture.sample(50, [np.random.default_rng(seed) for seed in (5, 6, 7)])
    alone = mixture.map(lambda t: t[1:2]).sample(50, [np.random.default_rng(6)])
    np.testing.assert_array_equal(together[1:2], alone)
    with pytest.raises(ValueError, match="2 generators for 3 rows"):
        mixture.sample(50, [np.random.default_rng(0)] * 2)


@pytest.mark.parametrize("num", [6, 2])  # more draws than positions, and fewer
def test_mixture_draws_follow_the_documented_stream(num):
    # per row: one uniform per draw picks the component (the number of normalised cumulative
    # weights at or below it), then one Student-t per draw with that component's df; a
    # change of this order or rule changes every committed Toto forecast
    torch.manual_seed(1)
    mixture = StudentTMixture(logits=torch.randn(2, 3, 4), df=2 + torch.rand(2, 3, 4),
                              loc=torch.randn(2, 3, 4), scale=torch.rand(2, 3, 4) + 0.1)
    draws = mixture.sample(num, [np.random.default_rng(seed) for seed in (4, 9)])
    for row, seed in enumerate((4, 9)):
        rng = np.random.default_rng(seed)
        uniform = rng.random((3, num))
        logits, df, loc, scale = (getattr(mixture, name)[row].double().numpy()
                                  for name in ("logits", "df", "loc", "scale"))
        weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        comp = np.array([np.searchsorted(np.cumsum(w)[:-1], u, side="right")
                         for w, u in zip(weights, uniform, strict=True)])
        at = (np.arange(3)[:, None], comp)
        np.testing.assert_allclose(draws[row], loc[at] + scale[at] * rng.standard_t(df[at]),
                                   rtol=1e-12)


@pytest.mark.parametrize("shape", [(2, 5), (5, 2)])  # more draws than positions, and fewer
def test_a_draw_takes_the_component_after_every_bound_at_or_below_it(shape):
    # bounds with a repeat (a zero weight) and draws exactly on bounds, at both ends
    bounds = np.array([[0.25, 0.25, 0.5], [0.0, 0.6, 1.0], [0.1, 0.2, 0.3],
                       [0.3, 0.3, 0.3], [0.5, 0.75, 0.9]])[: shape[0], None, :]
    uniform = np.array([0.0, 0.25, 0.5, 0.6, 0.99])[None, : shape[1]].repeat(shape[0], 0)
    want = (uniform[..., None] >= bounds).sum(-1)
    np.testing.assert_array_equal(_components(uniform, bounds), want)
    assert _components(uniform, bounds)[0, 1] == 2  # u = 0.25 counts both bounds at 0.25
