"""A forecast's samples depend on (seed, series, target timestamp) only: not on the batch
size, on which other windows or splits are evaluated, or on the other candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_candles
from tiny import PRED, TINY, TOK, eval_config

from cryptocast.data.splits import compute_splits
from cryptocast.evaluation.backtest import rolling_origin
from cryptocast.evaluation.evaluate import evaluate_candidates
from cryptocast.forecast.base import Context, fixed_batches
from cryptocast.forecast.naive import NaiveGaussianForecaster
from cryptocast.models.kronos import Kronos, KronosForecaster, KronosTokenizer
from cryptocast.models.toto import Toto, TotoForecaster

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def forecasters() -> dict:
    torch.manual_seed(0)
    toto = TotoForecaster(Toto(TINY).eval(), name="toto", seed=7, num_samples=64,
                          context_length=40)
    kronos = KronosForecaster(KronosTokenizer(TOK), Kronos(PRED), name="kronos", seed=7,
                              sample_count=32, context_length=30, max_context=64)
    return {"toto": toto, "kronos": kronos}


@pytest.mark.parametrize("family", ["toto", "kronos"])
def test_samples_do_not_depend_on_batch_size_or_other_windows(forecasters, family):
    candles = make_candles(120)
    forecaster = forecasters[family]
    targets = np.arange(60, 100)
    whole = rolling_origin(candles, targets, forecaster, step=DAY, batch_size=64, series="X")
    small = rolling_origin(candles, targets, forecaster, step=DAY, batch_size=3, series="X")
    alone = rolling_origin(candles, targets[17:18], forecaster, step=DAY, batch_size=1,
                           series="X")
    np.testing.assert_array_equal(whole.samples, small.samples)
    np.testing.assert_array_equal(whole.samples[17:18], alone.samples)
    other = rolling_origin(candles, targets, forecaster, step=DAY, batch_size=64, series="Y")
    assert not np.array_equal(whole.samples, other.samples)  # the series is part of the seed


def test_test_split_unchanged_by_batch_size_val_steps_and_candidates(forecasters):
    candles = make_candles(160)

    def test_metrics(val_steps: int, batch_size: int, candidates: dict) -> dict:
        splits = compute_splits({"X": candles}, "1d", DAY, val_steps, 20)
        cfg = eval_config(val_steps=val_steps, test_steps=20, n_boot=50, batch_size=batch_size,
                         latency_repeats=0)
        metrics, _ = evaluate_candidates(candles, "X", splits, candidates, "toto", cfg)
        return {name: {k: v for k, v in scores.items() if not k.startswith("latency")}
                for name, scores in metrics["test"].items()}

    base = test_metrics(30, 64, {"toto": forecasters["toto"]})
    more = test_metrics(25, 7, {"toto": forecasters["toto"], "kronos": forecasters["kronos"],
                                "gauss": NaiveGaussianForecaster(window=10)})
    assert more["toto"] == base["toto"]


def test_draw_seed_depends_on_seed_series_and_target_only():
    stamps = np.arange(12).astype("datetime64[D]").astype("datetime64[ns]")

    def ctx(n: int, series: str = "BTC", first: int = 10) -> Context:
        return Context(stamps[first - n:first], np.ones((n, 5)), stamps[first:first + 1], series)

    assert ctx(5).draw_seed(1) == ctx(9).draw_seed(1)  # context length does not matter
    seeds = {ctx(5).draw_seed(1), ctx(5).draw_seed(2), ctx(5, "ETH").draw_seed(1),
             ctx(5, first=11).draw_seed(1)}
    assert len(seeds) == 4 and all(0 <= s < 2**63 for s in seeds)


def test_fixed_batches_group_by_length_and_fill_with_copies():
    lengths = {4: 30, 0: 20, 7: 30, 2: 30, 9: 20}
    assert list(fixed_batches(lengths, 2)) == [
        (20, [0, 9], [0, 9]), (30, [4, 7], [4, 7]), (30, [2], [2, 2])]
    assert list(fixed_batches({}, 8)) == []
