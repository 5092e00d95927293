"""The forecast ledger on a real PostgreSQL server (tests/pg.py) whose TCP connections need a
password: the same ledger as on SQLite, concurrent updates, and credentials that never land
in params, the ledger, the report or a message."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
import sqlalchemy as sa
from pg import server
from test_monitor import Project, check_schema_1_upgrade

PASSWORD = "pw-Zq81-never-written"


@pytest.fixture(scope="module")
def port():
    with server("ledger", password=PASSWORD) as port:
        yield port


def url(port: int, database: str, password: str | None = PASSWORD) -> str:
    secret = f":{password}" if password else ""
    return f"postgresql+psycopg://postgres{secret}@127.0.0.1:{port}/{database}"


@pytest.fixture
def database(port):
    """A fresh database on the server for one test."""
    name = f"ledger_{os.getpid()}_{abs(hash(os.environ.get('PYTEST_CURRENT_TEST')))}"
    admin = sa.create_engine(url(port, "ledger"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return name


def monitor(project: Project, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cryptocast.cli", "monitor", *args],
                          cwd=project.root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_the_same_ledger_as_on_sqlite_and_no_password_anywhere(port, database, tmp_path):
    project = Project(tmp_path / "pg", url(port, database), params_ledger="env:LEDGER_URL")
    env = {"LEDGER_URL": url(port, database)}
    outputs = []
    for n in range(150, 156):
        project.cut(n)
        done = monitor(project, env, "update")
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout + done.stderr)
    report = monitor(project, env, "report", "--as-of", "2024-06-04")
    assert report.returncode == 0, report.stdout + report.stderr
    verified = monitor(project, env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    outputs += [report.stdout + report.stderr, verified.stdout]
    assert "postgresql+psycopg://postgres:***@127.0.0.1" in outputs[0]
    lite = Project(tmp_path / "lite")
    for n in range(150, 156):
        lite.update(n)
    on_pg, on_lite = project.tables(), lite.tables()
    for column in ("objective", "target", "point", "samples", "data_sha", "checkpoint_sha"):
        assert list(on_pg["forecasts"][column]) == list(on_lite["forecasts"][column]), column
    pd.testing.assert_frame_equal(on_pg["scores"].drop(columns="scored_at"),
                                  on_lite["scores"].drop(columns="scored_at"))
    # the password is nowhere: params, the ledger's rows, the report, any output
    written = [(project.root / "params.yaml").read_text(),
               (project.root / "reports" / "monitor" / "report.md").read_text(),
               *outputs, *(frame.to_csv() for frame in on_pg.values())]
    assert not [text for text in written if PASSWORD in text]


def test_concurrent_updates_on_postgres_write_each_forecast_once(port, database, tmp_path):
    project = Project(tmp_path, url(port, database), params_ledger="env:LEDGER_URL")
    project.cut(170)
    runs = [subprocess.Popen([sys.executable, "-m", "cryptocast.cli", "monitor", "update"],
                             cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "LEDGER_URL": url(port, database)})
            for _ in range(2)]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    forecasts = project.tables()["forecasts"]
    assert len(forecasts) == 3 and not forecasts.duplicated(["objective", "target"]).any()


def test_the_password_file_and_errors_without_the_password(port, database, tmp_path):
    project = Project(tmp_path, url(port, database))
    project.cut(150)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{port}:{database}:postgres:{PASSWORD}\n")
    passfile.chmod(0o600)
    bare = url(port, database, password=None)
    done = monitor(project, {"PGPASSFILE": str(passfile)}, "update", "--ledger", bare)
    assert done.returncode == 0, done.stderr
    assert len(project.tables()["forecasts"]) == 3
    wrong = url(port, database, password="not-" + PASSWORD)
    failed = monitor(project, {}, "update", "--ledger", wrong)
    assert failed.returncode == 2
    assert "ledger postgresql+psycopg://postgres:***@127.0.0.1" in failed.stderr
    assert "password authentication failed" in failed.stderr
    assert "not-" + PASSWORD not in failed.stderr + failed.stdout
    assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) <= 3
    closed = monitor(project, {}, "report", "--ledger", url(1, database))
    assert closed.returncode == 2 and PASSWORD not in closed.stderr
    assert f"ledger postgresql+psycopg://postgres:***@127.0.0.1:1/{database}" in closed.stderr


def test_a_schema_1_ledger_on_postgres_is_upgraded(port, database, tmp_path):
    check_schema_1_upgrade(Project(tmp_path, url(port, database)))
