"""The plan's phase-1 candidates: files from params, the hyperparams schema, verdicts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cryptocast.data.splits import Splits
from cryptocast.tuning.improved import (
    HELD,
    NOISE,
    REVERSED,
    clipped_share,
    judge,
    plan_candidates,
    read_candidate_files,
    verdict,
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
    paths = write_candidate_files(PARAMS, tmp_path)
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


def test_verdicts():
    assert verdict(0.2, 0.01) == HELD
    assert verdict(-0.2, 0.01) == REVERSED
    assert verdict(0.4, 0.2) == NOISE
    assert verdict(0.4, None) == NOISE  # DM undefined: nothing shown
    assert verdict(0.1, 0.05) == NOISE  # the level is strict


def test_judge_gain_and_interval_against_the_baseline():
    def scores(mae, p, lo, hi):
        return {"pct_return_mae": mae, "dm_pvalue_vs_reference": p, "dm_pvalue_vs_naive": 0.5,
                "mae_diff_vs_reference_ci95": [lo, hi], "naive_pct_return_mae": 0.03}

    split = {"base": scores(0.04, 1.0, 0.0, 0.0), "c1": scores(0.03, 0.001, -0.02, -0.005),
             "c2": scores(0.05, 0.3, -0.01, 0.03)}
    out = judge({"validation": split, "test": split}, ["c1", "c2"], "base", (0.3, 0.4))
    c1, c2 = out["test"]["c1"], out["test"]["c2"]
    assert c1["gain"] == pytest.approx(0.25) and c1["verdict"] == HELD
    assert c2["gain"] == pytest.approx(-0.25) and c2["verdict"] == NOISE
    assert (c1["mae_diff_vs_baseline_ci95_lo"], c1["expected_gain_hi"]) == (-0.02, 0.4)


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
