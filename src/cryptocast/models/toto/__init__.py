"""Toto (Datadog) forecasting family, reimplemented with the official checkpoint layout."""

from cryptocast.models.toto.checkpoint import load_checkpoint, save_checkpoint
from cryptocast.models.toto.config import TotoConfig
from cryptocast.models.toto.forecaster import ForecasterKnobs, TotoForecaster, build_forecaster
from cryptocast.models.toto.model import Toto

__all__ = [
    "ForecasterKnobs",
    "Toto",
    "TotoConfig",
    "TotoForecaster",
    "build_forecaster",
    "load_checkpoint",
    "save_checkpoint",
]
