"""The panel sweep on three synthetic symbols and a tiny Toto: a trial's value is its relative
validation MAE over the panel, computed from each symbol's pool; the study resumes; the gate
counts every trial."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_candles
from tiny import TINY, data_config, eval_config, section, split_config

from cryptocast.data.prepare import prepare
from cryptocast.evaluation.panel import relative_score
from cryptocast.models.toto import Toto, save_checkpoint
from cryptocast.tuning.panel_sweep import panel_sweep_settings, run_panel_sweep
from cryptocast.tuning.pools import POOL_FILE, load_toto_pool, sweep_windows
from cryptocast.tuning.sweep import SweepSettings

SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]
SPACE = {"num_samples": [8, 32], "aggregate": ["mean", "median"], "context_length": [16, 32]}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("panel_sweep")
    source = root / "ohlcv" / "1d"
    source.mkdir(parents=True)
    for k, symbol in enumerate(SYMBOLS):  # prices a thousand times apart
        frame = make_candles(120, seed=k)
        frame[["open", "high", "low", "close"]] *= 1000.0 ** (k - 1)
        frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(
            source / f"{symbol}.csv", index=False)
    prepare(data_config(source_dir=str(root / "ohlcv"), intervals=["1d"]),
            split_config(val_steps=20, test_steps=10), SYMBOLS, root / "prepared",
            root / "report.json")
    torch.manual_seed(0)
    save_checkpoint(Toto(TINY), root / "models" / "toto")
    return root


def settings(root, **overrides) -> SweepSettings:
    return SweepSettings(**section("sweep.defaults", **{
        "n_trials": 5, "pool_size": 32, "families": ["toto"], "prune": False, "toto": SPACE,
        "storage": f"sqlite:///{root}/optuna.db", **overrides}))


def run(root, s, reps=200):
    return run_panel_sweep(s, eval_config(n_boot=20, latency_repeats=0), 0, SYMBOLS,
                           root / "prepared", {"toto": root / "models" / "toto"}, root / "pools",
                           {"toto": {"num_samples": 32, "aggregate": "median",
                                     "context_length": 32}}, reps)


def test_a_trial_is_scored_on_the_whole_panel_and_the_study_resumes(root):
    s = settings(root)
    outcome = run(root, s)
    cfg = eval_config()
    pools = {}
    for symbol in SYMBOLS:
        folder = next((root / "pools").glob(f"*/{symbol}"))
        pools[symbol] = load_toto_pool(folder / POOL_FILE, sweep_windows(s, cfg, symbol,
                                                                         root / "prepared")[0])
    naive = np.column_stack([np.abs(p.windows.actual_return) for p in pools.values()])
    trials = outcome.trials
    assert len(trials) == 5 * len(SYMBOLS) * 20
    for number, rows in trials.groupby("trial"):
        config = next(h for h in outcome.history if h["trial"] == number)
        losses = np.column_stack([rows[rows["symbol"] == sym]["mae"].to_numpy()
                                  for sym in SYMBOLS])
        assert config["value"] == pytest.approx(relative_score(losses, naive))
    # the first trial is the family default, scored from every symbol's pool
    first = trials[trials["trial"] == 0]
    for symbol, pool in pools.items():
        np.testing.assert_allclose(first[first["symbol"] == symbol]["mae"],
                                   pool.losses(32, "median", 32).mae)
    best = min(outcome.history, key=lambda h: h["value"])
    assert outcome.metrics["validation_relative_mae"]["toto"] == best["value"]
    assert 1 <= outcome.metrics["spa_configurations"] <= 5
    assert 0 <= outcome.metrics["spa_pvalue"] <= 1
    again = run(root, s)  # resumed: the same trials, none added
    assert again.history == outcome.history and again.winners == outcome.winners


def test_settings_come_from_sweep_defaults_with_the_panel_overrides():
    s = panel_sweep_settings({"sweep": {"defaults": section("sweep.defaults"),
                                        "panel": {"families": ["toto"], "n_trials": 7}}})
    assert s.families == ["toto"] and s.n_trials == 7 and s.prune is False
    assert s.toto == section("sweep.defaults")["toto"]
