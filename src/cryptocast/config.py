"""Typed views of params.yaml: every knob of the pipeline lives there."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "UNIUSDT")


# When set to a folder, every process records the params it reads there (`TrackedParams`),
# so that the smoke run can check each stage's reads against its dvc.yaml params.
TRACE_ENV = "CRYPTOCAST_PARAMS_TRACE"


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: params file not found")
    params = yaml.safe_load(path.read_text()) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    if os.environ.get(TRACE_ENV):
        return _traced(params, Path(os.environ[TRACE_ENV]))
    return params


class TrackedParams(dict):
    """A params mapping that records the dotted path of every value read from it (`reads`: a
    value that is not a mapping, or a key that is absent, whose absence is what was read) and
    of every mapping opened (`opened`)."""

    def __init__(self, data: Mapping[str, Any], path: str = "", reads: set[str] | None = None,
                 opened: set[str] | None = None) -> None:
        super().__init__(data)
        self.path = path
        self.reads = set() if reads is None else reads
        self.opened = set() if opened is None else opened

    def _at(self, key: Any) -> str:
        return f"{self.path}.{key}" if self.path else str(key)

    def __getitem__(self, key: Any) -> Any:
        if not dict.__contains__(self, key):
            self.reads.add(self._at(key))
            raise KeyError(key)
        value = dict.__getitem__(self, key)
        if isinstance(value, dict):
            self.opened.add(self._at(key))
            return TrackedParams(value, self._at(key), self.reads, self.opened)
        self.reads.add(self._at(key))
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if dict.__contains__(self, key) else self._absent(key, default)

    def _absent(self, key: Any, default: Any) -> Any:
        self.reads.add(self._at(key))
        return default

    def __contains__(self, key: object) -> bool:
        found = dict.__contains__(self, key)
        if not found:
            self.reads.add(self._at(key))
        return found

    def __iter__(self):  # a copy (dict(x), {**x}) then reads each key through __getitem__
        return iter(list(dict.keys(self)))

    def items(self):
        return [(k, self[k]) for k in dict.keys(self)]

    def values(self):
        return [self[k] for k in dict.keys(self)]


def _traced(params: dict[str, Any], folder: Path) -> TrackedParams:
    """`params` recording its reads; at exit they go to `folder` with the command line."""
    tracked = TrackedParams(params)

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"argv": sys.argv, "reads": sorted(tracked.reads),
                           "opened": sorted(tracked.opened)})
        name = hashlib.sha256(json.dumps(sys.argv).encode()).hexdigest()[:16]
        with open(folder / f"{name}-{os.getpid()}.json", "w") as out:
            out.write(text)

    atexit.register(write)
    return tracked


def from_mapping(cls: type[T], values: Mapping[str, Any] | None, section: str) -> T:
    """`cls(**values)` for a dataclass; an unknown key, or a missing one without a default,
    is an error naming `section`."""
    values = dict(values or {})
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{section}: unknown keys {unknown}; known: {sorted(known)}")
    missing = sorted(f.name for f in fields(cls) if f.init and f.name not in values
                     and f.default is MISSING and f.default_factory is MISSING)
    if missing:
        raise ValueError(f"{section}: missing keys {missing}")
    return cls(**values)


@dataclass(frozen=True)
class DataConfig:
    source_dir: str
    intervals: list[str]
    repair: dict[str, str]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DataConfig:
        return from_mapping(cls, params.get("data"), "params data")


@dataclass(frozen=True)
class EvalConfig:
    interval: str
    val_steps: int
    test_steps: int
    horizon: int
    fee_bps: float
    batch_size: int
    n_boot: int
    latency_repeats: int

    def __post_init__(self) -> None:
        for name in ("val_steps", "test_steps", "horizon", "batch_size", "n_boot"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"params eval.{name} must be >= 1, got {getattr(self, name)}")
        if int(self.latency_repeats) < 0:
            raise ValueError(f"params eval.latency_repeats must be >= 0, got "
                             f"{self.latency_repeats}")
        if self.fee_bps < 0:
            raise ValueError(f"params eval.fee_bps must be >= 0, got {self.fee_bps}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EvalConfig:
        return from_mapping(cls, params.get("eval"), "params eval")


@dataclass(frozen=True)
class SplitConfig:
    """The part of params.yaml `eval` that fixes the split dates (read by `prepare` alone, so
    that other eval settings never move the data and retrain the models)."""

    interval: str
    val_steps: int
    test_steps: int

    def __post_init__(self) -> None:
        for name in ("val_steps", "test_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"params eval.{name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SplitConfig:
        section = params.get("eval") or {}
        return cls(**{f.name: section[f.name] for f in fields(cls) if f.name in section})


@dataclass(frozen=True)
class ModelSettings:
    """params.yaml `models.<family>` as pretraining reads it: the official checkpoint to import
    (None: pretrain the `architecture`) and its published end of training data. (The family's
    default forecaster, `models.<family>.forecaster`, is read where it is run.)"""

    checkpoint: Any
    data_end: str | None
    architecture: dict[str, Any]

    @classmethod
    def from_params(cls, params: Mapping[str, Any], family: str) -> ModelSettings:
        section = (params.get("models") or {}).get(family)
        if section is None:
            raise ValueError(f"params models.{family}: missing")
        return from_mapping(cls, {f.name: section.get(f.name) for f in fields(cls)},
                            f"params models.{family}")


@dataclass(frozen=True)
class BaselineSpec:
    """params.yaml `baseline.<SYMBOL>`: the plan's current config beside the naive candidates;
    `family` is the one checkpoint family they use, `reference` the candidate that tests and
    intervals compare every other against."""

    family: str
    reference: str
    candidates: dict[str, dict[str, Any]]

    def __post_init__(self) -> None:
        if self.reference not in self.candidates:
            raise ValueError(f"params baseline: reference {self.reference!r} is not among the "
                             f"candidates {sorted(self.candidates)}")

    @property
    def config(self) -> dict[str, Any]:
        """The reference candidate's spec (the plan's current config)."""
        return dict(self.candidates[self.reference])

    @classmethod
    def from_params(cls, params: Mapping[str, Any], symbol: str) -> BaselineSpec:
        section = (params.get("baseline") or {}).get(symbol)
        if section is None:
            raise ValueError(f"params baseline.{symbol}: missing")
        return from_mapping(cls, section, f"params baseline.{symbol}")


def baselines_from_params(params: Mapping[str, Any]) -> dict[str, BaselineSpec]:
    """Every symbol's params.yaml `baseline.<SYMBOL>`."""
    return {s: BaselineSpec.from_params(params, s) for s in params.get("baseline") or {}}


def family_defaults(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each family's default forecaster knobs (params.yaml `models.<family>.forecaster`)."""
    return {family: dict(section["forecaster"])
            for family, section in (params.get("models") or {}).items()}


def symbols_from_params(params: dict[str, Any]) -> list[str]:
    symbols = params.get("symbols", list(DEFAULT_SYMBOLS))
    if not symbols or not all(isinstance(s, str) for s in symbols):
        raise ValueError(f"params symbols: expected a non-empty list of names, got {symbols!r}")
    return list(symbols)


def merge_params(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` applied recursively (mappings merge, everything else replaces)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_params(merged[key], value)
        else:
            merged[key] = value
    return merged
