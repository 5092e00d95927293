"""The registry of models: the naive ones and the model families (`FAMILIES`, loaded by name
so that code depends only on the families it runs), and a forecaster built from a candidate
spec in params.yaml, `{model: <name>, **knobs}`; a family's spec may name its checkpoint
folder (`checkpoint`), else `<models_dir>/<family>`."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptocast.config import from_mapping
from cryptocast.forecast.base import Forecaster, ModelFamily
from cryptocast.forecast.naive import NaiveForecaster, NaiveGaussianForecaster
from cryptocast.forecast.volatility import EwmaForecaster, GarchForecaster
from cryptocast.runtime import current_device

# Models without a checkpoint: the random walk and the risk desk's volatility baselines.
BASELINES = {"naive": NaiveForecaster, "naive_gaussian": NaiveGaussianForecaster,
             "ewma": EwmaForecaster, "garch": GarchForecaster}
FAMILIES = ("toto", "kronos")  # the model families: cryptocast.models.<family>, models/<family>
MODELS = (*BASELINES, *FAMILIES)


def family(name: str) -> ModelFamily:
    """The family `name` (imported on first use: only the families a process runs load)."""
    if name not in FAMILIES:
        raise ValueError(f"model family must be one of {list(FAMILIES)}, got {name!r}")
    return importlib.import_module(f"cryptocast.models.{name}").FAMILY


def checkpoint_folder(spec: Mapping[str, Any], models_dir: str | Path = "models"
                      ) -> Path | None:
    """The checkpoint folder a spec runs on: its `checkpoint`, else `<models_dir>/<model>`;
    None for the naive models."""
    if spec.get("model") not in FAMILIES:
        return None
    return Path(spec.get("checkpoint") or Path(models_dir) / spec["model"])


def build_forecaster(
    name: str, spec: Mapping[str, Any], models_dir: str | Path = "models", seed: int = 0
) -> Forecaster:
    """The candidate `name` built from its spec, on the process's device (`runtime.device`);
    the knobs are validated before any checkpoint loads, and errors name the candidate and
    the bad key."""
    knobs = dict(spec)
    model = knobs.pop("model", None)
    if model not in MODELS:
        raise ValueError(f"candidate {name!r}: model must be one of {list(MODELS)}, got {model!r}")
    try:
        if model in BASELINES:
            return BASELINES[model](name=name, **knobs)
        knobs.pop("checkpoint", None)
        chosen = family(model)
        settings = from_mapping(chosen.knobs, knobs, f"candidate {name!r} ({model})")
        return chosen.forecaster(checkpoint_folder(spec, models_dir), settings, name, seed,
                                 current_device())
    except TypeError as err:
        raise ValueError(f"candidate {name!r} ({model}): {err}") from err


def check_family(specs: Mapping[str, Mapping[str, Any]], families: str | Sequence[str],
                 section: str) -> None:
    """Every neural candidate in `specs` uses one of `families` (a stage depends on those
    families' code and checkpoints only); errors name `section` and the offending candidate."""
    allowed = {families} if isinstance(families, str) else set(families)
    if not allowed or not allowed <= set(FAMILIES):
        raise ValueError(f"{section}: families must be among {list(FAMILIES)}, "
                         f"got {sorted(allowed)}")
    for name, spec in specs.items():
        model = spec.get("model")
        if model in FAMILIES and model not in allowed:
            raise ValueError(f"{section}: candidate {name!r} uses {model}, which is not among "
                             f"the stage's families {sorted(allowed)}")
