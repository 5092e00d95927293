"""Honest evaluation: rolling-origin backtests, the metrics engine, comparison statistics,
tests robust to data snooping, verdicts on claimed gains, and pooled statistics over a panel
of symbols."""

from cryptocast.evaluation.backtest import BacktestResult, rolling_origin
from cryptocast.evaluation.claims import VERDICTS, judge_claim
from cryptocast.evaluation.evaluate import evaluate_candidates, evaluate_symbol, metrics_for_dvc
from cryptocast.evaluation.metrics import evaluate_forecasts
from cryptocast.evaluation.panel import pooled_claim, pooled_comparison
from cryptocast.evaluation.snooping import confidence_set, spa_test

__all__ = [
    "VERDICTS",
    "BacktestResult",
    "confidence_set",
    "evaluate_candidates",
    "evaluate_forecasts",
    "evaluate_symbol",
    "judge_claim",
    "metrics_for_dvc",
    "pooled_claim",
    "pooled_comparison",
    "rolling_origin",
    "spa_test",
]
