"""Toto (Datadog) forecasting family, reimplemented with the official checkpoint layout."""

from cryptocast.forecast.base import ModelFamily
from cryptocast.models.toto.checkpoint import load_checkpoint, save_checkpoint
from cryptocast.models.toto.config import TotoConfig
from cryptocast.models.toto.forecaster import TotoForecaster, TotoKnobs, build_forecaster
from cryptocast.models.toto.model import Toto

FAMILY = ModelFamily("toto", TotoKnobs, build_forecaster)

__all__ = [
    "FAMILY",
    "Toto",
    "TotoConfig",
    "TotoForecaster",
    "TotoKnobs",
    "build_forecaster",
    "load_checkpoint",
    "save_checkpoint",
]
