"""The report's tables and renderings (the figures are drawn by the report stage on the real
data in `make smoke`)."""

from __future__ import annotations

import pandas as pd
import pytest

from cryptocast.report.build import Block, _html, _markdown
from cryptocast.report.figures import pit_histogram
from cryptocast.report.tables import (
    candidate_row,
    finetune_table,
    markdown_table,
    plan_verdicts,
    selection_text,
)
from cryptocast.tuning.select import Candidate


def test_candidate_row_skill_interval_by_hand():
    # naive MAE 0.02, candidate 0.018: skill 10%; MAE diff interval [-0.004, 0.001]
    # -> skill interval [-0.001 / 0.02, 0.004 / 0.02] = [-5%, 20%]
    test = {"pct_return_mae": 0.018, "naive_pct_return_mae": 0.02, "skill_vs_naive": 0.1,
            "mae_diff_vs_naive_ci95_lo": -0.004, "mae_diff_vs_naive_ci95_hi": 0.001,
            "price_mae": 1234.5, "latency_s_single": 0.0021, "dm_pvalue_vs_naive": 0.031,
            "crps": 0.01234, "coverage_80": 0.79, "strategy_return": -0.05}
    row = candidate_row(Candidate("c", "sweep", {"model": "toto"}, {"pct_return_mae": 0.019},
                                  test))
    assert row == ["c", "sweep", "1.90%", "1.80%", "1234", "0.0021 s", "10.0% [-5.0%, 20.0%]",
                   "0.03", "0.0123", "0.79", "-5.0%"]


def test_plan_verdict_lines():
    val = {"claimed_lo": 0.3, "claimed_hi": 0.4, "gain": 0.021, "gain_ci95_lo": -0.01,
           "gain_ci95_hi": 0.052, "dm_pvalue": 0.2, "verdict": "consistent but unproven"}
    test = {**val, "gain": -0.012, "gain_ci95_lo": -0.031, "gain_ci95_hi": 0.008,
            "dm_pvalue": 0.41, "verdict": "refuted"}
    line, = plan_verdicts({"plan_item": "1.1", "judged": {"validation": {"config2": val},
                                                           "test": {"config2": test}}})
    assert line == ("plan 1.1 config2: claimed gain 30%-40%; measured 2.1% [-1.0%, 5.2%] "
                    "(DM p 0.20) on validation, consistent but unproven; -1.2% [-3.1%, 0.8%] "
                    "(DM p 0.41) on test, **refuted**")


def test_renderings_escape_and_embed(tmp_path):
    png = pit_histogram(pd.DataFrame({"split": ["test"] * 3, "pit": [0.1, 0.5, 0.9]}), "X",
                        "c", tmp_path / "figures" / "x.png")
    blocks = [Block("heading", (1, "A <title>")), Block("text", "**bold** & plain"),
              Block("table", (["a", "b"], [["1", "<2>"]])), Block("figure", png)]
    md = _markdown(blocks, tmp_path)
    assert "# A <title>" in md and "| 1 | <2> |" in md and "![x](figures/x.png)" in md
    page = _html(blocks)
    assert "<h1>A &lt;title&gt;</h1>" in page and "<b>bold</b> &amp; plain" in page
    assert "<td>&lt;2&gt;</td>" in page and "data:image/png;base64,iVBOR" in page


def test_markdown_table_shape():
    assert markdown_table(["a", "b"], [["1", "2"]]).splitlines() == [
        "| a | b |", "| --- | --- |", "| 1 | 2 |"]
    with pytest.raises(TypeError):
        markdown_table(["a"], [[1]])  # cells are text


def test_selection_text_says_why():
    best = {"chosen": "naive_gaussian", "rule": "spa", "spa_pvalue": 0.4123,
            "spa_configurations": 131, "spa_best": "ensemble:ensemble_mean_w0.5",
            "mcs_validation": ["naive", "sweep_toto"], "mcs_test": ["naive"],
            "duplicates": {"resweep_toto": "sweep_toto"},
            "test_pct_return_mae": 0.0262, "test_naive_pct_return_mae": 0.0262,
            "test_dm_pvalue_vs_naive": 1.0}
    assert selection_text(best) == (
        "Selected: **naive_gaussian**: Hansen's SPA test over the 131 distinct configurations "
        "tried on validation (best: ensemble:ensemble_mean_w0.5) gives p = 0.412, so no "
        "configuration is promoted over the random walk (test MAE 2.62% vs naive 2.62%, DM p "
        "1.00). The 90% Model Confidence Set of the finalists holds naive, sweep_toto on "
        "validation and naive on test. Identical forecasts listed once: resweep_toto = "
        "sweep_toto.")
    beat = {**best, "chosen": "sweep_toto", "spa_pvalue": 0.01, "test_pct_return_mae": 0.025}
    assert selection_text(beat).startswith(
        "Selected: **sweep_toto**: Hansen's SPA test over the 131 distinct configurations tried "
        "on validation (best: ensemble:ensemble_mean_w0.5) gives p = 0.010, below alpha (test "
        "MAE 2.50%")
    assert selection_text({**beat, "rule": "best"}).startswith(
        "Selected: **sweep_toto** (rule best: the lowest validation MAE; test MAE 2.50% vs "
        "naive 2.62%, DM p 1.00).")


def test_panel_leaderboard_rows_best_first():
    from cryptocast.report.tables import panel_rows

    def block(relative, wins):
        return {"relative": relative, "relative_ci95_lo": relative - 0.01,
                "relative_ci95_hi": relative + 0.02, "win_rate": wins, "symbols": 17,
                "dm_pvalue": 0.3}

    split = {"leaderboard": {"naive": {"mae": block(1.0, 0.0), "crps": None},
                             "toto": {"mae": block(0.98, 0.6), "crps": block(0.9, 0.8)}}}
    assert panel_rows(split) == [
        ["toto", "0.980 [0.970, 1.000]", "60% of 17", "0.30", "0.900 [0.890, 0.920]"],
        ["naive", "1.000 [0.990, 1.020]", "0% of 17", "0.30", "-"]]


def _risk_block(name, crps_val, crps_test):
    test = {"crps": crps_test, "coverage_80": 0.75, "coverage_95": 0.9,
            "var95_lower_exceedance": 0.1, "var95_lower_kupiec_p": 0.04,
            "var99_lower_exceedance": 0.0, "var99_lower_kupiec_p": 0.2, "pit_ks_p": 0.5}
    return Candidate(name, "baseline", {"model": name}, {"crps": crps_val}, test)


RISK = {"chosen": "garch", "spa_pvalue": 0.02, "spa_configurations": 3, "spa_best": "garch",
        "mcs_validation": ["garch"], "mcs_test": ["garch", "naive_gaussian"],
        "test_vs_benchmarks": {
            "garch": {"naive_gaussian": {"crps_ratio": 0.9, "dm_pvalue": 0.01}},
            "naive_gaussian": {"garch": {"crps_ratio": 1.11, "dm_pvalue": 0.01}},
            "toto": {"naive_gaussian": {"crps_ratio": 0.95, "dm_pvalue": 0.03},
                     "garch": {"crps_ratio": 0.97, "dm_pvalue": 0.04}}}}


def test_risk_rows_best_validation_crps_first_point_forecasts_left_out():
    from cryptocast.report.tables import risk_rows

    candidates = [_risk_block("naive_gaussian", 0.02, 0.021), _risk_block("toto", 0.019, 0.02),
                  _risk_block("garch", 0.018, 0.019), _risk_block("naive", 0.0, 0.0)]
    rows = risk_rows(candidates, RISK)
    assert [r[0] for r in rows] == ["garch", "toto", "naive_gaussian"]
    assert rows[1] == ["toto", "0.01900", "0.02000", "0.950 (0.03)", "0.970 (0.04)",
                       "0.75 / 0.90", "10.0% (0.04)", "0.0% (0.20)", "0.50"]
    assert rows[0][4] == "-"  # garch is not compared with itself


def test_risk_text_names_who_beats_both_benchmarks():
    from cryptocast.report.tables import risk_text

    text = risk_text(RISK)
    assert text.startswith("Risk objective (CRPS): selected **garch**: Hansen's SPA over the 3 "
                           "distributions against naive_gaussian on validation CRPS (best: "
                           "garch) gives p = 0.020. test CRPS / naive_gaussian 0.900 (0.01).")
    assert "Beating both benchmarks on test (DM p < 0.05): toto." in text
    assert "No candidate" in risk_text(RISK, alpha=0.03)


def test_var_figure_counts_exceedances(tmp_path):
    from cryptocast.report.figures import var_exceedances

    frame = pd.DataFrame({"split": "test", "timestamp": pd.date_range("2024-01-01", periods=3),
                          "prev_close": 100.0, "actual_close": [90.0, 99.0, 101.0],
                          "q05": 95.0, "q01": 92.0})
    png = var_exceedances(frame, "X", "c", tmp_path / "v.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_panel_sweep_text_states_the_gate():
    from cryptocast.report.tables import panel_sweep_text

    doc = {"trials": 100, "symbols": ["A", "B"], "validation_relative_mae": {"toto": 0.987},
           "winners": {"toto": {"model": "toto", "num_samples": 256}}, "spa_pvalue": 0.41,
           "spa_configurations": 88}
    assert panel_sweep_text(doc).startswith(
        "Panel sweep: 100 trials on 2 symbols at once, each scored by its relative validation "
        "MAE over the panel. Winners: toto 0.987 x naive (num_samples 256). Hansen's SPA over "
        "the 88 distinct configurations against naive gives p = 0.410, so no configuration "
        "tried beat")


def test_scope_text_names_what_was_scored():
    from cryptocast.report.tables import scope_text

    text = scope_text({"interval": "4h", "horizon": 3, "steps": {"validation": 720,
                                                                 "test": 700}})
    assert text.startswith("4h candles, rolling origin, horizon 3; 720 validation and 700 test "
                           "windows.") and "return 3 candle(s) ahead" in text


def test_finetune_rows_compare_with_the_base_and_leave_untrained_runs_blank():
    search = {"base_criterion": 2.0, "configs": {
        "a": {"best_epoch": 2, "epochs_run": 5, "best_val_ce": 1.9, "criterion": 1.9},
        "b": {"best_epoch": None, "epochs_run": 0, "best_val_ce": None, "criterion": None,
              "admissible": False}}}
    assert finetune_table(search) == [["a", "2", "5", "1.9000", "1.9000", "-0.1000", "yes"],
                                      ["b", "-", "0", "-", "-", "-", "no"]]
