"""Kronos: tokenizer + autoregressive predictor over (s1, s2) candle tokens."""

from cryptocast.forecast.base import ModelFamily

from .checkpoint import (
    import_checkpoint,
    load_checkpoint,
    load_predictor,
    load_tokenizer,
    save_checkpoint,
)
from .config import PredictorConfig, TokenizerConfig
from .forecaster import KronosForecaster, KronosKnobs, build_forecaster
from .predictor import Kronos
from .sampling import SamplingConfig, generate
from .tokenizer import KronosTokenizer

FAMILY = ModelFamily("kronos", KronosKnobs, build_forecaster)

__all__ = [
    "FAMILY",
    "Kronos",
    "KronosForecaster",
    "KronosKnobs",
    "KronosTokenizer",
    "PredictorConfig",
    "SamplingConfig",
    "TokenizerConfig",
    "build_forecaster",
    "generate",
    "import_checkpoint",
    "load_checkpoint",
    "load_predictor",
    "load_tokenizer",
    "save_checkpoint",
]
