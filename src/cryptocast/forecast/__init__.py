"""Forecaster contract, naive candidates, the candidate registry and sample aggregation."""

from cryptocast.forecast.aggregation import VALID_FORMS, aggregate, parse_aggregation
from cryptocast.forecast.base import CLOSE, OHLCV, Context, Forecast, Forecaster
from cryptocast.forecast.naive import NaiveForecaster, NaiveGaussianForecaster
from cryptocast.forecast.registry import MODELS, build_forecaster
from cryptocast.forecast.volatility import EwmaForecaster, GarchForecaster

__all__ = [
    "CLOSE",
    "MODELS",
    "OHLCV",
    "VALID_FORMS",
    "Context",
    "EwmaForecaster",
    "Forecast",
    "Forecaster",
    "GarchForecaster",
    "NaiveForecaster",
    "NaiveGaussianForecaster",
    "aggregate",
    "build_forecaster",
    "parse_aggregation",
]
