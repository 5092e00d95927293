"""The forecast ledger on a SQLite file, with days passing: a data folder cut at a date and
extended by a few candles per update. (PostgreSQL: tests/test_monitor_postgres.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import torch
import yaml
from click.testing import CliRunner
from conftest import make_candles
from tiny import params as full_params

from cryptocast.cli import main
from cryptocast.evaluation.metrics import crps_from_samples
from cryptocast.monitor import (
    CONFIGS,
    FORECASTS,
    SCORES,
    Forecaster,
    Ledger,
    LedgerError,
    MonitorSettings,
    production_records,
    update_symbol,
    verify,
)
from cryptocast.runtime import cpu_model, machine
from cryptocast.tuning.records import Record

SYMBOL = "AAAUSDT"
CANDLES = make_candles(200, seed=5)
POINT = {"model": "naive_gaussian", "window": 20, "num_samples": 200}
RISK = {"model": "ewma", "lam": 0.94, "window": 60, "dist": "t", "df": 5.0, "num_samples": 200}
FORECASTER = Forecaster("1d", Path("models"), 0)


class Project:
    """A checkout with production configs, a data folder cut at a candle, and a ledger."""

    def __init__(self, root: Path, url: str | None = None, params_ledger: str | None = None
                 ) -> None:
        self.root = root
        self.url = url or f"sqlite:///{root}/ledger.db"
        best = root / "hyperparams" / "best"
        best.mkdir(parents=True)
        self.set_config(POINT)
        Record(SYMBOL, "ewma", RISK, selection={"chosen": "ewma"}).write(
            best / f"{SYMBOL}_risk.json")
        (root / "data" / "1d").mkdir(parents=True)
        params = full_params(symbols=[SYMBOL], data={"source_dir": str(root / "data")},
                             monitor={"ledger": params_ledger or self.url})
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        self.settings = MonitorSettings.from_params(params)

    def set_config(self, config: dict) -> None:
        Record(SYMBOL, config["model"], config, selection={"chosen": "naive_gaussian"},
               test={"pct_return_mae": 0.02, "coverage_80": 0.8, "strategy_return": 0.01}
               ).write(self.root / "hyperparams" / "best" / f"{SYMBOL}.json")

    def cut(self, n: int) -> pd.DataFrame:
        """The first n candles are the ones closed so far."""
        frame = CANDLES.iloc[:n]
        frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(
            self.root / "data" / "1d" / f"{SYMBOL}.csv", index=False)
        return frame.reset_index(drop=True)

    def update(self, n: int, start: str | None = None) -> dict[str, int]:
        ledger = Ledger(self.url)
        records = production_records(SYMBOL, self.root / "hyperparams" / "best",
                                     self.settings.benchmark)
        try:
            return update_symbol(ledger, SYMBOL, self.cut(n), records, FORECASTER, start)
        finally:
            ledger.dispose()

    def tables(self) -> dict[str, pd.DataFrame]:
        ledger = Ledger(self.url)
        try:
            return {t.name: ledger.frame(t) for t in (CONFIGS, FORECASTS, SCORES)}
        finally:
            ledger.dispose()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cryptocast.cli", "monitor", *args],
                              cwd=self.root, capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)


def day(n: int) -> pd.Timestamp:
    return CANDLES["timestamp"].iloc[n]


def test_days_pass_forecasts_are_recorded_once_and_scored_when_their_candle_closes(project):
    assert project.update(150) == {"point": 1, "risk": 1, "benchmark": 1, "scores": 0}
    first = project.tables()
    assert list(first["forecasts"]["target"]) == [day(150)] * 3  # the candle still open
    assert first["forecasts"]["forward"].all()
    # three days later: the three candles since, and the three forecasts that closed
    assert project.update(153) == {"point": 3, "risk": 3, "benchmark": 3, "scores": 3 * 3}
    tables = project.tables()
    point = tables["forecasts"][tables["forecasts"]["objective"] == "point"]
    assert list(point["target"]) == [day(n) for n in range(150, 154)]
    # nothing changes on a rerun, and rows written earlier are untouched
    assert project.update(153) == {"scores": 0}
    again = project.tables()
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(again[name], frame)
    pd.testing.assert_frame_equal(tables["forecasts"].iloc[:3], first["forecasts"])


def test_a_score_is_the_forecast_against_the_candle_by_hand(project):
    project.update(150)
    project.update(151)
    tables = project.tables()
    f = tables["forecasts"].iloc[0]
    s = tables["scores"].set_index("forecast_id").loc[f["id"]]
    prev, actual = CANDLES["close"].iloc[149], CANDLES["close"].iloc[150]
    samples = np.frombuffer(f["samples"], np.float64)
    returns = samples / prev - 1
    realised = actual / prev - 1
    assert f["last_close"] == prev and s["actual_close"] == actual
    assert s["abs_error"] == pytest.approx(abs(f["point"] / prev - 1 - realised), abs=1e-15)
    assert s["naive_abs_error"] == pytest.approx(abs(realised), abs=1e-15)
    assert s["crps"] == pytest.approx(crps_from_samples(returns[None], [realised])[0])
    lo, hi = np.quantile(returns, [0.1, 0.9])
    assert s["in_80"] == (lo <= realised <= hi)
    assert s["pit"] == pytest.approx(np.mean(returns <= realised))


def test_forecasts_use_the_candles_before_their_target_only(project, tmp_path):
    project.update(150)
    for n in range(151, 156):
        project.update(n)
    daily = project.tables()["forecasts"]
    # one update on all the data from a start date: the same forecasts, bit for bit
    other = Project(tmp_path / "backfill")
    other.update(155, start=str(day(150).date()))
    backfill = other.tables()["forecasts"]
    key = ["objective", "target"]
    a, b = daily.sort_values(key).reset_index(), backfill.sort_values(key).reset_index()
    assert list(a["target"]) == list(b["target"])
    for column in ("point", "samples", "last_close", "data_sha", "checkpoint_sha"):
        assert list(a[column]) == list(b[column]), column
    assert not b.loc[b["target"] < day(155), "forward"].any()  # made after their candle closed


def test_a_config_switch_is_recorded_and_earlier_forecasts_keep_theirs(project):
    project.update(150)
    project.update(152)
    project.set_config({**POINT, "window": 40})
    project.update(154)
    tables = project.tables()
    configs = tables["configs"][tables["configs"]["objective"] == "point"]
    assert len(configs) == 2 and configs["first_target"].iloc[1] == day(153)
    point = tables["forecasts"][tables["forecasts"]["objective"] == "point"]
    by_target = dict(zip(point["target"], point["config_id"], strict=True))
    assert {by_target[day(n)] for n in (150, 151, 152)} == {configs["id"].iloc[0]}
    assert {by_target[day(n)] for n in (153, 154)} == {configs["id"].iloc[1]}


def test_a_failed_batch_writes_nothing_and_the_next_update_completes_it(project, monkeypatch):
    project.update(150)
    calls = []
    original = Ledger.add_forecasts

    def fail_after_insert(self, conn, rows):
        original(self, conn, rows)
        calls.append(1)
        if len(calls) == 2:  # the risk batch: inserted, then the process fails
            raise RuntimeError("power cut")

    monkeypatch.setattr(Ledger, "add_forecasts", fail_after_insert)
    with pytest.raises(RuntimeError, match="power cut"):
        project.update(153)
    monkeypatch.undo()
    forecasts = project.tables()["forecasts"]
    assert forecasts.groupby("objective").size().to_dict() == {"benchmark": 1, "point": 4,
                                                               "risk": 1}
    assert project.update(153)["risk"] == 3
    assert project.tables()["forecasts"].groupby("objective").size().to_dict() == {
        "benchmark": 4, "point": 4, "risk": 4}


KILLED_UPDATE = """
import os, signal, sys
import pandas as pd
from pathlib import Path
from cryptocast.monitor import Forecaster, Ledger, production_records, update_symbol

def killed(self, conn, rows):
    Ledger._insert(self, conn, FORECASTS, list(rows))
    os.kill(os.getpid(), signal.SIGKILL)  # inside the transaction, before its commit

from cryptocast.monitor import FORECASTS
Ledger.add_forecasts = killed
root, url = Path(sys.argv[1]), sys.argv[2]
candles = pd.read_csv(root / "data" / "1d" / "AAAUSDT.csv", parse_dates=["timestamp"])
records = production_records("AAAUSDT", root / "hyperparams" / "best",
                             {"model": "naive", "num_samples": 1})
update_symbol(Ledger(url), "AAAUSDT", candles, records, Forecaster("1d", Path("models"), 0))
"""


def test_an_update_killed_midway_leaves_no_partial_rows(project):
    project.update(150)
    before = project.tables()
    project.cut(155)
    killed = subprocess.run([sys.executable, "-c", KILLED_UPDATE, str(project.root),
                             project.url], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    after = project.tables()
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame)
    assert project.update(155)["point"] == 5


def test_two_concurrent_updates_write_each_forecast_once(project):
    project.cut(180)
    start = ["--params", "params.yaml"]
    (project.root / "params.yaml").write_text(yaml.safe_dump(full_params(
        symbols=[SYMBOL], data={"source_dir": str(project.root / "data")},
        monitor={"ledger": project.url, "start": str(day(120).date())})))
    runs = [subprocess.Popen([sys.executable, "-m", "cryptocast.cli", "monitor", "update",
                              *start], cwd=project.root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    tables = project.tables()
    forecasts = tables["forecasts"]
    assert forecasts.groupby("objective").size().to_dict() == {o: 61 for o in
                                                               ("benchmark", "point", "risk")}
    assert not forecasts.duplicated(["objective", "target"]).any()
    assert len(tables["scores"]) == 3 * 60 and len(tables["configs"]) == 3


def test_verify_recomputes_bit_for_bit_and_names_what_differs(project):
    project.update(150)
    project.update(152)
    source = lambda symbol: project.cut(152)  # noqa: E731
    ledger = Ledger(project.url)
    assert verify(ledger, source, FORECASTER) == []
    with ledger.engine.begin() as conn:  # tamper with one recorded forecast
        conn.execute(sa.text("UPDATE forecasts SET point = point * 1.01 WHERE id = 1"))
    problem, = verify(ledger, source, FORECASTER)
    assert problem.startswith(f"{SYMBOL} point {day(150)}: recomputed forecast differs "
                              "(recorded with ")
    edited = CANDLES.iloc[:152].copy()
    edited.loc[100, "close"] *= 1.001
    problems = verify(ledger, lambda symbol: edited, FORECASTER)
    assert len(problems) == 9 and all("candles before it differ" in p for p in problems)
    ledger.dispose()


def test_a_schema_1_ledger_is_upgraded_its_forecasts_machine_unknown(project):
    check_schema_1_upgrade(project)


def check_schema_1_upgrade(project: Project) -> None:
    """A ledger downgraded to schema 1 gains the machine column when opened, unknown for the
    forecasts before it; verify names the machines."""
    project.update(150)
    engine = sa.create_engine(project.url)
    with engine.begin() as conn:  # the ledger as schema 1 wrote it
        conn.execute(sa.text("ALTER TABLE forecasts DROP COLUMN machine"))
        conn.execute(sa.text("UPDATE ledger_meta SET value = '1'"))
    engine.dispose()
    before = len(project.tables()["forecasts"])  # opening it upgrades it
    project.update(152)
    forecasts = project.tables()["forecasts"].sort_values("id")
    assert forecasts["machine"].iloc[:before].isna().all()
    assert (forecasts["machine"].iloc[before:] == machine()).all() and len(forecasts) > before
    assert machine() == f"cpu {cpu_model()} {torch.backends.cpu.get_cpu_capability()}"
    ledger = Ledger(project.url)
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE forecasts SET point = point * 1.01 WHERE id = 1"))
    problem, = verify(ledger, lambda symbol: project.cut(152), FORECASTER)
    ledger.dispose()
    assert "on an unknown machine, closure-" in problem and f"on {machine()}, " in problem


def test_cli_update_report_and_alerts(project, monkeypatch):
    monkeypatch.chdir(project.root)

    def cli(*args):
        return CliRunner().invoke(main, ["monitor", *args])

    for n in range(140, 171):  # a month, day by day
        project.cut(n)
        done = cli("update")
        assert done.exit_code == 0, done.output
    assert "AAAUSDT: point 1, risk 1, benchmark 1, scores 3 written to ledger" in done.output
    report = cli("report", "--as-of", str(day(170)))
    assert report.exit_code == 0, report.output
    text = (project.root / "reports" / "monitor" / "report.md").read_text()
    assert "| AAAUSDT | point | naive_gaussian | 30 | " in text
    assert (project.root / "reports" / "monitor" / f"{SYMBOL}_rolling.png").exists()
    verified = cli("verify", "--source-dir", "data")
    assert verified.exit_code == 0
    assert "93 forecasts in ledger" in verified.output and "; 0 differ" in verified.output
    # four days later nothing was updated: the data is stale
    stale = cli("report", "--as-of", str(day(174)))
    assert stale.exit_code == 1
    assert f"ALERT {SYMBOL}: newest closed candle in the ledger closed at {day(170)}" in \
        stale.output


def test_ledger_errors_are_one_line(project, tmp_path):
    foreign = tmp_path / "foreign.db"
    engine = sa.create_engine(f"sqlite:///{foreign}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE forecasts (x INTEGER)"))
    engine.dispose()
    with pytest.raises(LedgerError, match=r"holds tables \['forecasts'\] but no ledger_meta"):
        Ledger(f"sqlite:///{foreign}")
    Ledger(project.url).dispose()
    engine = sa.create_engine(project.url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ledger_meta SET value = '99'"))
    engine.dispose()
    with pytest.raises(LedgerError, match="schema version 99, this cryptocast reads version 2"):
        Ledger(project.url)
    result = CliRunner().invoke(main, ["monitor", "report", "--params",
                                       str(project.root / "params.yaml"), "--ledger",
                                       "env:CRYPTOCAST_NO_SUCH_VARIABLE"])
    assert result.exit_code == 2
    assert "--ledger: environment variable CRYPTOCAST_NO_SUCH_VARIABLE is not set" in \
        result.output


def test_a_locked_ledger_is_one_line_after_the_busy_timeout(project):
    Ledger(project.url).dispose()
    holder = sa.create_engine(project.url).connect()
    holder.exec_driver_sql("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LedgerError, match=r"ledger sqlite:///.*: database is locked"):
            Ledger(project.url, busy_timeout_s=0.2)
    finally:
        holder.rollback()
        holder.close()
