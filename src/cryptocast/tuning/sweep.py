"""Optuna sweeps over both families (plan 2.2, 2.3, 4), scored from pools and caches.

One study per symbol (and per fingerprint of everything that defines it), so rerunning an
interrupted sweep continues the same study, and a changed space or checkpoint starts a new
one. The objective is the validation pct_return_mae, or the CRPS (`objective`); each window's
loss is reported as an intermediate value (step = window index, windows in a shuffled order)
so that Optuna's `WilcoxonPruner` stops a trial once a paired test says it is worse than the
best trial of its own family. The sampler's random state follows the trial number, so a
resumed study draws what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna
import sqlalchemy

from cryptocast.config import BaselineSpec, EvalConfig, from_mapping, merge_params
from cryptocast.database import first_line, redacted, resolve_url
from cryptocast.forecast.registry import FAMILIES

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
PRUNE_EVERY = 10  # windows between pruning checks
# objective -> the metric key that scores it in a metrics block
OBJECTIVES = {"mae": "pct_return_mae", "crps": "crps"}


@dataclass(frozen=True)
class SweepSettings:
    """params.yaml `sweep.defaults` merged with `sweep.symbols.<SYMBOL>`.

    toto / kronos: lists of values per knob (the search space); families: which are searched;
    objective: the validation loss minimised, `mae` (absolute return error of the point) or
    `crps` (of the sample returns).
    """

    method: str
    n_trials: int
    seed: int
    storage: str
    pool_size: int
    prune: bool
    families: list[str]
    objective: str
    toto: dict[str, list]
    kronos: dict[str, list]

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"params sweep.objective must be one of {list(OBJECTIVES)}, got "
                             f"{self.objective!r}")
        if self.method not in ("grid", "tpe"):
            raise ValueError(f"params sweep.method must be grid or tpe, got {self.method!r}")
        if self.n_trials < 1:
            raise ValueError(f"params sweep.n_trials must be >= 1, got {self.n_trials}")
        unknown = sorted(set(self.families) - set(FAMILIES))
        if unknown or not self.families:
            raise ValueError(f"params sweep.families: expected some of {list(FAMILIES)}, got "
                             f"{self.families}")
        for family in self.families:
            space = getattr(self, family)
            if not space or not all(isinstance(v, list) and v for v in space.values()):
                raise ValueError(f"params sweep.{family}: a non-empty list of values per knob")
        too_many = [n for n in self.toto.get("num_samples", []) if n > self.pool_size]
        if "toto" in self.families and too_many:
            raise ValueError(f"params sweep.toto.num_samples {too_many} exceed pool_size "
                             f"{self.pool_size}")

    def fingerprint(self, extra: Mapping[str, Any]) -> str:
        """A short hash of what defines a study: the space, method, seed and `extra`
        (symbol, checkpoints, data). n_trials and storage are not part of it."""
        spec = {k: v for k, v in asdict(self).items() if k not in ("n_trials", "storage")}
        text = json.dumps({"settings": spec, "extra": extra}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


def sweep_settings(params: Mapping[str, Any], symbol: str) -> SweepSettings:
    sweep = params.get("sweep") or {}
    merged = merge_params(sweep.get("defaults") or {}, (sweep.get("symbols") or {}).get(symbol)
                          or {})
    return from_mapping(SweepSettings, merged, f"params sweep (for {symbol})")


@dataclass(frozen=True)
class SweepJob:
    """Everything one symbol's sweep reads from params, parsed once by the stage: the search
    settings, the evaluation settings, the seed, the symbol's baseline (scored beside the
    winners) and each family's default forecaster knobs (its first trial)."""

    symbol: str
    settings: SweepSettings
    eval: EvalConfig
    seed: int
    baseline: BaselineSpec
    defaults: dict[str, dict[str, Any]]

    @classmethod
    def from_params(cls, params: Mapping[str, Any], symbol: str) -> SweepJob:
        settings = sweep_settings(params, symbol)
        return cls(symbol, settings, EvalConfig.from_params(params), int(params["seed"]),
                   BaselineSpec.from_params(params, symbol),
                   {f: dict(params["models"][f]["forecaster"]) for f in settings.families})


def grid(settings: SweepSettings) -> list[dict[str, Any]]:
    """Every config of the space, both families: {"model": family, **knobs}."""
    configs = []
    for family in settings.families:
        space = getattr(settings, family)
        for values in itertools.product(*space.values()):
            configs.append({"model": family, **dict(zip(space, values, strict=True))})
    return configs


def suggest(trial: optuna.Trial, settings: SweepSettings, configs: list[dict]) -> dict[str, Any]:
    """The trial's config: a grid index (method grid) or family-conditional choices (tpe)."""
    if settings.method == "grid":
        return dict(configs[trial.suggest_categorical("config", list(range(len(configs))))])
    family = trial.suggest_categorical("model", settings.families)
    space = getattr(settings, family)
    return {"model": family, **{knob: trial.suggest_categorical(f"{family}.{knob}", values)
                                for knob, values in space.items()}}


def _reseed(sampler: optuna.samplers.BaseSampler, seed: int, number: int) -> None:
    """Seed the sampler's random states from (seed, trial number)."""
    inner = getattr(sampler, "_random_sampler", None)
    for state in (sampler._rng, getattr(inner, "_rng", None)):
        if state is not None:
            state.rng.seed([seed, number])


class TrialSeededTPE(optuna.samplers.TPESampler):
    """TPE whose random state is a function of (seed, trial number) and the study's history,
    so a study resumed after k trials draws exactly what an uninterrupted one draws (a plain
    seeded sampler restarts its random state in every new process)."""

    def __init__(self, seed: int, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.base_seed = seed

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        _reseed(self, self.base_seed, trial.number)
        super().before_trial(study, trial)


class TrialSeededGrid(optuna.samplers.GridSampler):
    """GridSampler with the random state of `TrialSeededTPE`."""

    def __init__(self, search_space: dict, seed: int) -> None:
        super().__init__(search_space, seed=seed)
        self.base_seed = seed

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        _reseed(self, self.base_seed, trial.number)
        super().before_trial(study, trial)


def make_sampler(settings: SweepSettings, configs: list[dict]) -> optuna.samplers.BaseSampler:
    if settings.method == "grid":
        return TrialSeededGrid({"config": list(range(len(configs)))}, settings.seed)
    with warnings.catch_warnings():  # multivariate/group TPE are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return TrialSeededTPE(settings.seed, multivariate=True, group=True)


def family_of(trial: optuna.trial.FrozenTrial) -> str:
    return trial.user_attrs["config"]["model"]


class _FamilyView:
    """The part of a study WilcoxonPruner reads, with the best trial of one family."""

    def __init__(self, study: optuna.Study, family: str) -> None:
        self.direction = study.direction
        complete = [t for t in study.get_trials(deepcopy=False,
                                                states=(optuna.trial.TrialState.COMPLETE,))
                    if family_of(t) == family]
        self._best = min(complete, key=lambda t: t.value) if complete else None

    @property
    def best_trial(self) -> optuna.trial.FrozenTrial:
        if self._best is None:
            raise ValueError("no complete trial of this family yet")
        return self._best


class FamilyPruner(optuna.pruners.BasePruner):
    """Optuna's WilcoxonPruner against the best complete trial of the trial's own family: a
    Toto trial is never pruned because a Kronos trial is better, so every family searched
    keeps a winner (the first trial of a family always completes)."""

    def __init__(self, p_threshold: float, n_startup_steps: int) -> None:
        with warnings.catch_warnings():  # WilcoxonPruner is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._inner = optuna.pruners.WilcoxonPruner(p_threshold=p_threshold,
                                                        n_startup_steps=n_startup_steps)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return self._inner.prune(_FamilyView(study, family_of(trial)), trial)


def default_params(settings: SweepSettings, defaults: Mapping[str, Mapping[str, Any]]
                   ) -> list[dict[str, Any]]:
    """Per searched family, the trial parameters of its default forecaster (`defaults`:
    knobs per family), each knob projected on the space (its first value when the default is
    not among the values): enqueued first, so every family completes a trial."""
    out = []
    for family in settings.families:
        knobs = defaults.get(family, {})
        params: dict[str, Any] = {"model": family}
        for knob, values in getattr(settings, family).items():
            params[f"{family}.{knob}"] = knobs[knob] if knobs.get(knob) in values else values[0]
        out.append(params)
    return out


class WindowLosses(NamedTuple):
    """A config's losses per validation window: `mae` (the absolute return error of its
    point) and `crps` (the fair CRPS of its sample returns); arrays, or floats of one window."""

    mae: Any
    crps: Any



# losses(config, order) -> iterator of (window index, WindowLosses of that window)
LossSource = Callable[[dict[str, Any], np.ndarray], Iterator[tuple[int, WindowLosses]]]


def make_objective(settings: SweepSettings, losses: LossSource, n_windows: int,
                   configs: list[dict]) -> Callable[[optuna.Trial], float]:
    """The trial's mean validation loss of `settings.objective` (mae or crps), reported window
    by window in a per-trial random order for the pruner."""
    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial, settings, configs)
        trial.set_user_attr("config", config)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        order = np.random.default_rng([settings.seed, trial.number]).permutation(n_windows)
        total = 0.0
        for step, (window, loss) in enumerate(losses(config, order)):
            value = getattr(loss, settings.objective)
            total += value
            trial.report(value, window)
            if settings.prune and (step + 1) % PRUNE_EVERY == 0 and trial.should_prune():
                raise optuna.TrialPruned()
        return total / n_windows

    return objective


def open_study(settings: SweepSettings, study_name: str, configs: list[dict],
               storage: optuna.storages.BaseStorage | str | None = None,
               defaults: Mapping[str, Mapping[str, Any]] | None = None) -> optuna.Study:
    """Create or load the study (so an interrupted sweep continues where it stopped); a new
    TPE study starts with each family's default configuration (`default_params`)."""
    pruner = (FamilyPruner(p_threshold=0.1, n_startup_steps=2 * PRUNE_EVERY)
              if settings.prune else optuna.pruners.NopPruner())
    storage = storage or heartbeat_storage(settings.storage)
    study = optuna.create_study(study_name=study_name, storage=storage,
                                sampler=make_sampler(settings, configs), pruner=pruner,
                                direction="minimize", load_if_exists=True)
    if settings.method == "tpe" and defaults is not None and not study.get_trials(deepcopy=False):
        for params in default_params(settings, defaults):
            study.enqueue_trial(params)
    return study


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def within_budget(objective: Callable[[optuna.Trial], float], n_trials: int
                  ) -> Callable[[optuna.Trial], float]:
    """`objective`, but a trial that would exceed `n_trials` finished trials (counting the
    running trials numbered before it, which other workers may hold) fails at once and stops
    this worker: several workers end with exactly `n_trials` finished trials."""

    def guarded(trial: optuna.Trial) -> float:
        ahead = trial.study.get_trials(
            deepcopy=False, states=(*FINISHED, optuna.trial.TrialState.RUNNING))
        if sum(t.number < trial.number for t in ahead) >= n_trials:
            trial.set_user_attr("beyond_budget", True)
            trial.study.stop()
            return float("nan")  # a failed trial, never counted
        return objective(trial)

    return guarded


def run_study(study: optuna.Study, objective, n_trials: int, callbacks: Sequence = ()) -> None:
    """Run trials until the study holds `n_trials` finished (complete or pruned) trials,
    counting those already there and those other workers finish."""
    remaining = n_trials - finished_trials(study)
    if remaining <= 0:
        return
    stop = optuna.study.MaxTrialsCallback(n_trials, states=FINISHED)
    study.optimize(within_budget(objective, n_trials), n_trials=remaining,
                   callbacks=[stop, *callbacks], gc_after_trial=False,
                   show_progress_bar=False)


def heartbeat_storage(url: str, heartbeat_interval: int = 10, grace_period: int = 30,
                      max_retry: int = 3) -> optuna.storages.RDBStorage:
    """An RDB storage (SQLite file or PostgreSQL) whose workers send heartbeats: a trial whose
    worker died (even by SIGKILL) is marked failed after `grace_period` seconds by the next
    worker that starts a trial, and retried as a new trial with the same parameters. A bad or
    unreachable URL is a ValueError naming it (password hidden). `url` may be `env:NAME`."""
    url = resolve_url(url, "study storage")
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():  # heartbeats and the retry callback are "experimental"
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=max_retry))
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as err:
        raise ValueError(f"study storage {redacted(url)}: cannot open it "
                         f"({first_line(err, url)})") from err


def budget_trials(study: optuna.Study, n_trials: int) -> list[optuna.trial.FrozenTrial]:
    """The first `n_trials` finished trials by number: results depend on the budget only,
    not on trials a larger budget once added to the same study."""
    finished = sorted(study.get_trials(deepcopy=False, states=FINISHED), key=lambda t: t.number)
    return finished[:n_trials]


def best_by_family(trials: list[optuna.trial.FrozenTrial]) -> dict[str, optuna.trial.FrozenTrial]:
    """The complete trial with the lowest validation value, per family."""
    best: dict[str, optuna.trial.FrozenTrial] = {}
    for trial in trials:
        if trial.state != optuna.trial.TrialState.COMPLETE:
            continue
        family = trial.user_attrs["config"]["model"]
        if family not in best or trial.value < best[family].value:
            best[family] = trial
    return best


HISTORY_COLUMNS = ("trial", "family", "state", "value", "best_so_far")


def history(trials: list[optuna.trial.FrozenTrial]) -> list[dict[str, Any]]:
    """One row per trial: number, family, state, value and the best so far."""
    rows, best = [], float("inf")
    for trial in trials:
        complete = trial.state == optuna.trial.TrialState.COMPLETE
        if complete:
            best = min(best, trial.value)
        rows.append({"trial": trial.number, "family": trial.user_attrs["config"]["model"],
                     "state": trial.state.name.lower(),
                     "value": trial.value if complete else "",
                     "best_so_far": best if best < float("inf") else ""})
    return rows
