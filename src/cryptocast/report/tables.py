"""The report's tables, from the metrics files: every candidate per symbol, the plan verdicts,
and the one-line summary per symbol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptocast import layout
from cryptocast.config import BaselineSpec
from cryptocast.io import read_json
from cryptocast.tuning.select import NAIVE, Candidate, gather

COLUMNS = ("candidate", "stage", "val MAE", "test MAE", "test price MAE", "latency (1 call)",
           "skill vs naive [95%]", "DM p vs naive", "CRPS", "80% coverage", "strategy return")


def _pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def _num(x: float | None, fmt: str = "{:.3g}") -> str:
    return "-" if x is None else fmt.format(x)


def scope_text(windows: Mapping[str, Any]) -> str:
    """What was scored (a selection record's `windows` block: interval, horizon, steps)."""
    steps = windows["steps"]
    return (f"{windows['interval']} candles, rolling origin, horizon {windows['horizon']}; "
            f"{steps['validation']} validation and {steps['test']} test windows. Every choice "
            "was made on validation; the test split is only reported. MAE = mean absolute error "
            f"of the return {windows['horizon']} candle(s) ahead. With {steps['test']} windows "
            "small differences are usually noise: read the DM p-values and intervals.")


def candidate_row(c: Candidate) -> list[str]:
    """A candidate's table row. Skill = 1 - MAE / naive MAE; its interval comes from the
    bootstrap interval of MAE(candidate) - MAE(naive)."""
    t, naive = c.test, c.test["naive_pct_return_mae"]
    lo, hi = t.get("mae_diff_vs_naive_ci95_lo"), t.get("mae_diff_vs_naive_ci95_hi")
    skill = t.get("skill_vs_naive")
    band = "" if lo is None else f" [{_pct(-hi / naive + 0.0, 1)}, {_pct(-lo / naive + 0.0, 1)}]"
    return [c.name, c.stage, _pct(c.validation["pct_return_mae"]), _pct(t["pct_return_mae"]),
            _num(t["price_mae"], "{:.4g}"), _num(t.get("latency_s_single"), "{:.4f} s"),
            _pct(skill, 1) + band, _num(t.get("dm_pvalue_vs_naive"), "{:.2f}"),
            _num(t.get("crps"), "{:.4f}"), _num(t.get("coverage_80"), "{:.2f}"),
            _pct(t.get("strategy_return"), 1)]


def markdown_table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class SymbolReport:
    """Everything the report says about one symbol."""

    symbol: str
    best: dict[str, Any]
    candidates: list[Candidate]
    verdicts: list[str]


def _claim(block: Mapping[str, Any]) -> str:
    return (f"{_pct(block['gain'], 1)} [{_pct(block['gain_ci95_lo'], 1)}, "
            f"{_pct(block['gain_ci95_hi'], 1)}] (DM p {_num(block['dm_pvalue'], '{:.2f}')})")


def plan_verdicts(improved: Mapping[str, Any]) -> list[str]:
    """One line per plan candidate: the claimed gain beside the measured gain with its 95%
    interval on each split, and the verdict on each (the test's in bold)."""
    lines = []
    judged = improved["judged"]
    for name, test in judged["test"].items():
        val = judged["validation"][name]
        lines.append(
            f"plan {improved['plan_item']} {name}: claimed gain "
            f"{_pct(test['claimed_lo'], 0)}-{_pct(test['claimed_hi'], 0)}; measured "
            f"{_claim(val)} on validation, {val['verdict']}; {_claim(test)} on test, "
            f"**{test['verdict']}**")
    return lines


def symbol_reports(baselines: Mapping[str, BaselineSpec],
                   defaults: Mapping[str, Mapping[str, Any]], root: str | Path = "."
                   ) -> list[SymbolReport]:
    """Per symbol selected (metrics/best.json under `root`): its selection, its finalists
    (each forecast once) and the plan verdicts."""
    root = Path(root)
    best = read_json(root / layout.BEST_METRICS)
    out = []
    for symbol in best:
        duplicates = best[symbol]["duplicates"]
        candidates = [c for c in gather(symbol, baselines[symbol], defaults, root,
                                        with_errors=False) if c.name not in duplicates]
        improved = read_json(root / layout.metrics("improved", symbol))
        out.append(SymbolReport(symbol, best[symbol], candidates, plan_verdicts(improved)))
    return out


def summary_rows(reports: list[SymbolReport]) -> list[list[str]]:
    """Per symbol: the selected candidate, its validation and test MAE, naive's, DM p."""
    return [[r.symbol, r.best["chosen"], _pct(r.best["validation_pct_return_mae"]),
             _pct(r.best["test_pct_return_mae"]), _pct(r.best["test_naive_pct_return_mae"]),
             _num(r.best["test_dm_pvalue_vs_naive"], "{:.2f}")] for r in reports]


def selection_text(best: Mapping[str, Any]) -> str:
    """What was selected, why (the SPA over every configuration tried), how it did on test,
    and which finalists the Model Confidence Sets keep."""
    chosen = f"Selected: **{best['chosen']}**"
    result = (f"test MAE {_pct(best['test_pct_return_mae'])} vs naive "
              f"{_pct(best['test_naive_pct_return_mae'])}, DM p "
              f"{_num(best['test_dm_pvalue_vs_naive'], '{:.2f}')}")
    spa = (f"Hansen's SPA test over the {best['spa_configurations']} distinct configurations "
           f"tried on validation (best: {best['spa_best']}) gives p = "
           f"{best['spa_pvalue']:.3f}")
    sets = (f"The 90% Model Confidence Set of the finalists holds "
            f"{', '.join(best['mcs_validation'])} on validation and "
            f"{', '.join(best['mcs_test'])} on test.")
    duplicates = best.get("duplicates") or {}
    same = ("" if not duplicates else " Identical forecasts listed once: " + ", ".join(
        f"{a} = {b}" for a, b in sorted(duplicates.items())) + ".")
    if best.get("rule") != "spa":
        return f"{chosen} (rule best: the lowest validation MAE; {result}). {sets}{same}"
    if best["chosen"] in NAIVE:
        return (f"{chosen}: {spa}, so no configuration is promoted over the random walk "
                f"({result}). {sets}{same}")
    return f"{chosen}: {spa}, below alpha ({result}). {sets}{same}"


PANEL_COLUMNS = ("candidate", "MAE / naive [95%]", "wins vs naive", "pooled DM p",
                 "CRPS / naive-Gaussian [95%]")


def _ratio(block: Mapping[str, Any] | None) -> str:
    if block is None:
        return "-"
    return (f"{block['relative']:.3f} [{block['relative_ci95_lo']:.3f}, "
            f"{block['relative_ci95_hi']:.3f}]")


def panel_rows(split: Mapping[str, Any]) -> list[list[str]]:
    """The panel leaderboard of one split, best relative MAE first."""
    board = split["leaderboard"]
    order = sorted(board, key=lambda name: board[name]["mae"]["relative"])
    return [[name, _ratio(board[name]["mae"]),
             f"{board[name]['mae']['win_rate']:.0%} of {board[name]['mae']['symbols']}",
             _num(board[name]["mae"]["dm_pvalue"], "{:.2f}"), _ratio(board[name]["crps"])]
            for name in order]


def panel_verdicts(panel: Mapping[str, Any]) -> list[str]:
    """One line per plan item and treatment: the pooled gain (of the panel's objective, MAE or
    CRPS) over its control on each split, beside the claimed range, with the verdict (the
    test's in bold)."""
    lines = []
    for item, treatments in panel["test"]["plan"].items():
        for name, test in treatments.items():
            val = panel["validation"]["plan"][item][name]
            lines.append(
                f"plan {item} on {test['symbols']} symbols, {name}: claimed "
                f"{panel['objective'].upper()} "
                f"{_pct(test['claimed_lo'], 0)}-{_pct(test['claimed_hi'], 0)}; pooled "
                f"{_claim(val)} on validation, {val['verdict']}; {_claim(test)} on test, "
                f"**{test['verdict']}**")
    return lines


def panel_sweep_text(doc: Mapping[str, Any]) -> str:
    """The panel sweep: what it tried, its winners' validation relative MAE, and its gate."""
    winners = "; ".join(f"{f} {doc['validation_relative_mae'][f]:.3f} x naive ("
                        + ", ".join(f"{k} {v}" for k, v in config.items() if k != "model") + ")"
                        for f, config in doc["winners"].items())
    verdict = ("so a configuration beat the random walk on the panel's validation windows"
               if doc["spa_pvalue"] < 0.05 else
               "so no configuration tried beat the random walk on the panel's validation "
               "windows")
    return (f"Panel sweep: {doc['trials']} trials on {len(doc['symbols'])} symbols at once, "
            f"each scored by its relative validation MAE over the panel. Winners: {winners}. "
            f"Hansen's SPA over the {doc['spa_configurations']} distinct configurations "
            f"against naive gives p = {doc['spa_pvalue']:.3f}, {verdict}. The winners' test "
            "figures are in the leaderboards above (`panel_sweep_<family>`).")


FINETUNE_COLUMNS = ("configuration", "best epoch", "epochs run", "own validation loss",
                    "criterion", "vs base", "admissible")


def finetune_table(search: Mapping[str, Any]) -> list[list[str]]:
    """One row per fine-tuning configuration: best epoch, its own loss and the criterion that
    compares configurations, beside the base's (negative: better than the base)."""
    base = search["base_criterion"]
    return [[name, _num(run["best_epoch"], "{}"), str(run["epochs_run"]),
             _num(run.get("best_val_loss", run.get("best_val_ce")), "{:.4f}"),
             _num(run["criterion"], "{:.4f}"),
             _num(None if run["criterion"] is None else run["criterion"] - base, "{:+.4f}"),
             "yes" if run.get("admissible", True) else "no"]
            for name, run in search["configs"].items()]


def finetune_text(family: str, doc: Mapping[str, Any]) -> list[str]:
    """Per search (one, or one per symbol): what was compared and what was kept."""
    lines = []
    for scope, search in doc["searches"].items():
        kept = (f"**{search['chosen']}** beat the base" if search["chosen"] else
                "no configuration beat the base, so **the base weights are kept** (the "
                "re-sweep does not run on them)")
        lines.append(f"{family} ({scope}): {len(search['configs'])} configurations compared "
                     f"on {search['criterion']} (base {search['base_criterion']:.4f}); {kept}.")
    return lines


SUMMARY_COLUMNS = ("symbol", "selected", "val MAE", "test MAE", "test naive MAE",
                   "test DM p vs naive")


RISK_COLUMNS = ("candidate", "val CRPS", "test CRPS", "vs naive-Gaussian (DM p)",
                "vs GARCH (DM p)", "80% / 95% coverage", "VaR95 lower hits (Kupiec p)",
                "VaR99 lower hits (Kupiec p)", "PIT KS p")


def _versus(block: Mapping[str, Any] | None) -> str:
    return "-" if block is None else f"{block['crps_ratio']:.3f} ({block['dm_pvalue']:.2f})"


def risk_rows(candidates: list[Candidate], risk: Mapping[str, Any]) -> list[list[str]]:
    """One row per candidate with a distribution, best validation CRPS first: CRPS on both
    splits, the test CRPS ratio to naive_gaussian and garch with DM p, interval coverage, lower
    VaR exceedance rates with Kupiec p, and the PIT's KS p (test split)."""
    versus = risk["test_vs_benchmarks"]
    sampled = sorted((c for c in candidates if c.name in versus),
                     key=lambda c: c.validation["crps"])
    rows = []
    for c in sampled:
        t = c.test
        rows.append([c.name, _num(c.validation["crps"], "{:.5f}"), _num(t["crps"], "{:.5f}"),
                     _versus(versus[c.name].get("naive_gaussian")),
                     _versus(versus[c.name].get("garch")),
                     f"{t['coverage_80']:.2f} / {t['coverage_95']:.2f}",
                     f"{_pct(t['var95_lower_exceedance'], 1)} "
                     f"({t['var95_lower_kupiec_p']:.2f})",
                     f"{_pct(t['var99_lower_exceedance'], 1)} "
                     f"({t['var99_lower_kupiec_p']:.2f})",
                     _num(t["pit_ks_p"], "{:.2f}")])
    return rows


def risk_text(risk: Mapping[str, Any], alpha: float = 0.05) -> str:
    """The risk objective's selection and its test result against both benchmarks, and which
    candidates beat both naive_gaussian and garch on test CRPS (DM p below `alpha`)."""
    versus = risk["test_vs_benchmarks"]
    gate = (f"Hansen's SPA over the {risk['spa_configurations']} distributions against "
            f"naive_gaussian on validation CRPS (best: {risk['spa_best']}) gives p = "
            f"{risk['spa_pvalue']:.3f}")
    chosen = versus[risk["chosen"]]
    results = "; ".join(f"test CRPS / {b} {_versus(chosen[b])}" for b in sorted(chosen))
    beat = [n for n, v in versus.items() if len(v) == 2 and all(
        b["crps_ratio"] < 1 and b["dm_pvalue"] < alpha for b in v.values())]
    verdict = (f"Beating both benchmarks on test (DM p < {alpha}): {', '.join(sorted(beat))}."
               if beat else f"No candidate beats both naive_gaussian and garch on test CRPS "
                            f"(DM p < {alpha}).")
    sets = (f"90% MCS on CRPS: {', '.join(risk['mcs_validation'])} (validation); "
            f"{', '.join(risk['mcs_test'])} (test).")
    return (f"Risk objective (CRPS): selected **{risk['chosen']}**: {gate}. {results}. "
            f"{verdict} {sets}")
