"""Sample pools, the Kronos cache and the Optuna sweep, on synthetic candles and tiny models."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from conftest import make_candles
from tiny import PRED, TINY, TOK, section

from cryptocast.data.splits import compute_splits
from cryptocast.evaluation.metrics import crps_from_samples
from cryptocast.models.kronos import Kronos, KronosForecaster, KronosTokenizer
from cryptocast.models.toto import Toto, TotoForecaster
from cryptocast.tuning.kronos_cache import KronosCache, knobs_of
from cryptocast.tuning.pools import build_toto_pool, load_toto_pool, split_windows
from cryptocast.tuning.sweep import (
    SweepSettings,
    WindowLosses,
    best_by_family,
    budget_trials,
    default_params,
    grid,
    make_objective,
    open_study,
    run_study,
)

DAY = pd.Timedelta(days=1)
TOTO_SPACE = {"num_samples": [8, 32], "aggregate": ["mean", "median"], "context_length": [16, 32]}
KRONOS_SPACE = {"temperature": [0.5, 1.0], "top_p": [0.9], "top_k": [0], "sample_count": [16],
                "clip": [5.0], "context_length": [20], "anchor": [False, True]}


@pytest.fixture(scope="module")
def windows():
    candles = make_candles(120)
    splits = compute_splits({"X": candles}, "1d", DAY, 20, 10)
    return split_windows(candles, "X", splits, "validation", 32)


@pytest.fixture(scope="module")
def toto_model():
    torch.manual_seed(0)
    return Toto(TINY).eval()


@pytest.fixture(scope="module", params=[None, 100.0], ids=["raw", "price_units"])
def kronos_forecaster(request):
    torch.manual_seed(2)
    tokenizer = KronosTokenizer(dataclasses.replace(TOK, price_reference=request.param))
    return KronosForecaster(tokenizer, Kronos(PRED), seed=3, max_context=64)


def test_toto_pool_scores_like_the_forecaster(windows, toto_model, tmp_path):
    def factory(length, num_samples):
        return TotoForecaster(toto_model, seed=1, num_samples=num_samples, context_length=length)

    pool = build_toto_pool(factory, windows, [16, 32], 64)
    assert pool.returns[16].shape == (20, 64) and pool.returns[16].dtype == np.float32
    pool.save(tmp_path / "pool.npz")
    pool.save(tmp_path / "again.npz")  # the same bytes: DVC sees an unchanged pool
    assert (tmp_path / "pool.npz").read_bytes() == (tmp_path / "again.npz").read_bytes()
    loaded = load_toto_pool(tmp_path / "pool.npz", windows)
    np.testing.assert_array_equal(loaded.returns[32], pool.returns[32])
    # the full pool, aggregated, is the forecaster's own forecast with pool_size samples
    direct = factory(32, 64).predict(windows.contexts)
    expected = np.abs(direct.point[:, 0] / windows.prev_close - 1 - windows.actual_return)
    losses = loaded.losses(64, "median", 32)
    np.testing.assert_allclose(losses.mae, expected, rtol=1e-5, atol=1e-7)
    returns = direct.samples[:, :, 0] / windows.prev_close[:, None] - 1
    np.testing.assert_allclose(losses.crps, crps_from_samples(returns, windows.actual_return),
                               rtol=1e-4, atol=1e-8)
    with pytest.raises(ValueError, match="exceeds the pool"):
        loaded.losses(65, "median", 32)


def test_kronos_cache_draws_exactly_the_forecasters_samples(windows, kronos_forecaster):
    """Cached and direct sampling give the very same samples, bit for bit, whether the
    windows are sampled alone or in a batch; anchored ones agree to float rounding."""
    cache = KronosCache(kronos_forecaster, windows, pool_size=400)
    knobs = {"sample_count": 400, "temperature": 1.0, "top_p": 0.95, "clip": 5.0,
             "context_length": 30}
    f = kronos_forecaster
    direct = KronosForecaster(f.tokenizer, f.predictor, seed=f.seed, max_context=64, **knobs)
    every = list(range(len(windows.contexts)))
    batch = cache.samples(every, direct.sampling, 30, 5.0, anchor=False)
    np.testing.assert_array_equal(batch, direct.predict(windows.contexts).samples[:, :, 0])
    for i in (0, 7, 19):
        np.testing.assert_array_equal(cache.samples([i], direct.sampling, 30, 5.0, False)[0],
                                      batch[i])
    # anchored: the same paths shifted by the last close's reconstruction error
    anchored = KronosForecaster(f.tokenizer, f.predictor, seed=f.seed, max_context=64,
                                anchor=True, **knobs)
    a = cache.samples(every, direct.sampling, 30, 5.0, anchor=True)
    np.testing.assert_allclose(a, anchored.predict(windows.contexts).samples[:, :, 0],
                               rtol=1e-7)
    # a trial's losses are the direct forecast's: absolute return error and CRPS
    config = {"model": "kronos", **knobs, "max_context": 64, "anchor": False}
    losses = dict(cache.losses(config, np.array(every[::-1])))
    actual = windows.actual_return
    point = direct.predict(windows.contexts).point[:, 0]
    np.testing.assert_allclose([losses[i].mae for i in every],
                               np.abs(point / windows.prev_close - 1 - actual), rtol=1e-9)
    np.testing.assert_allclose([losses[i].crps for i in every],
                               crps_from_samples(batch / windows.prev_close[:, None] - 1, actual),
                               rtol=1e-9)


def test_kronos_trials_score_the_first_sample_count_of_one_pool_per_distribution(windows):
    """A trial with fewer samples than the pool scores the first ones of the forecaster's
    pool-sized forecast; trials that differ only in sample_count or aggregate, or in top_p
    under top_k, share one pool, and any other knob draws its own; more samples than the pool
    is an error."""
    torch.manual_seed(2)
    f = KronosForecaster(KronosTokenizer(TOK), Kronos(PRED), seed=3, max_context=64)
    cache = KronosCache(f, windows, pool_size=50)
    knobs = {"temperature": 1.0, "top_k": 5, "clip": 5.0, "context_length": 30}
    config = {"model": "kronos", **knobs, "sample_count": 12, "top_p": 0.9,
              "aggregate": "median"}
    losses = dict(cache.losses(config, np.arange(len(windows.contexts))))
    full = KronosForecaster(f.tokenizer, f.predictor, seed=3, max_context=64, sample_count=50,
                            **knobs).predict(windows.contexts).samples[:, :12, 0]
    point = np.median(full, axis=1)
    np.testing.assert_allclose([losses[i].mae for i in range(len(windows.contexts))],
                               np.abs(point / windows.prev_close - 1 - windows.actual_return),
                               rtol=1e-9)
    pool = cache.pool(knobs_of(config))
    for other in ({"sample_count": 50, "aggregate": "mean"}, {"top_p": 0.5}):
        assert cache.pool(knobs_of({**config, **other})) is pool
    for other in ({"temperature": 0.5}, {"top_k": 0}, {"clip": 4.0}, {"context_length": 20},
                  {"anchor": True}):
        assert cache.pool(knobs_of({**config, **other})) is not pool
    with pytest.raises(ValueError, match="sample_count 51 exceeds the pool of 50 samples"):
        next(cache.losses({**config, "sample_count": 51}, np.arange(3)))


def settings(**kw) -> SweepSettings:
    base = {"n_trials": 6, "pool_size": 32, "toto": TOTO_SPACE, "kronos": KRONOS_SPACE}
    return SweepSettings(**{**section("sweep.defaults"), **base, **kw})


def fake_errors(config, order):
    """Deterministic losses per config and window (no model needed); CRPS ranks the other
    way round from MAE."""
    offset = 0.01 * (config["model"] == "kronos") + 0.001 * config.get("num_samples", 0) / 32
    return ((int(i), WindowLosses(offset + 0.001 * (i % 3), 0.05 - offset)) for i in order)


def fake_errors_varied(config, order):
    """Errors that rank configs by every knob, with window-to-window spread."""
    offset = (0.004 * (config["model"] == "kronos") + 0.001 * config.get("num_samples", 0) / 32
              + 0.0005 * (config.get("aggregate") == "median")
              + 0.0003 * config.get("temperature", 0))
    return ((int(i), WindowLosses(offset + 0.002 * ((i * 7) % 5), 0.0)) for i in order)


def _trials(study):
    return [(t.number, t.state, t.params, t.value) for t in study.get_trials()]


@pytest.mark.parametrize("method", ["tpe", "grid"])
def test_a_resumed_study_reaches_the_trials_of_an_uninterrupted_one(tmp_path, method):
    n = 14 if method == "tpe" else 12  # past TPE's 10 random start-up trials; the whole grid
    s = settings(method=method, n_trials=n, storage=f"sqlite:///{tmp_path}/optuna.db")
    configs = grid(s)
    objective = make_objective(s, fake_errors_varied, 30, configs)
    whole = open_study(s, "whole", configs, defaults=DEFAULTS)
    run_study(whole, objective, n)

    def crash_at(k):
        def callback(study, trial):
            if trial.number == k:
                raise KeyboardInterrupt
        return callback

    resumed = open_study(s, "resumed", configs, defaults=DEFAULTS)
    for k in (4, 11):  # two interruptions, each followed by a new process's study object
        with pytest.raises(KeyboardInterrupt):
            run_study(resumed, objective, n, callbacks=[crash_at(k)])
        resumed = open_study(s, "resumed", configs, defaults=DEFAULTS)
    run_study(resumed, objective, n)
    assert len(whole.get_trials()) == n
    assert _trials(resumed) == _trials(whole)
    assert len({str(t.params) for t in whole.get_trials()}) > 5  # the sampler did search


def test_budget_and_values(tmp_path):
    s = settings(storage=f"sqlite:///{tmp_path}/optuna.db", prune=False)
    configs = grid(s)
    study = open_study(s, "budget", configs)
    run_study(study, make_objective(s, fake_errors, 20, configs), s.n_trials)
    trials = study.get_trials()
    for trial in trials:
        expected = sum(e.mae for _, e in fake_errors(trial.user_attrs["config"], range(20))) / 20
        assert trial.value == pytest.approx(expected)
    best = best_by_family(budget_trials(study, 6))
    assert min(t.value for t in best.values()) == study.best_value
    # a larger budget adds trials; the first six, and so the winners for six, do not change
    run_study(study, make_objective(s, fake_errors, 20, configs), 9)
    assert [t.number for t in budget_trials(study, 6)] == [t.number for t in trials]
    assert best_by_family(budget_trials(study, 6)) == best


def test_the_crps_objective_minimises_the_crps(tmp_path):
    s = settings(storage=f"sqlite:///{tmp_path}/optuna.db", prune=False, objective="crps",
                 families=["toto"])
    configs = grid(s)
    study = open_study(s, "crps", configs)
    run_study(study, make_objective(s, fake_errors, 20, configs), s.n_trials)
    for trial in study.get_trials():
        n = trial.user_attrs["config"]["num_samples"]
        assert trial.value == pytest.approx(0.05 - 0.001 * n / 32)
    # the most samples has the lowest CRPS here (and the highest MAE)
    assert study.best_trial.user_attrs["config"]["num_samples"] == max(TOTO_SPACE["num_samples"])
    with pytest.raises(ValueError, match="sweep.objective must be one of"):
        settings(objective="pinball")


DEFAULTS = {"toto": {"num_samples": 32, "aggregate": "median", "context_length": 512},
            "kronos": {"temperature": 1.0, "top_p": 0.9, "top_k": 0, "sample_count": 100}}


def test_each_family_starts_with_its_default_and_completes_a_trial(tmp_path):
    s = settings(n_trials=2, storage=f"sqlite:///{tmp_path}/o.db")
    assert default_params(s, DEFAULTS) == [
        {"model": "toto", "toto.num_samples": 32, "toto.aggregate": "median",
         "toto.context_length": 16},  # 512 is not in the space: its first value
        {"model": "kronos", "kronos.temperature": 1.0, "kronos.top_p": 0.9, "kronos.top_k": 0,
         "kronos.sample_count": 16, "kronos.clip": 5.0, "kronos.context_length": 20,
         "kronos.anchor": False}]
    configs = grid(s)
    study = open_study(s, "small", configs, defaults=DEFAULTS)
    run_study(study, make_objective(s, fake_errors, 30, configs), s.n_trials)
    assert set(best_by_family(budget_trials(study, 2))) == {"toto", "kronos"}
    # reopening a study does not enqueue the defaults again
    assert len(open_study(s, "small", configs, defaults=DEFAULTS).get_trials()) == 2


def test_grid_method_covers_the_product_of_the_lists(tmp_path):
    s = settings(method="grid", n_trials=20, prune=False, storage=f"sqlite:///{tmp_path}/o.db")
    configs = grid(s)
    assert len(configs) == 8 + 4  # 2 x 2 x 2 Toto configs, 2 x 2 Kronos
    study = open_study(s, "grid", configs)
    run_study(study, make_objective(s, fake_errors, 20, configs), s.n_trials)
    seen = [tuple(sorted(t.user_attrs["config"].items())) for t in study.get_trials()]
    assert len(seen) == len(set(seen)) == 12  # every grid point once; then the grid is done


def test_trials_are_pruned_against_their_own_family(tmp_path):
    s = settings(n_trials=12, storage=f"sqlite:///{tmp_path}/o.db")
    configs = grid(s)
    study = open_study(s, "prune", configs)
    study.enqueue_trial({"model": "toto", "toto.num_samples": 8, "toto.aggregate": "mean",
                         "toto.context_length": 16})  # the best config comes first
    run_study(study, make_objective(s, fake_errors, 60, configs), s.n_trials)
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    # a toto trial with num_samples 32 is 0.001 worse than the best at every window: pruned
    worse = [t for t in trials if t.user_attrs["config"].get("num_samples") == 32]
    assert worse and all(t in pruned for t in worse)
    # Kronos is 0.01 worse than the best Toto at every window, but the Kronos trials are
    # compared with Kronos only: equal to each other, none is pruned
    kronos = [t for t in trials if t.user_attrs["config"]["model"] == "kronos"]
    assert kronos and not any(t in pruned for t in kronos)
    best = {"model": "toto", "num_samples": 8, "aggregate": "mean", "context_length": 16}
    assert all(t.user_attrs["config"] != best for t in pruned)


def test_the_fingerprint_covers_the_settings_and_the_context():
    base = settings()
    assert base.fingerprint({"seed": 0}) != settings(seed=1).fingerprint({"seed": 0})
    assert base.fingerprint({"seed": 0}) != base.fingerprint({"seed": 1})
    assert base.fingerprint({}) == settings(n_trials=50, storage="sqlite:///x.db").fingerprint({})


def test_settings_errors_name_the_parameter():
    with pytest.raises(ValueError, match="sweep.method must be grid or tpe"):
        settings(method="random")
    with pytest.raises(ValueError, match=r"num_samples \[64\] exceed pool_size 32"):
        settings(toto={**TOTO_SPACE, "num_samples": [8, 64]})
    with pytest.raises(ValueError, match="sweep.kronos: a non-empty list"):
        settings(kronos={"temperature": []})


def test_saved_samples_hold_forecasts_only(tmp_path):
    """The winners' samples file is a function of the forecasts: two runs that differ in
    their timings only write the same bytes (DVC sees an unchanged output)."""
    from cryptocast.evaluation.backtest import BacktestResult
    from cryptocast.tuning.sweep_run import save_samples

    def results(latency):
        stamps = np.arange(3).astype("datetime64[D]").astype("datetime64[ns]")
        one = BacktestResult(stamps, np.ones(3), np.ones(3), np.ones(3), np.ones((3, 4)),
                             latency, latency)
        return {"validation": {"sweep_toto": one}}

    save_samples(tmp_path / "a.npz", results(0.001), ["sweep_toto"])
    save_samples(tmp_path / "b.npz", results(0.002), ["sweep_toto"])
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_the_study_storage_can_come_from_the_environment(tmp_path, monkeypatch):
    from cryptocast.tuning.sweep import heartbeat_storage

    monkeypatch.setenv("CRYPTOCAST_TEST_STORAGE", f"sqlite:///{tmp_path}/env.db")
    heartbeat_storage("env:CRYPTOCAST_TEST_STORAGE")
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("CRYPTOCAST_TEST_STORAGE")
    with pytest.raises(ValueError, match="study storage: environment variable "
                                         "CRYPTOCAST_TEST_STORAGE is not set"):
        heartbeat_storage("env:CRYPTOCAST_TEST_STORAGE")
    with pytest.raises(ValueError) as err:  # unreachable: one line, the password hidden
        heartbeat_storage("postgresql+psycopg://me:hunter2@127.0.0.1:1/optuna")
    assert "study storage postgresql+psycopg://me:***@127.0.0.1:1/optuna: cannot open it" in \
        str(err.value) and "hunter2" not in str(err.value)


def test_pool_and_cache_score_a_longer_horizon_like_the_forecasters(toto_model):
    """At horizon 3 a trial's losses are those of the forecasters' third step (Kronos: of
    the first sample_count paths of the pool-sized forecast)."""
    candles = make_candles(120)
    splits = compute_splits({"X": candles}, "1d", DAY, 20, 10)
    far = split_windows(candles, "X", splits, "validation", 32, horizon=3)
    assert len(far.contexts[0].future_timestamps) == 3
    np.testing.assert_array_equal(far.prev_close, [c.close[-1] for c in far.contexts])

    def factory(length, num_samples):
        return TotoForecaster(toto_model, seed=1, num_samples=num_samples, context_length=length)

    pool = build_toto_pool(factory, far, [32], 64)
    direct = factory(32, 64).predict(far.contexts)
    np.testing.assert_allclose(pool.losses(64, "median", 32).mae,
                               np.abs(direct.point[:, -1] / far.prev_close - 1
                                      - far.actual_return), rtol=1e-5, atol=1e-7)
    torch.manual_seed(2)
    kronos = KronosForecaster(KronosTokenizer(TOK), Kronos(PRED), seed=3, max_context=64)
    knobs = {"sample_count": 8, "temperature": 1.0, "top_p": 0.9, "clip": 5.0,
             "context_length": 30}
    cache = KronosCache(kronos, far, pool_size=16)
    losses = dict(cache.losses({"model": "kronos", **knobs}, np.arange(len(far.contexts))))
    pooled = KronosForecaster(kronos.tokenizer, kronos.predictor, seed=3, max_context=64,
                              **{**knobs, "sample_count": 16})
    point = pooled.predict(far.contexts).samples[:, :8, -1].mean(1)  # the first 8 of the pool
    np.testing.assert_allclose([losses[i].mae for i in range(len(far.contexts))],
                               np.abs(point / far.prev_close - 1 - far.actual_return), rtol=1e-9)
