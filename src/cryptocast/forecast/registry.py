"""Build a forecaster from a candidate spec in params.yaml: `{model: <family>, **knobs}`; a
neural spec may name its checkpoint folder (`checkpoint`), else `<models_dir>/<family>`."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptocast.forecast.base import Forecaster
from cryptocast.forecast.naive import NaiveForecaster, NaiveGaussianForecaster
from cryptocast.runtime import current_device

NAIVE_MODELS = {"naive": NaiveForecaster, "naive_gaussian": NaiveGaussianForecaster}
NEURAL_MODELS = ("toto", "kronos")  # checkpoint folders under models_dir/<family>
MODELS = (*NAIVE_MODELS, *NEURAL_MODELS)


def checkpoint_folder(spec: Mapping[str, Any], models_dir: str | Path = "models"
                      ) -> Path | None:
    """The checkpoint folder a spec runs on: its `checkpoint`, else `<models_dir>/<model>`;
    None for the naive models."""
    if spec.get("model") not in NEURAL_MODELS:
        return None
    return Path(spec.get("checkpoint") or Path(models_dir) / spec["model"])


def build_forecaster(
    name: str, spec: Mapping[str, Any], models_dir: str | Path = "models", seed: int = 0
) -> Forecaster:
    """The candidate `name` built from its spec, on the process's device (`runtime.device`);
    errors name the candidate and the bad key."""
    knobs = dict(spec)
    model = knobs.pop("model", None)
    if model not in MODELS:
        raise ValueError(f"candidate {name!r}: model must be one of {list(MODELS)}, got {model!r}")
    try:
        if model in NAIVE_MODELS:
            return NAIVE_MODELS[model](name=name, **knobs)
        folder = checkpoint_folder(spec, models_dir)
        knobs.pop("checkpoint", None)
        family = importlib.import_module(f"cryptocast.models.{model}")
        return family.build_forecaster(folder, name=name, seed=seed, device=current_device(),
                                       **knobs)
    except TypeError as err:
        raise ValueError(f"candidate {name!r} ({model}): {err}") from err


def check_family(specs: Mapping[str, Mapping[str, Any]], families: str | Sequence[str],
                 section: str) -> None:
    """Every neural candidate in `specs` uses one of `families` (a stage depends on those
    families' code and checkpoints only); errors name `section` and the offending candidate."""
    allowed = {families} if isinstance(families, str) else set(families)
    if not allowed or not allowed <= set(NEURAL_MODELS):
        raise ValueError(f"{section}: families must be among {list(NEURAL_MODELS)}, "
                         f"got {sorted(allowed)}")
    for name, spec in specs.items():
        model = spec.get("model")
        if model in NEURAL_MODELS and model not in allowed:
            raise ValueError(f"{section}: candidate {name!r} uses {model}, which is not among "
                             f"the stage's families {sorted(allowed)}")
