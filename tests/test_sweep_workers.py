"""Sweep workers on a real PostgreSQL server (127.0.0.1): two `cryptocast sweep worker`
processes share one study and end with exactly the requested trials, and a worker killed by
SIGKILL mid-trial loses nothing (heartbeats fail its trial, another worker retries it).

The server comes from tests/pg.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch
import yaml
from conftest import make_candles
from pg import server
from tiny import TINY, data_config, split_config
from tiny import params as full_params

from cryptocast.data.prepare import prepare
from cryptocast.models.toto import Toto, save_checkpoint
from cryptocast.tuning.pools import build_pool
from cryptocast.tuning.sweep import SweepJob, heartbeat_storage
from cryptocast.tuning.symbol_sweep import open_symbol_study

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1 and a database `optuna` in it."""
    with server("optuna") as port:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/optuna"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A tiny checkout: params, prepared candles, a Toto checkpoint and its pool."""
    root = tmp_path_factory.mktemp("project")
    source = root / "ohlcv" / "1d"
    source.mkdir(parents=True)
    frame = make_candles(160)
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(
        source / "AAAUSDT.csv", index=False)
    params = full_params(**{
        "seed": 0, "symbols": ["AAAUSDT"],
        "eval": {"val_steps": 30, "test_steps": 10, "n_boot": 20, "latency_repeats": 0},
        "models": {"toto": {"forecaster": {"num_samples": 16, "aggregate": "median",
                                           "context_length": 32}}},
        "baseline": {"AAAUSDT": {"family": "toto", "reference": "naive",
                                 "candidates": {"naive": {"model": "naive"}}}},
        "sweep": {"defaults": {"n_trials": 30, "prune": False, "pool_size": 64,
                               "families": ["toto"],
                               "toto": {"num_samples": [8, 16, 32, 64],
                                        "aggregate": ["mean", "median", "trimmed_mean_10"],
                                        "context_length": [16, 32, 48]}},
                  "symbols": {"AAAUSDT": {}}},
    })
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    prepare(data_config(source_dir=str(root / "ohlcv"), intervals=["1d"]),
            split_config(val_steps=30, test_steps=10), ["AAAUSDT"], root / "data" / "prepared",
            root / "data" / "report.json")
    torch.manual_seed(0)
    save_checkpoint(Toto(TINY), root / "models" / "toto")
    job = SweepJob.from_params(params, "AAAUSDT")
    build_pool(job.settings, job.eval, job.seed, "AAAUSDT", root / "data" / "prepared",
               root / "models" / "toto", root / "pools" / "AAAUSDT")
    return root


def create_study(project: Path, url: str) -> str:
    params = yaml.safe_load((project / "params.yaml").read_text())
    opened = open_symbol_study(SweepJob.from_params(params, "AAAUSDT"),
                               project / "data" / "prepared",
                               {"toto": project / "models" / "toto"},
                               project / "pools" / "AAAUSDT", storage=heartbeat_storage(url))
    return opened.study.study_name


def test_two_workers_share_one_study_and_stop_at_the_budget(project, postgres_url):
    name = create_study(project, postgres_url)
    cmd = [sys.executable, "-m", "cryptocast.cli", "sweep", "worker", "--storage", postgres_url,
           "--study", name, "--n-trials", "30"]
    workers = [subprocess.Popen(cmd, cwd=project, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    study = optuna.load_study(study_name=name, storage=postgres_url)
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 30
    assert len({t.user_attrs["worker"] for t in complete}) == 2  # both worked on it


def test_a_worker_with_another_checkout_refuses_to_join(project, postgres_url, tmp_path):
    name = create_study(project, postgres_url)
    other = yaml.safe_load((project / "params.yaml").read_text())
    other["sweep"]["defaults"]["toto"]["context_length"] = [16]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(other))
    out = subprocess.run([sys.executable, "-m", "cryptocast.cli", "sweep", "worker", "--params",
                          str(tmp_path / "params.yaml"), "--storage", postgres_url, "--study",
                          name], cwd=project, capture_output=True, text=True)
    assert out.returncode == 2
    assert "was made from other params, data or checkpoints" in out.stderr
    assert "Traceback" not in out.stderr


TOY_WORKER = """
import sys, time
from pathlib import Path
import optuna
from cryptocast.tuning.sweep import heartbeat_storage, run_study
url, name, mode, marker = sys.argv[1:]
study = optuna.load_study(study_name=name, storage=heartbeat_storage(url, 1, 3))
def objective(trial):
    x = trial.suggest_float("x", 0, 1)
    if mode == "hang":
        Path(marker).write_text(str(trial.number))
        time.sleep(600)
    time.sleep(0.2)
    return x
run_study(study, objective, 5)
"""


def test_a_killed_worker_loses_no_trial(postgres_url, tmp_path):
    storage = heartbeat_storage(postgres_url, 1, 3)
    optuna.create_study(study_name="kill", storage=storage)
    marker = tmp_path / "started"
    victim = subprocess.Popen([sys.executable, "-c", TOY_WORKER, postgres_url, "kill", "hang",
                               str(marker)])
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert marker.exists(), "the first worker never started a trial"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    time.sleep(4)  # past the grace period: the killed worker's trial is stale
    done = subprocess.run([sys.executable, "-c", TOY_WORKER, postgres_url, "kill", "run",
                           str(marker)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    trials = optuna.load_study(study_name="kill", storage=postgres_url).get_trials()
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(failed) == 1 and len(complete) == 5
    retried = [t for t in complete
               if optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t)
               == failed[0].number]
    assert len(retried) == 1 and retried[0].params == failed[0].params  # the same trial, again
