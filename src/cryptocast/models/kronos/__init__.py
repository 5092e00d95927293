"""Kronos: tokenizer + autoregressive predictor over (s1, s2) candle tokens."""

from .checkpoint import (
    import_checkpoint,
    load_checkpoint,
    load_predictor,
    load_tokenizer,
    save_checkpoint,
)
from .config import PredictorConfig, TokenizerConfig
from .forecaster import KronosForecaster, build_forecaster
from .predictor import Kronos
from .sampling import SamplingConfig, generate
from .tokenizer import KronosTokenizer

__all__ = [
    "Kronos",
    "KronosForecaster",
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
