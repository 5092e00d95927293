"""Forecaster contract, candidates and sample aggregation."""

from cryptocast.forecast.base import CLOSE, OHLCV, Context, Forecast, Forecaster

__all__ = ["CLOSE", "OHLCV", "Context", "Forecast", "Forecaster"]
