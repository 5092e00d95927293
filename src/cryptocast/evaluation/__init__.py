"""Honest evaluation: rolling-origin backtests and the metrics engine."""

from cryptocast.evaluation.backtest import BacktestResult, rolling_origin
from cryptocast.evaluation.evaluate import evaluate_candidates, evaluate_symbol, metrics_for_dvc
from cryptocast.evaluation.metrics import evaluate_forecasts

__all__ = [
    "BacktestResult",
    "evaluate_candidates",
    "evaluate_forecasts",
    "evaluate_symbol",
    "metrics_for_dvc",
    "rolling_origin",
]
