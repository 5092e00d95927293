"""The panel: which symbols join it, per-symbol forecasts kept and reused by fingerprint, and
the pooled leaderboard and plan verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles
from tiny import data_config, eval_config, split_config

from cryptocast.data.prepare import prepare
from cryptocast.data.splits import Splits
from cryptocast.data.store import read_splits
from cryptocast.report import build_panel_report
from cryptocast.tuning import panel
from cryptocast.tuning.panel import PanelSettings, PlanTreatment, panel_symbols, pool

SPECS = {"naive": {"model": "naive"},
         "naive_gaussian": {"model": "naive_gaussian", "window": 10, "num_samples": 50}}
SETTINGS = PanelSettings("all", ["1d"], 100, 0, "mae", SPECS,
                         {"1.x": PlanTreatment("naive", ["naive_gaussian"], (0.1, 0.2))})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("panel")
    source = root / "ohlcv" / "1d"
    source.mkdir(parents=True)
    frames = {"AAAUSDT": make_candles(200, seed=1), "BBBUSDT": make_candles(200, seed=2),
              "SHORTUSDT": make_candles(90, start="2024-04-19", seed=3),
              "OLDUSDT": make_candles(170, seed=4)}
    for symbol, frame in frames.items():
        frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(
            source / f"{symbol}.csv", index=False)
    four = root / "ohlcv" / "4h"
    four.mkdir()
    for symbol, seed in (("AAAUSDT", 5), ("BBBUSDT", 6)):
        make_candles(6 * 200, freq="4h", seed=seed).assign(
            timestamp=lambda f: f["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
            four / f"{symbol}.csv", index=False)
    prepare(data_config(source_dir=str(root / "ohlcv"), intervals=["1d", "4h"]),
            split_config(val_steps=20, test_steps=20), ["AAAUSDT", "BBBUSDT"],
            root / "prepared", root / "report.json")
    return root / "prepared"


def test_the_panel_holds_the_symbols_with_history_to_the_end(prepared):
    included, excluded = panel_symbols(prepared, read_splits(prepared), SETTINGS)
    assert included == ["AAAUSDT", "BBBUSDT"]
    assert "fewer than panel.min_history 100" in excluded["SHORTUSDT"]
    assert "before the test end" in excluded["OLDUSDT"]
    listed = PanelSettings(["AAAUSDT", "ZZZUSDT"], ["1d"], 100, 0, "mae", SPECS, {})
    assert panel_symbols(prepared, read_splits(prepared), listed) == (
        ["AAAUSDT"], {"ZZZUSDT": "no prepared 1d candles"})


def test_a_symbols_forecasts_are_reused_until_what_they_depend_on_changes(prepared, tmp_path,
                                                                         monkeypatch):
    splits, cfg = read_splits(prepared), eval_config(n_boot=50, latency_repeats=0)
    args = (SPECS, cfg, 0, prepared, tmp_path / "models", splits, tmp_path / "out")
    first = panel.symbol_losses("AAAUSDT", *args)
    assert set(first["candidate"]) == set(SPECS) and len(first) == 2 * 2 * 20
    assert first.loc[first["candidate"] == "naive", "crps"].isna().all()
    blocks = panel.symbol_metrics(tmp_path / "out", "AAAUSDT")
    test = first[(first["split"] == "test") & (first["candidate"] == "naive_gaussian")]
    assert blocks["test"]["naive_gaussian"]["pct_return_mae"] == pytest.approx(
        test["abs_error"].mean()) and blocks["test"]["naive_gaussian"]["n"] == 20
    assert blocks["validation"]["naive_gaussian"]["crps"] == pytest.approx(
        first.loc[(first["split"] == "validation") & (first["candidate"] == "naive_gaussian"),
                  "crps"].mean())
    assert panel.symbol_metrics(tmp_path / "out", "BBBUSDT") is None
    monkeypatch.setattr(panel, "score_symbol", lambda *a: pytest.fail("scored again"))
    pd.testing.assert_frame_equal(panel.symbol_losses("AAAUSDT", *args), first)
    monkeypatch.undo()
    other = {**SPECS, "naive_gaussian": {**SPECS["naive_gaussian"], "window": 20}}
    changed = panel.symbol_losses("AAAUSDT", other, *args[1:])
    assert not changed["crps"].equals(first["crps"])


def test_pooled_leaderboard_and_plan(prepared, tmp_path):
    splits, cfg = read_splits(prepared), eval_config(n_boot=50, latency_repeats=0)
    frames = {s: panel.symbol_losses(s, SPECS, cfg, 0, prepared, tmp_path, splits, tmp_path)
              for s in ("AAAUSDT", "BBBUSDT")}
    result = pool(frames, SETTINGS, list(SPECS), cfg, 0)
    board = result["test"]["leaderboard"]
    assert board["naive"]["mae"]["relative"] == 1.0 and board["naive"]["crps"] is None
    assert board["naive_gaussian"]["mae"]["relative"] == pytest.approx(1.0)  # naive's point
    assert board["naive_gaussian"]["crps"]["symbols"] == 2
    claim = result["validation"]["plan"]["1.x"]["naive_gaussian"]
    assert claim["gain"] == pytest.approx(0.0) and claim["verdict"] == "refuted"
    assert set(result["test"]["skill_vs_naive"]["naive"]) == {"AAAUSDT", "BBBUSDT"}
    assert np.isclose(result["test"]["skill_vs_naive"]["naive"]["AAAUSDT"], 0.0)


def test_the_plan_pools_the_crps_when_that_is_the_objective(prepared, tmp_path):
    from cryptocast.evaluation.panel import relative_score

    splits, cfg = read_splits(prepared), eval_config(n_boot=50, latency_repeats=0)
    specs = {**SPECS, "wide": {**SPECS["naive_gaussian"], "window": 30}}
    frames = {s: panel.symbol_losses(s, specs, cfg, 0, prepared, tmp_path, splits, tmp_path)
              for s in ("AAAUSDT", "BBBUSDT")}
    plan = {"1.y": PlanTreatment("naive_gaussian", ["wide"], (0.1, 0.2))}
    crps_settings = PanelSettings("all", ["1d"], 100, 0, "crps", specs, plan)
    result = pool(frames, crps_settings, list(specs), cfg, 0)
    assert result["objective"] == "crps"
    crps = {n: panel._matrix(frames, "test", n, "crps") for n in ("wide", "naive_gaussian")}
    assert result["test"]["plan"]["1.y"]["wide"]["gain"] == pytest.approx(
        1 - relative_score(crps["wide"], crps["naive_gaussian"]))
    point = {"1.z": PlanTreatment("naive", ["wide"], (0.1, 0.2))}
    with pytest.raises(ValueError, match="candidate naive of panel.plan has no distribution"):
        pool(frames, PanelSettings("all", ["1d"], 100, 0, "crps", specs, point), list(specs),
             cfg, 0)


def test_settings_errors_name_the_key():
    with pytest.raises(ValueError, match=r"benchmarks \['naive_gaussian'\] are missing"):
        PanelSettings("all", ["1d"], 1, 0, "mae", {"naive": {"model": "naive"}}, {})
    with pytest.raises(ValueError, match="panel.objective must be one of"):
        PanelSettings("all", ["1d"], 1, 0, "pinball", SPECS, {})
    with pytest.raises(ValueError, match=r"panel.intervals: a list of .*got \['2d'\]"):
        PanelSettings("all", ["2d"], 1, 0, "mae", SPECS, {})
    with pytest.raises(ValueError, match="panel.latency_repeats must be >= 0, got -1"):
        PanelSettings("all", ["1d"], 1, -1, "mae", SPECS, {})
    section = {"symbols": "all", "intervals": ["1d"], "min_history": 1, "latency_repeats": 0,
               "objective": "mae", "candidates": SPECS}
    bad = {"eval": {"interval": "1d"}, "panel": {**section, "plan": {
        "9": {"control": "naive", "treatments": ["nope"], "claimed": [0, 1]}}}}
    with pytest.raises(ValueError, match=r"panel.plan.9: unknown candidates \['nope'\]"):
        PanelSettings.from_params(bad)
    other = {"eval": {"interval": "1d"}, "panel": {**section, "intervals": ["4h"]}}
    with pytest.raises(ValueError, match=r"panel.intervals \['4h'\] must include eval.interval"):
        PanelSettings.from_params(other)


def test_another_interval_scores_the_same_dates_with_its_own_candles(prepared, tmp_path):
    daily = read_splits(prepared)
    four = panel.splits_at(daily, "4h")
    assert (four.val_start, four.test_start) == (daily.val_start, daily.test_start)
    assert four.end == daily.end + pd.Timedelta(hours=20)  # the last 4h candle of the last day
    assert panel.splits_at(daily, "1d") == daily
    assert panel_symbols(prepared, four, SETTINGS) == (
        ["AAAUSDT", "BBBUSDT"], {"OLDUSDT": "no prepared 4h candles",
                                 "SHORTUSDT": "no prepared 4h candles"})
    cfg = eval_config(n_boot=50, latency_repeats=0)
    frames = {s: panel.symbol_losses(s, SPECS, cfg, 0, prepared, tmp_path, four, tmp_path)
              for s in ("AAAUSDT", "BBBUSDT")}
    naive = frames["AAAUSDT"][frames["AAAUSDT"]["candidate"] == "naive"]
    assert (naive["split"] == "validation").sum() == (naive["split"] == "test").sum() == 6 * 20
    stamps = pd.to_datetime(naive["timestamp"])
    assert stamps.min() == daily.val_start and stamps.max() == four.end
    doc = {"symbols": list(frames), "excluded": {}, **pool(frames, SETTINGS, list(SPECS), cfg, 0)}
    text = build_panel_report(doc, "4h", tmp_path / "docs", "Made by hand.").read_text()
    assert text.startswith("Made by hand.\n\n## Panel on 4h candles: 2 symbols\n")
    assert "(120 test windows per symbol)" in text
    assert "### Leaderboard on 4h candles (test)" in text
    assert "![panel_skill_4h](panel_skill_4h.png)" in text
    assert (tmp_path / "docs" / "panel_skill_4h.png").stat().st_size > 0
    with pytest.raises(ValueError, match="1d candles do not divide the evaluation interval 4h"):
        panel.splits_at(four, "1d")
    with pytest.raises(ValueError, match="4h candles do not divide the evaluation interval 6h"):
        panel.splits_at(Splits("6h", daily.val_start, daily.test_start, daily.end), "4h")
