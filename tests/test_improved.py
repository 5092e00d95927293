"""The plan's phase-1 candidates: files from params, the hyperparams schema, verdicts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tiny import eval_config

from cryptocast.data.splits import Splits
from cryptocast.evaluation.claims import (
    CONSISTENT,
    HELD,
    REFUTED,
    REVERSED,
    claim_verdict,
    judge_claim,
)
from cryptocast.tuning.improved import (
    all_plans,
    clipped_share,
    judge,
    plan_candidates,
    read_candidate_files,
    write_candidate_files,
)
from cryptocast.tuning.records import RECORD_KEYS, Record, read_record

PARAMS = {
    "improved": {
        "ETHUSDT": {
            "plan_item": "1.1", "expected_gain": [0.3, 0.4], "families": ["toto", "toto"],
            "configs": {"config1": {"model": "toto", "num_samples": 512},
                        "config2": {"model": "toto", "num_samples": 1024}},
            "notes": {"config2": "the plan's recommendation"},
        },
    },
}  # fmt: skip


def test_candidate_files_round_trip_in_the_one_schema(tmp_path):
    paths = write_candidate_files(all_plans(PARAMS), tmp_path)
    assert sorted(p.name for p in paths) == ["ETHUSDT_config1.json", "ETHUSDT_config2.json"]
    assert set(json.loads(paths[0].read_text())) == set(RECORD_KEYS)
    records = read_candidate_files(tmp_path, "ETHUSDT")
    assert records["config2"].config == {"model": "toto", "num_samples": 1024}
    assert records["config2"].plan == {"item": "1.1", "expected_gain": [0.3, 0.4]}
    assert records["config2"].note == "the plan's recommendation"
    assert records["config1"].validation is None and records["config1"].test is None


def test_bad_records_and_params_are_named(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"symbol": "X"}))
    with pytest.raises(ValueError, match=r"x.json: not a hyperparams record \(missing"):
        read_record(tmp_path / "x.json")
    with pytest.raises(ValueError, match="config model 'naive' != model 'toto'"):
        Record(symbol="X", model="toto", config={"model": "naive"})
    bad = {"improved": {"ETHUSDT": {**PARAMS["improved"]["ETHUSDT"], "expected": [0, 1]}}}
    with pytest.raises(ValueError, match=r"params improved.ETHUSDT: unknown keys \['expected'\]"):
        plan_candidates(bad, "ETHUSDT")
    with pytest.raises(FileNotFoundError, match="no BTCUSDT_config"):
        read_candidate_files(tmp_path, "BTCUSDT")


def test_claim_verdicts():
    claim = (0.3, 0.4)
    assert claim_verdict(0.35, (0.31, 0.39), 0.001, claim) == HELD
    assert claim_verdict(0.05, (0.01, 0.31), 0.01, claim) == HELD  # reaches the claim
    assert claim_verdict(0.05, (0.01, 0.09), 0.01, claim) == REFUTED  # a gain, far below
    assert claim_verdict(0.0, (-0.03, 0.03), 0.9, claim) == REFUTED  # ETH 1.1 on test
    assert claim_verdict(0.1, (-0.05, 0.35), 0.2, claim) == CONSISTENT
    assert claim_verdict(0.1, (-0.05, 0.35), None, claim) == CONSISTENT  # DM undefined
    assert claim_verdict(-0.2, (-0.3, -0.1), 0.01, claim) == REVERSED
    assert claim_verdict(-0.2, (-0.3, 0.5), 0.05, claim) == CONSISTENT  # the level is strict
    assert claim_verdict(-0.02, (-0.05, 0.01), 0.3, (-0.1, 0.0)) == CONSISTENT


def test_judge_claim_from_errors():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 0.03, 120)
    half = judge_claim(0.5 * reference, reference, (0.3, 0.4), n_boot=200)
    assert half["gain"] == pytest.approx(0.5) and half["verdict"] == HELD
    assert half["gain_ci95_lo"] == pytest.approx(0.5) and half["dm_pvalue"] < 1e-6
    noise = judge_claim(reference + rng.normal(0, 0.005, 120), reference, (0.3, 0.4), n_boot=200)
    assert noise["verdict"] == REFUTED and noise["gain_ci95_hi"] < 0.3
    assert (noise["claimed_lo"], noise["claimed_hi"]) == (0.3, 0.4)


def test_judge_reads_the_forecasts_against_the_baseline():
    rng = np.random.default_rng(1)
    prev = 100 + rng.normal(0, 1, 60)
    actual = prev * (1 + rng.normal(0, 0.03, 60))
    rows = []
    for split in ("validation", "test"):
        for name, forecast in (("base", prev), ("c1", prev + 0.5 * (actual - prev)),
                               ("c2", prev - 0.5 * (actual - prev))):
            rows.append(pd.DataFrame({"split": split, "candidate": name, "prev_close": prev,
                                      "actual_close": actual, "forecast_close": forecast}))
    forecasts = pd.concat(rows, ignore_index=True)
    metrics = {s: {n: {"pct_return_mae": 0.0, "naive_pct_return_mae": 0.0,
                       "dm_pvalue_vs_naive": 1.0} for n in ("base", "c1", "c2")}
               for s in ("validation", "test")}
    out = judge(metrics, forecasts, ["c1", "c2"], "base", (0.3, 0.4),
                eval_config(n_boot=200))
    c1, c2 = out["test"]["c1"], out["test"]["c2"]
    assert c1["gain"] == pytest.approx(0.5) and c1["verdict"] == HELD
    assert c2["gain"] == pytest.approx(-0.5) and c2["verdict"] == REVERSED


def test_clipped_share_by_hand():
    # windows of 4 closes before each target; the last close of a steady trend [1, 2, 3, 4]
    # lies (4 - 2.5) / 1.118 = 1.342 window stds above the mean
    close = np.arange(1.0, 11.0)
    stamps = pd.date_range("2024-01-01", periods=10, freq="D")
    candles = pd.DataFrame({"timestamp": stamps, "close": close})
    splits = Splits("1d", stamps[6], stamps[8], stamps[9])  # validation targets rows 6, 7
    assert clipped_share(candles, splits, "validation", 4, 1.3) == 1.0
    assert clipped_share(candles, splits, "validation", 4, 1.4) == 0.0
    # a flat window: z = 0, inside any clip
    flat = candles.assign(close=[5.0] * 10)
    assert clipped_share(flat, splits, "test", 4, 0.1) == 0.0
