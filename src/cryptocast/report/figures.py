"""The report's figures (PNG), each readable at a glance: one message per figure, labelled
axes with units, a legend only where there is more than one line."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cryptocast.evaluation.risk import INTERVALS  # noqa: E402
from cryptocast.io import write_atomic  # noqa: E402
from cryptocast.report.tables import SymbolReport  # noqa: E402

DPI = 110


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    plt.close(fig)
    return path


def forecast_vs_actual(forecasts: pd.DataFrame, symbol: str, chosen: str, path: Path) -> Path:
    """The test split: actual close, the selected config's forecast and its 80% band."""
    test = forecasts[forecasts["split"] == "test"]
    when = pd.to_datetime(test["timestamp"])
    fig, ax = plt.subplots(figsize=(9, 3.6))
    if test["q10"].notna().any():
        ax.fill_between(when, test["q10"], test["q90"], color="tab:blue", alpha=0.2,
                        label="80% band")
    ax.plot(when, test["actual_close"], color="black", lw=1.2, label="actual close")
    ax.plot(when, test["forecast_close"], color="tab:blue", lw=1.0, label=f"forecast ({chosen})")
    ax.set(title=f"{symbol}: next-candle forecast vs actual close, test split",
           ylabel="close (USDT)")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return _save(fig, path)


def mae_by_candidate(report: SymbolReport, path: Path) -> Path:
    """Test MAE minus naive's for every candidate, with the bootstrap 95% interval: left of
    zero is better than naive."""
    rows = [(c.name, c.test.get("mae_diff_vs_naive_ci95_lo"),
             c.test["pct_return_mae"] - c.test["naive_pct_return_mae"],
             c.test.get("mae_diff_vs_naive_ci95_hi")) for c in report.candidates]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(rows) + 1.4))
    y = np.arange(len(rows))
    diffs = np.array([100 * r[2] for r in rows])
    lo = np.array([100 * (r[2] - r[1]) if r[1] is not None else 0 for r in rows])
    hi = np.array([100 * (r[3] - r[2]) if r[3] is not None else 0 for r in rows])
    colors = ["tab:green" if r[0] == report.best["chosen"] else "tab:gray" for r in rows]
    ax.errorbar(diffs, y, xerr=[lo, hi], fmt="none", ecolor="lightgray", capsize=3)
    ax.scatter(diffs, y, c=colors, zorder=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="test MAE - naive MAE (percentage points of return)",
           title=f"{report.symbol}: every candidate against naive (green: selected)")
    return _save(fig, path)


def pit_histogram(forecasts: pd.DataFrame, symbol: str, chosen: str, path: Path) -> Path:
    """Calibration of `chosen`: the PIT of the actual close under its samples, test split; flat
    is calibrated, a U too narrow, a hump too wide."""
    pit = forecasts.loc[forecasts["split"] == "test", "pit"].dropna()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if len(pit):
        ax.hist(pit, bins=10, range=(0, 1), color="tab:blue", edgecolor="white")
        ax.axhline(len(pit) / 10, color="black", ls="--", lw=0.8, label="calibrated")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no samples (point forecast)", ha="center", va="center")
    ax.set(xlabel="PIT (share of samples below the actual close)", ylabel="windows",
           title=f"{symbol}: calibration of {chosen}, test split")
    return _save(fig, path)


def reliability(candidates: list, symbol: str, path: Path) -> Path:
    """Nominal against observed coverage of the central intervals on test, one line per
    candidate (`Candidate`s with risk metrics): on the diagonal is calibrated, below too
    narrow."""
    nominal = np.array(INTERVALS)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(nominal, nominal, color="black", ls="--", lw=0.8, label="calibrated")
    for c in candidates:
        observed = [c.test[f"coverage_{round(100 * level)}"] for level in INTERVALS]
        ax.plot(nominal, observed, marker="o", ms=3, label=c.name)
    ax.set(xlabel="nominal coverage", ylabel="observed coverage (test)",
           title=f"{symbol}: interval reliability")
    ax.legend(fontsize=6)
    return _save(fig, path)


def var_exceedances(forecasts: pd.DataFrame, symbol: str, chosen: str, path: Path) -> Path:
    """Test split: the realised return against the risk config's lower VaR 95/99 (its 5% and
    1% return quantiles), exceedances marked."""
    test = forecasts[forecasts["split"] == "test"]
    when = pd.to_datetime(test["timestamp"])
    realised = 100 * (test["actual_close"] / test["prev_close"] - 1)
    fig, ax = plt.subplots(figsize=(9, 3.4))
    ax.bar(when, realised, color="lightgray", width=0.8, label="realised return")
    for column, level, color in (("q05", 95, "tab:orange"), ("q01", 99, "tab:red")):
        var = 100 * (test[column] / test["prev_close"] - 1)
        hits = realised < var
        ax.plot(when, var, color=color, lw=1,
                label=f"VaR {level}% ({int(hits.sum())} of {len(test)} exceeded)")
        ax.scatter(when[hits], realised[hits], color=color, s=14, zorder=3)
    ax.set(title=f"{symbol}: lower VaR of {chosen}, test split", ylabel="return (%)")
    ax.legend(fontsize=7, loc="lower left")
    fig.autofmt_xdate()
    return _save(fig, path)


def training_curves(toto_curves: Path, kronos_curves: Path, path: Path) -> Path:
    """Pretraining (the folders of each family's curves): Toto loss per epoch; Kronos
    tokenizer round trip and predictor validation CE per step."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
    toto = pd.read_csv(toto_curves / "loss.csv")
    axes[0].plot(toto["epoch"], toto["train_loss"], label="train loss")
    axes[0].plot(toto["epoch"], toto["val_nll"], label="validation NLL")
    axes[0].set(title="Toto pretraining", xlabel="epoch", ylabel="loss (nats)")
    axes[0].legend(fontsize=8)
    tok = pd.read_csv(kronos_curves / "tokenizer.csv")
    axes[1].plot(tok["step"], 100 * tok["close_err_median_s1s2"], label="round-trip error")
    axes[1].plot(tok["step"], 100 * tok["naive_abs_return_median"], ls="--",
                 label="naive |return|")
    axes[1].set(title="Kronos tokenizer (medians)", xlabel="step", ylabel="% of close")
    axes[1].legend(fontsize=8)
    pred = pd.read_csv(kronos_curves / "predictor.csv")
    axes[2].plot(pred["step"], pred["val_ce"], color="tab:red")
    axes[2].set(title="Kronos predictor", xlabel="step", ylabel="validation CE (nats)")
    return _save(fig, path)


def finetune_curves(folder: Path, family: str, path: Path) -> Path:
    """Validation loss per epoch of every fine-tuning configuration of `family` (curves in
    `folder`), one panel per training loss (losses of different kinds share no scale)."""
    curves = {c.stem: pd.read_csv(c) for c in sorted(folder.rglob("*.csv"))}
    def kind(name: str) -> str:
        return name.split("_")[0] if name.startswith("loss-") else "all configurations"

    kinds = sorted({kind(name) for name in curves}) or ["none"]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 3.4), squeeze=False)
    for ax, panel in zip(axes[0], kinds, strict=True):
        for name, rows in curves.items():
            if kind(name) == panel:
                ax.plot(rows["epoch"], rows["val_loss"], marker=".", label=name)
        ax.set(title=f"{family} fine-tuning: {panel}", xlabel="epoch",
               ylabel="validation loss (its own)")
        ax.legend(fontsize=6)
    return _save(fig, path)


def sweep_history(history: pd.DataFrame, symbol: str, path: Path) -> Path:
    """Validation MAE per trial by family (pruned trials at the bottom) and the best so far."""
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    done = history[history["state"] == "complete"]
    for family, color in (("toto", "tab:blue"), ("kronos", "tab:orange")):
        part = done[done["family"] == family]
        ax.scatter(part["trial"], 100 * part["value"], s=12, color=color, label=family)
    ax.step(history["trial"], 100 * pd.to_numeric(history["best_so_far"]), where="post",
            color="black", lw=1, label="best so far")
    pruned = (history["state"] == "pruned").sum()
    ax.set(title=f"{symbol}: sweep ({len(done)} complete, {pruned} pruned trials)",
           xlabel="trial", ylabel="validation MAE (%)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def skill_heatmap(skill: dict[str, dict[str, float]], split: str, path: Path) -> Path:
    """Skill against naive (1 - MAE / naive MAE) per symbol and candidate, on one split."""
    names = [n for n in skill if n != "naive"]
    symbols = list(next(iter(skill.values())))
    values = 100 * np.array([[skill[n][s] for n in names] for s in symbols])
    bound = max(1.0, float(np.abs(values).max()))
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 0.35 * len(symbols) + 1.5))
    image = ax.imshow(values, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(symbols)), symbols, fontsize=8)
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=ax, label="skill vs naive (%)")
    ax.set_title(f"Panel: skill against the random walk per symbol ({split})")
    return _save(fig, path)
