"""Build a forecaster from a candidate spec in params.yaml: `{model: <family>, **knobs}`."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptocast.forecast.base import Forecaster
from cryptocast.forecast.naive import NaiveForecaster, NaiveGaussianForecaster

NAIVE_MODELS = {"naive": NaiveForecaster, "naive_gaussian": NaiveGaussianForecaster}
NEURAL_MODELS = ("toto", "kronos")  # checkpoint folders under models_dir/<family>
MODELS = (*NAIVE_MODELS, *NEURAL_MODELS)


def build_forecaster(
    name: str, spec: Mapping[str, Any], models_dir: str | Path = "models", seed: int = 0
) -> Forecaster:
    """The candidate `name` built from its spec; errors name the candidate and the bad key."""
    knobs = dict(spec)
    model = knobs.pop("model", None)
    if model not in MODELS:
        raise ValueError(f"candidate {name!r}: model must be one of {list(MODELS)}, got {model!r}")
    try:
        if model in NAIVE_MODELS:
            return NAIVE_MODELS[model](name=name, **knobs)
        family = importlib.import_module(f"cryptocast.models.{model}")
        return family.build_forecaster(Path(models_dir) / model, name=name, seed=seed, **knobs)
    except TypeError as err:
        raise ValueError(f"candidate {name!r} ({model}): {err}") from err


def check_family(specs: Mapping[str, Mapping[str, Any]], family: str, section: str) -> None:
    """Every neural candidate in `specs` uses `family` (a stage depends on that family's code
    and checkpoint only); errors name `section` and the offending candidate."""
    if family not in NEURAL_MODELS:
        raise ValueError(f"{section}.family must be one of {list(NEURAL_MODELS)}, got {family!r}")
    for name, spec in specs.items():
        model = spec.get("model")
        if model in NEURAL_MODELS and model != family:
            raise ValueError(f"{section}: candidate {name!r} uses {model} but family is {family}")
