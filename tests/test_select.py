"""The selection gate on the real path (gather, tried_losses, select, best_record) over a
synthetic tree of stage outputs: it decides on validation only, counts every configuration
tried (sweep trials included), lists identical forecasts once, and reports the MCS."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from tiny import section

from cryptocast.config import BaselineSpec
from cryptocast.data.splits import Splits
from cryptocast.data.store import write_manifest, write_series
from cryptocast.evaluation.evaluate import point_frame
from cryptocast.evaluation.stats import diebold_mariano
from cryptocast.io import write_json
from cryptocast.models.folder import write_data_end
from cryptocast.tuning.records import Record
from cryptocast.tuning.select import (
    SelectJob,
    SelectParams,
    best_record,
    drop_duplicates,
    gather,
    select,
    tried_losses,
)

N = 80  # windows per split
SYMBOL = "AAAUSDT"
BASELINE = BaselineSpec("toto", "toto", {"toto": {"model": "toto", "num_samples": 8},
                                         "naive": {"model": "naive"},
                                         "naive_gaussian": {"model": "naive_gaussian"}})
JOB = SelectJob({SYMBOL: BASELINE}, {}, SelectParams(**section("select", reps=500)), seed=0,
                horizon=1)
SPLIT_ROWS = {"validation": slice(1, N + 1), "test": slice(N + 1, 2 * N + 1)}


class Tree:
    """Stage outputs for one symbol: each candidate is a forecast return per window,
    r_hat = k * r (+ noise): k = 0 is naive, k = 1 is perfect."""

    def __init__(self, root, seed=0):
        rng = np.random.default_rng(seed)
        self.root = root
        stamps = pd.date_range("2024-01-01", periods=2 * N + 1, freq="D")
        self.close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, 2 * N + 1)))
        self.stamps = stamps
        self.rng = rng
        prepared = root / "data" / "prepared"
        candles = pd.DataFrame({"timestamp": stamps, "open": self.close, "high": self.close,
                                "low": self.close, "close": self.close, "volume": 1.0})
        write_series(prepared, "1d", SYMBOL, candles)
        splits = Splits("1d", stamps[1], stamps[N + 1], stamps[-1])
        write_manifest(prepared, {"splits": splits.to_dict()})
        for family in ("toto", "kronos"):
            (root / "models" / family).mkdir(parents=True)
            write_data_end(root / "models" / family, str(stamps[0]))

    def results(self, returns):
        """{split: {name: BacktestResult-like}} from {name: {split: forecast returns}}."""
        from cryptocast.evaluation.backtest import BacktestResult

        band = np.linspace(-0.05, 0.05, 21)  # naive_gaussian's distribution (the risk benchmark)
        out = {}
        for split, rows in SPLIT_ROWS.items():
            prev = self.close[rows.start - 1: rows.stop - 1]
            out[split] = {name: BacktestResult(
                self.stamps[rows].to_numpy(), prev, self.close[rows], prev * (1 + r[split]),
                prev[:, None] * (1 + band) if name == "naive_gaussian" else None, 0.0, 0.0)
                for name, r in returns.items()}
        return out

    def actual(self, split):
        rows = SPLIT_ROWS[split]
        return self.close[rows] / self.close[rows.start - 1: rows.stop - 1] - 1

    def scaled(self, k_val, k_test, noise=0.0):
        return {s: k * self.actual(s) + noise * self.rng.normal(0, 0.03, N)
                for s, k in (("validation", k_val), ("test", k_test))}

    def write(self, stage, returns, path, metrics_path, wrap=lambda m: m):
        results = self.results(returns)
        frame = point_frame(results)
        path = self.root / "forecasts" / path
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        metrics = {}
        for split, by_name in results.items():
            naive = np.abs(self.actual(split))
            metrics[split] = {}
            for name, r in by_name.items():
                err = r.point / r.prev_close - r.actual_close / r.prev_close
                metrics[split][name] = {
                    "n": N, "pct_return_mae": float(np.mean(np.abs(err))),
                    "naive_pct_return_mae": float(naive.mean()),
                    "dm_pvalue_vs_naive": diebold_mariano(err, -self.actual(split)).pvalue}
        write_json(self.root / "metrics" / metrics_path, wrap(metrics))
        return metrics

    def pipeline(self, sweep_toto, trials=()):
        """Baseline, one plan candidate, the sweep (winners + trial losses), an ensemble."""
        naive, base = self.scaled(0.0, 0.0), self.scaled(0.05, 0.05, 0.3)
        self.write("baseline", {"toto": base, "naive": naive,
                                "naive_gaussian": naive}, f"baseline/{SYMBOL}.parquet",
                   f"baseline/{SYMBOL}.json")
        self.write("improved", {"toto": base, "naive": naive,
                                "config1": self.scaled(0.02, 0.02, 0.3)},
                   f"improved/{SYMBOL}.parquet", f"improved/{SYMBOL}.json",
                   lambda m: {"candidates": m})
        Record(SYMBOL, "toto", {"model": "toto", "num_samples": 16}).write(
            self.root / "hyperparams" / "crypto_improved" / f"{SYMBOL}_config1.json")
        winners = {"toto": {"model": "toto", "num_samples": 32},
                   "kronos": {"model": "kronos", "sample_count": 4}}
        self.write("sweep", {"baseline": base, "naive": naive,
                             "sweep_toto": sweep_toto, "sweep_kronos": self.scaled(0.0, 0.0, 0.5)},
                   f"sweep/{SYMBOL}/forecasts.parquet", f"sweep/{SYMBOL}.json",
                   lambda m: {"winners": winners, "candidates": m})
        losses = [pd.DataFrame({"trial": i, "family": "toto", "state": "complete",
                                "timestamp": self.stamps[SPLIT_ROWS["validation"]],
                                "mae": np.abs(t - self.actual("validation")),
                                "crps": 0.5 * np.abs(t - self.actual("validation"))})
                  for i, t in enumerate(trials)]
        if losses:
            pd.concat(losses).to_parquet(self.root / "forecasts" / "sweep" / SYMBOL /
                                         "trials.parquet")
        self.write("ensemble", {"ensemble_mean": self.scaled(0.01, 0.01, 0.4), "naive": naive,
                                "ensemble_mixture": self.scaled(0.01, 0.01, 0.45)},
                   f"ensemble/{SYMBOL}.parquet", f"ensemble/{SYMBOL}.json",
                   lambda m: {"members": winners, "candidates": m,
                              "weights": {"mean": {"weight": 0.5}, "mixture": {"weight": 0.5}}})

    def panel(self, winner, trials):
        """The panel's forecasts of this symbol (naive, naive_gaussian and the panel sweep's
        Toto winner) with their metric blocks, and the panel sweep's trials on this symbol
        and on another one."""
        naive = self.scaled(0.0, 0.0)
        metrics = self.write("panel", {"naive": naive, "naive_gaussian": naive,
                                       "panel_sweep_toto": winner},
                             f"panel/{SYMBOL}.parquet", "panel_unused.json")
        write_json(self.root / "forecasts" / "panel" / f"{SYMBOL}.json",
                   {"fingerprint": "f", "metrics": metrics})
        write_json(self.root / "hyperparams" / "panel_sweep" / "toto.json",
                   {"model": "toto", "num_samples": 64})
        stamps = self.stamps[SPLIT_ROWS["validation"]]
        rows = [pd.DataFrame({"trial": i, "family": "toto", "symbol": symbol,
                              "timestamp": stamps, "mae": np.abs(t - self.actual("validation"))
                              if symbol == SYMBOL else np.zeros(N)})
                for i, t in enumerate(trials) for symbol in (SYMBOL, "BBBUSDT")]
        path = self.root / "forecasts" / "panel_sweep" / "trials.parquet"
        path.parent.mkdir(parents=True)
        pd.concat(rows).to_parquet(path)

    def best(self) -> Record:
        r = self.root
        return best_record(JOB, SYMBOL, r)["point"]


def test_a_real_gain_is_promoted_whatever_the_test_split_says(tmp_path):
    tree = Tree(tmp_path)
    # the sweep's Toto winner removes half the error on validation, and doubles it on test
    tree.pipeline(sweep_toto=tree.scaled(0.5, -1.0))
    record = tree.best()
    assert record.selection["chosen"] == "sweep_toto"
    assert record.selection["spa_pvalue"] < 0.05
    assert record.test["pct_return_mae"] > 1.5 * record.test["naive_pct_return_mae"]
    assert record.provenance["checkpoints"] == [str(tmp_path / "models" / "toto")]
    assert record.provenance["trained_on_scored_period"] is False
    # the same validation with test values that favour another candidate: the same choice
    other = Tree(tmp_path / "other")
    other.pipeline(sweep_toto=other.scaled(0.5, 0.0))
    assert other.best().selection["chosen"] == "sweep_toto"
    assert set(record.selection["mcs_test"]) != set(other.best().selection["mcs_test"])


def test_the_best_of_many_noise_trials_is_not_promoted(tmp_path):
    tree = Tree(tmp_path, seed=3)
    # 300 trials that are naive plus noise of 2% of a return's size: by luck the best of them
    # beats naive on validation with a DM p-value far below 0.05 on its own
    trials = [tree.scaled(0.0, 0.0, 0.02)["validation"] for _ in range(300)]
    lucky = min(trials, key=lambda t: np.mean(np.abs(t - tree.actual("validation"))))
    tree.pipeline(sweep_toto={"validation": lucky, "test": tree.scaled(0.0, 0.0, 0.02)["test"]},
                  trials=trials)
    finalists = gather(SYMBOL, BASELINE, {}, tmp_path)
    sweep_toto = next(c for c in finalists if c.name == "sweep_toto")
    assert sweep_toto.validation["dm_pvalue_vs_naive"] < 0.05  # significant on its own
    record = tree.best()
    assert record.selection["spa_configurations"] >= 300
    assert record.selection["spa_pvalue"] > 0.05
    assert record.selection["chosen"] == "naive_gaussian"
    # without the trials the same finalist would pass: the trials are what the gate counts
    alone = select(finalists, {"sweep:sweep_toto": np.abs(sweep_toto.errors["validation"])},
                   SelectParams(**section("select", reps=500)))
    assert alone[0].name == "sweep_toto"


def test_identical_forecasts_are_one_candidate(tmp_path):
    tree = Tree(tmp_path)
    tree.pipeline(sweep_toto=tree.scaled(0.3, 0.3, 0.1))
    finalists = gather(SYMBOL, BASELINE, {}, tmp_path)
    names = [c.name for c in finalists]
    assert names[:3] == ["naive", "naive_gaussian", "baseline_toto"]
    kept, same_as = drop_duplicates(finalists)
    assert "naive_gaussian" in [c.name for c in kept]  # the fallback stays beside naive
    losses = tried_losses(SYMBOL, tmp_path)
    # the baseline config appears in three stages' forecasts: one configuration
    assert {"baseline:toto", "improved:toto", "sweep:baseline"} <= set(losses)
    record = tree.best()
    assert record.selection["spa_configurations"] == 6  # toto, config1, 2 winners, 2 ensembles
    assert same_as == {}


def test_rules_and_params():
    with pytest.raises(ValueError, match="select.rule must be one of"):
        SelectParams.from_params({"select": section("select", rule="significant")})
    with pytest.raises(ValueError, match="select.alpha must be in"):
        SelectParams(**section("select", alpha=1.5))


def test_the_risk_objective_gates_on_crps_against_naive_gaussian():
    from cryptocast.tuning.select import Candidate, select_risk

    rng = np.random.default_rng(0)
    gauss = {s: np.abs(rng.normal(0.01, 0.003, N)) for s in ("validation", "test")}

    def candidate(name, crps):
        return Candidate(name, "baseline", {"model": name}, {"n": N}, {"n": N},
                         crps=crps)

    sharp = candidate("toto", {s: 0.8 * v for s, v in gauss.items()})
    noisy = candidate("ewma", {s: v * np.exp(rng.normal(0, 0.05, N)) for s, v in gauss.items()})
    point = candidate("naive", {s: np.full(N, np.nan) for s in gauss})
    params = SelectParams(**section("select", reps=500))
    finalists = [point, candidate("naive_gaussian", gauss), sharp, noisy]
    tried = {c.name: c.crps["validation"] for c in finalists[1:]}
    chosen, table = select_risk(finalists, tried, params)
    assert chosen.name == "toto" and table["spa_pvalue"] < 0.05
    assert table["test_vs_benchmarks"]["toto"]["naive_gaussian"]["crps_ratio"] == \
        pytest.approx(0.8)
    fallback, table = select_risk([point, candidate("naive_gaussian", gauss), noisy],
                                  {"ewma": noisy.crps["validation"]}, params)
    assert fallback.name == "naive_gaussian" and table["spa_pvalue"] > 0.05
    assert "naive" not in table["candidates"]  # a point forecast has no CRPS
    # the luckiest of many noise distributions tried is not promoted; alone it would be
    trials = [gauss["validation"] * np.exp(rng.normal(0, 0.1, N)) for _ in range(300)]
    lucky = candidate("sweep_toto", {"validation": min(trials, key=np.mean),
                                     "test": gauss["test"]})
    finalists = [candidate("naive_gaussian", gauss), lucky]
    alone, _ = select_risk(finalists, {"sweep_toto": lucky.crps["validation"]}, params)
    assert alone.name == "sweep_toto"
    counted, table = select_risk(finalists, dict(enumerate(trials)), params)
    assert counted.name == "naive_gaussian" and table["spa_configurations"] == 300
    best = SelectParams(**section("select", reps=500, rule="best"))
    assert select_risk(finalists, dict(enumerate(trials)), best)[0].name == "sweep_toto"


def test_objectives_name_the_records(tmp_path):
    tree = Tree(tmp_path)
    tree.pipeline(sweep_toto=tree.scaled(0.3, 0.3, 0.1),
                  trials=[tree.scaled(0.1, 0.1, 0.1)["validation"]])
    records = best_record(JOB, SYMBOL, tmp_path)
    assert set(records) == {"point", "risk"}
    # the only distribution among these finalists is the benchmark's; the trial's CRPS counts
    assert records["risk"].selection["chosen"] == "naive_gaussian"
    assert "sweep:trial_0" in tried_losses(SYMBOL, tmp_path, "crps")
    assert "baseline:toto" not in tried_losses(SYMBOL, tmp_path, "crps")  # a point forecast
    point_only = dataclasses.replace(JOB, gate=SelectParams(**section(
        "select", reps=500, objectives=["point"])))
    assert set(best_record(point_only, SYMBOL, tmp_path)) == {"point"}
    with pytest.raises(ValueError, match="select.objectives: point and optionally risk"):
        SelectParams(**section("select", objectives=["risk"]))


def test_the_panel_sweep_winner_is_a_finalist_of_every_panel_symbol(tmp_path):
    tree = Tree(tmp_path)
    tree.pipeline(sweep_toto=tree.scaled(0.0, 0.0, 0.5))
    assert "panel_sweep_toto" not in [c.name for c in gather(SYMBOL, BASELINE, {}, tmp_path)]
    winner = tree.scaled(0.5, 0.5)
    tree.panel(winner, trials=[winner["validation"], tree.scaled(0.0, 0.0, 0.5)["validation"]])
    finalist = gather(SYMBOL, BASELINE, {}, tmp_path)[-1]
    assert (finalist.name, finalist.stage) == ("panel_sweep_toto", "panel_sweep")
    assert finalist.config == {"model": "toto", "num_samples": 64}
    np.testing.assert_allclose(finalist.errors["validation"], -0.5 * tree.actual("validation"))
    losses = tried_losses(SYMBOL, tmp_path)
    assert {"panel:panel_sweep_toto", "panel_sweep:trial_0", "panel_sweep:trial_1"} <= set(losses)
    np.testing.assert_allclose(losses["panel_sweep:trial_0"],  # this symbol's rows only
                               0.5 * np.abs(tree.actual("validation")))
    assert not any(k.startswith("panel_sweep:") for k in tried_losses(SYMBOL, tmp_path, "crps"))
    record = tree.best()
    assert record.selection["chosen"] == "panel_sweep_toto"
    assert record.selection["stage"] == "panel_sweep" and record.config["num_samples"] == 64
