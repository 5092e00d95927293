"""`monitor report`: the forward record per symbol and objective beside the backtest's test
figures of the same config, rolling skill and coverage figures, and the alerts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from cryptocast.data.schema import INTERVALS  # noqa: E402
from cryptocast.evaluation.stats import loss_dm  # noqa: E402
from cryptocast.evaluation.strategy import buy_and_hold, long_flat_strategy  # noqa: E402
from cryptocast.io import write_atomic  # noqa: E402
from cryptocast.monitor.settings import BENCHMARK, AlertSettings  # noqa: E402
from cryptocast.tuning.records import Record  # noqa: E402


@dataclass(frozen=True)
class ForwardRecord:
    """One symbol's and objective's scored forecasts, summarised (return space).

    n: scored candles; mae / naive_mae / skill (1 - mae / naive_mae); dm_pvalue (None below
    `min_dm` candles); crps and crps_vs_benchmark (on the same candles; None for a point
    forecast); coverage_80 / coverage_95; var95_rate / var99_rate (lower-tail exceedances);
    strategy_return / buy_hold_return (long/flat with fees, paper); latency_s (median);
    configs: the configs that made them, in order."""

    symbol: str
    objective: str
    n: int
    mae: float
    naive_mae: float
    skill: float
    dm_pvalue: float | None
    crps: float | None
    crps_vs_benchmark: float | None
    coverage_80: float | None
    coverage_95: float | None
    var95_rate: float | None
    var99_rate: float | None
    strategy_return: float
    buy_hold_return: float
    latency_s: float
    configs: list[str]


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return None if values.empty else float(values.astype(float).mean())


def forward_records(scored: pd.DataFrame, min_dm: int, fee_bps: float, periods_per_year: float
                    ) -> list[ForwardRecord]:
    """Per symbol and objective, from the ledger's scored forecasts (`Ledger.scored`)."""
    out = []
    for (symbol, objective), rows in scored.groupby(["symbol", "objective"], sort=True):
        rows = rows.sort_values("target")
        errors, naive = rows["abs_error"].to_numpy(), rows["naive_abs_error"].to_numpy()
        realised = rows["actual_close"].to_numpy() / rows["last_close"].to_numpy() - 1
        predicted = rows["point"].to_numpy() / rows["last_close"].to_numpy() - 1
        bench = scored[(scored["symbol"] == symbol) & (scored["objective"] == BENCHMARK)]
        both = rows.merge(bench[["target", "crps"]], on="target", suffixes=("", "_bench"))
        crps = _mean(rows["crps"])
        ratio = (None if crps is None or both["crps"].isna().any() or both.empty else
                 float(both["crps"].mean() / both["crps_bench"].mean()))
        out.append(ForwardRecord(
            symbol, objective, len(rows), float(errors.mean()), float(naive.mean()),
            float(1 - errors.mean() / naive.mean()) if naive.mean() > 0 else 0.0,
            loss_dm(errors, naive).pvalue if len(rows) >= min_dm else None,
            crps, ratio, _mean(rows["in_80"]), _mean(rows["in_95"]), _mean(rows["var95_hit"]),
            _mean(rows["var99_hit"]),
            long_flat_strategy(predicted, realised, fee_bps=fee_bps,
                               periods_per_year=periods_per_year).total_return,
            buy_and_hold(realised, fee_bps=fee_bps,
                         periods_per_year=periods_per_year).total_return,
            float(rows["latency_s"].median()), list(dict.fromkeys(rows["chosen"]))))
    return out


def alerts(records: list[ForwardRecord], scored: pd.DataFrame, newest_target: pd.Series,
           interval: str, as_of: pd.Timestamp, min_dm: int, settings: AlertSettings
           ) -> list[str]:
    """One line per breach: the 80% coverage over the last `coverage_window` scored candles
    outside its range; forward MAE above naive's with DM p below `skill_alpha`; a symbol whose
    newest closed candle (`newest_target`: per symbol, the candle still open at its last
    update) is more than `max_stale_candles` old at `as_of`."""
    lines = []
    lo, hi = settings.coverage_80
    for r in records:
        where = f"{r.symbol} {r.objective}"
        rows = scored[(scored["symbol"] == r.symbol) & (scored["objective"] == r.objective)]
        recent = rows.sort_values("target")["in_80"].dropna().tail(settings.coverage_window)
        if len(recent) == settings.coverage_window:
            coverage = float(recent.astype(float).mean())
            if not lo <= coverage <= hi:
                lines.append(f"ALERT {where}: 80% interval coverage {coverage:.2f} over the "
                             f"last {settings.coverage_window} candles, outside [{lo}, {hi}]")
        if r.n >= min_dm and r.mae > r.naive_mae and r.dm_pvalue < settings.skill_alpha:
            lines.append(f"ALERT {where}: forward MAE {r.mae:.2%} above naive's "
                         f"{r.naive_mae:.2%} over {r.n} candles (DM p {r.dm_pvalue:.3f})")
    step = INTERVALS[interval]
    for symbol, target in newest_target.items():
        age = (as_of - pd.Timestamp(target)) / step
        if age > settings.max_stale_candles:
            lines.append(f"ALERT {symbol}: newest closed candle in the ledger closed at "
                         f"{pd.Timestamp(target)}, {age:.1f} candles before {as_of}")
    return lines


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


COLUMNS = ("symbol", "objective", "configs", "candles", "MAE (test)", "naive MAE", "skill",
           "DM p", "CRPS / benchmark", "80% cov. (test)", "95% cov.", "VaR95 / 99 hits",
           "paper PnL (test)", "buy & hold", "latency")


def table_rows(records: list[ForwardRecord], backtests: dict[tuple[str, str], Record]
               ) -> list[list[str]]:
    """Report rows: each forward figure with the backtest's test figure of the same config
    (from `backtests`, the current production records) in brackets."""
    rows = []
    for r in records:
        test = getattr(backtests.get((r.symbol, r.objective)), "test", None) or {}
        rows.append([
            r.symbol, r.objective, " -> ".join(r.configs), str(r.n),
            f"{_pct(r.mae)} ({_pct(test.get('pct_return_mae'))})", _pct(r.naive_mae),
            _pct(r.skill), _num(r.dm_pvalue, "{:.2f}"), _num(r.crps_vs_benchmark),
            f"{_num(r.coverage_80, '{:.2f}')} ({_num(test.get('coverage_80'), '{:.2f}')})",
            _num(r.coverage_95, "{:.2f}"),
            f"{_pct(r.var95_rate)} / {_pct(r.var99_rate)}",
            f"{_pct(r.strategy_return)} ({_pct(test.get('strategy_return'))})",
            _pct(r.buy_hold_return), f"{r.latency_s * 1000:.0f} ms"])
    return rows


def rolling_figure(scored: pd.DataFrame, symbol: str, window: int, path: Path) -> Path:
    """Rolling forward skill against naive (each objective) and rolling 80% coverage of the
    objectives with samples, over `window` scored candles."""
    rows = scored[scored["symbol"] == symbol].sort_values("target")
    fig, (skill_ax, cover_ax) = plt.subplots(1, 2, figsize=(11, 3.4))
    for objective, part in rows.groupby("objective"):
        when = pd.to_datetime(part["target"])
        roll = part[["abs_error", "naive_abs_error"]].rolling(window, min_periods=1).mean()
        skill_ax.plot(when, 100 * (1 - roll["abs_error"] / roll["naive_abs_error"]),
                      label=objective)
        if part["in_80"].notna().all():
            cover_ax.plot(when, part["in_80"].astype(float).rolling(window, min_periods=1)
                          .mean(), label=objective)
    skill_ax.axhline(0, color="black", lw=0.8)
    skill_ax.set(title=f"{symbol}: forward skill vs naive ({window}-candle rolling)",
                 ylabel="skill (%)")
    cover_ax.axhline(0.8, color="black", ls="--", lw=0.8, label="nominal")
    cover_ax.set(title=f"{symbol}: 80% interval coverage ({window}-candle rolling)",
                 ylabel="coverage", ylim=(0, 1.05))
    for ax in (skill_ax, cover_ax):
        ax.legend(fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def markdown(rows: list[list[str]], figures: list[Path], alert_lines: list[str], base: Path,
             header: str) -> str:
    """The monitor report as Markdown (figures linked relative to `base`)."""
    lines = [f"# Forward record\n\n{header}\n", "| " + " | ".join(COLUMNS) + " |",
             "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines.append("\n## Alerts\n")
    lines += [f"- {a}" for a in alert_lines] or ["none"]
    lines += ["", *(f"![{f.stem}]({f.relative_to(base).as_posix()})" for f in figures)]
    return "\n".join(lines) + "\n"


def periods_per_year(interval: str) -> float:
    return pd.Timedelta(days=365) / INTERVALS[interval]
