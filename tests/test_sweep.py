"""Sample pools, the Kronos cache and the Optuna sweep, on synthetic candles and tiny models."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from conftest import make_candles
from test_kronos_forecaster import PRED, TOK
from test_toto_forecaster import TINY

from cryptocast.data.splits import compute_splits
from cryptocast.models.kronos import Kronos, KronosForecaster, KronosTokenizer
from cryptocast.models.kronos.reference import same_distribution_pvalue
from cryptocast.models.toto import Toto, TotoForecaster
from cryptocast.tuning.kronos_cache import KronosCache
from cryptocast.tuning.pools import build_toto_pool, load_toto_pool, split_windows
from cryptocast.tuning.sweep import (
    SweepSettings,
    best_by_family,
    budget_trials,
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


@pytest.fixture(scope="module")
def kronos_forecaster():
    torch.manual_seed(2)
    return KronosForecaster(KronosTokenizer(TOK), Kronos(PRED), seed=3, max_context=64)


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
    np.testing.assert_allclose(loaded.score(64, "median", 32), expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="exceeds the pool"):
        loaded.score(65, "median", 32)


def test_kronos_cache_samples_the_forecasters_distribution(windows, kronos_forecaster):
    """Pooled (cached) and direct sampling: the same distribution, and in fact (nearly) the
    same draws, whether the windows are sampled alone or in a batch."""
    cache = KronosCache(kronos_forecaster, windows)
    knobs = {"sample_count": 400, "temperature": 1.0, "top_p": 0.95, "clip": 5.0,
             "context_length": 30}
    f = kronos_forecaster
    direct = KronosForecaster(f.tokenizer, f.predictor, seed=f.seed, max_context=64, **knobs)
    for i in (0, 7, 19):
        ours = cache.samples([i], direct.sampling, 30, 5.0, anchor=False)[0]
        theirs = direct.predict([windows.contexts[i]]).samples[0, :, 0]
        assert same_distribution_pvalue(ours, theirs) > 0.01
        # the same generator and the same draws: (almost) every sample is the very same
        assert np.mean(np.isclose(ours, theirs, rtol=1e-5)) > 0.95
    batch = cache.samples([0, 7, 19], direct.sampling, 30, 5.0, anchor=False)
    np.testing.assert_allclose(batch[1], cache.samples([7], direct.sampling, 30, 5.0, False)[0],
                               rtol=1e-6)
    # anchored: the same paths shifted by the last close's reconstruction error
    anchored = KronosForecaster(f.tokenizer, f.predictor, seed=f.seed, max_context=64,
                                anchor=True, **knobs)
    a = cache.samples([3], direct.sampling, 30, 5.0, anchor=True)[0]
    b = anchored.predict([windows.contexts[3]]).samples[0, :, 0]
    assert np.median(np.abs(a - b)) < 1e-6 * np.abs(b).max()


def settings(**kw) -> SweepSettings:
    base = {"n_trials": 6, "pool_size": 32, "toto": TOTO_SPACE, "kronos": KRONOS_SPACE}
    return SweepSettings(**{**base, **kw})


def fake_errors(config, order):
    """A deterministic error per config and window (no model needed)."""
    offset = 0.01 * (config["model"] == "kronos") + 0.001 * config.get("num_samples", 0) / 32
    return ((int(i), offset + 0.001 * (i % 3)) for i in order)


def test_sweep_resumes_an_interrupted_study(tmp_path):
    s = settings(storage=f"sqlite:///{tmp_path}/optuna.db", prune=False)
    configs = grid(s)
    objective = make_objective(s, fake_errors, 20, configs)

    def crash_after_three(study, trial):
        if trial.number == 2:
            raise KeyboardInterrupt

    study = open_study(s, "resume", configs)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, objective, s.n_trials, callbacks=[crash_after_three])
    first = [t.params for t in study.get_trials()]
    assert len(first) == 3
    study = open_study(s, "resume", configs)  # a new process would do the same
    run_study(study, objective, s.n_trials)
    trials = study.get_trials()
    assert len(trials) == 6 and [t.params for t in trials[:3]] == first
    mean_window_error = 0.001 * np.mean(np.arange(20) % 3)
    for trial in trials:
        expected = sum(e for _, e in fake_errors(trial.user_attrs["config"], range(20))) / 20
        assert trial.value == pytest.approx(expected)
    best = best_by_family(budget_trials(study, 6))
    assert min(t.value for t in best.values()) == study.best_value
    assert study.best_value >= mean_window_error
    # a larger budget adds trials; the first six, and so the winners for six, do not change
    run_study(study, objective, 9)
    assert [t.number for t in budget_trials(study, 6)] == [t.number for t in trials]
    assert best_by_family(budget_trials(study, 6)) == best


def test_grid_method_covers_the_product_of_the_lists(tmp_path):
    s = settings(method="grid", n_trials=20, prune=False, storage=f"sqlite:///{tmp_path}/o.db")
    configs = grid(s)
    assert len(configs) == 8 + 4  # 2 x 2 x 2 Toto configs, 2 x 2 Kronos
    study = open_study(s, "grid", configs)
    run_study(study, make_objective(s, fake_errors, 20, configs), s.n_trials)
    seen = [tuple(sorted(t.user_attrs["config"].items())) for t in study.get_trials()]
    assert len(seen) == len(set(seen)) == 12  # every grid point once; then the grid is done


def test_hopeless_trials_are_pruned(tmp_path):
    s = settings(n_trials=10, storage=f"sqlite:///{tmp_path}/o.db")
    configs = grid(s)
    study = open_study(s, "prune", configs)
    study.enqueue_trial({"model": "toto", "toto.num_samples": 8, "toto.aggregate": "mean",
                         "toto.context_length": 16})  # the best config comes first
    run_study(study, make_objective(s, fake_errors, 60, configs), s.n_trials)
    pruned = study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
    kronos = [t for t in study.get_trials() if t.user_attrs["config"]["model"] == "kronos"]
    assert kronos and all(t in pruned for t in kronos)  # 0.01 worse at every window
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
