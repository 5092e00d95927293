"""Sweep workers: several machines join one study through a shared database.

Every worker needs the same checkout (params, `dvc pull` for data, checkpoints and pools); the
study's name carries a fingerprint of all of it, so a worker whose checkout differs refuses to
join instead of mixing trials of another space or checkpoint into the study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from cryptocast.tuning.sweep import SweepJob, finished_trials, heartbeat_storage, run_study
from cryptocast.tuning.symbol_sweep import open_symbol_study


def study_symbol(storage: optuna.storages.BaseStorage, study_name: str) -> str:
    """The symbol a study sweeps; a clear error when the study does not exist."""
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if study_name not in names:
        raise ValueError(f"no study {study_name!r} in the storage; it has {sorted(names)}")
    return optuna.load_study(study_name=study_name, storage=storage).user_attrs["symbol"]


def run_worker(params: dict[str, Any], url: str, study_name: str, n_trials: int | None = None,
               prepared_dir: str | Path = "data/prepared", models_dir: str | Path = "models",
               pools_root: str | Path = "pools", heartbeat_interval: int = 10,
               grace_period: int = 30) -> int:
    """Run the study's trials here until it holds `n_trials` finished trials (default: its
    sweep's n_trials); returns the number of finished trials."""
    storage = heartbeat_storage(url, heartbeat_interval, grace_period)
    symbol = study_symbol(storage, study_name)
    job = SweepJob.from_params(params, symbol)
    checkpoints = {f: Path(models_dir) / f for f in job.settings.families}
    opened = open_symbol_study(job, prepared_dir, checkpoints, Path(pools_root) / symbol,
                               storage=storage)
    study = opened.study
    if study.study_name != study_name:
        raise ValueError(
            f"study {study_name!r} was made from other params, data or checkpoints than this "
            f"checkout's sweep of {symbol} ({study.study_name!r}); run `dvc pull` and check "
            "params.yaml")
    run_study(study, opened.objective, n_trials or job.settings.n_trials)
    return finished_trials(study)
