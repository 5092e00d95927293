"""The forecast ledger: an append-only record of what the production configs predicted and how
each forecast scored, in any SQLAlchemy database (a SQLite file, or PostgreSQL for a team).

Tables: `ledger_meta` (the schema version; a schema-1 ledger is upgraded in place, its
earlier forecasts' machine unknown), `configs` (each production config per symbol and
objective, from the first candle it forecast: a switch is a new row), `forecasts` (one per
symbol, objective and target candle: the samples and their provenance) and `scores` (one per
forecast once its candle has closed). Rows are only ever inserted: a unique key per forecast
and per score, inserted with ON CONFLICT DO NOTHING inside one transaction per batch, so a
rerun adds nothing, two concurrent updates never write a forecast twice, and an update killed
midway leaves no partial batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from cryptocast.database import first_line, redacted

SCHEMA_VERSION = 2  # 2: forecasts.machine
SCHEMA_LOCK = 0x63727970746F  # PostgreSQL advisory lock taken while the schema is checked

META = sa.MetaData()
LEDGER_META = sa.Table(
    "ledger_meta", META,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)
CONFIGS = sa.Table(
    "configs", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("objective", sa.String(16), nullable=False),
    sa.Column("config_sha", sa.String(64), nullable=False),
    sa.Column("chosen", sa.String(128), nullable=False),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("first_target", sa.DateTime, nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("symbol", "objective", "config_sha", "first_target"),
)
FORECASTS = sa.Table(
    "forecasts", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("interval", sa.String(8), nullable=False),
    sa.Column("objective", sa.String(16), nullable=False),
    sa.Column("target", sa.DateTime, nullable=False),  # open time of the forecast candle
    sa.Column("config_id", sa.Integer, sa.ForeignKey("configs.id"), nullable=False),
    sa.Column("last_close", sa.Float(precision=53), nullable=False),
    sa.Column("point", sa.Float(precision=53), nullable=False),
    sa.Column("samples", sa.LargeBinary, nullable=True),  # float64 bytes, None for a point
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("data_sha", sa.String(64), nullable=False),
    sa.Column("checkpoint_sha", sa.String(64), nullable=False),
    sa.Column("code_version", sa.String(96), nullable=False),
    sa.Column("threads", sa.Integer, nullable=False),
    sa.Column("machine", sa.String(128), nullable=True),  # runtime.machine(); None: unknown
    sa.Column("latency_s", sa.Float(precision=53), nullable=False),
    sa.Column("made_at", sa.DateTime, nullable=False),
    sa.Column("forward", sa.Boolean, nullable=False),  # made before the candle closed
    sa.UniqueConstraint("symbol", "interval", "objective", "target"),
)
SCORES = sa.Table(
    "scores", META,
    sa.Column("forecast_id", sa.Integer, sa.ForeignKey("forecasts.id"), primary_key=True),
    sa.Column("actual_close", sa.Float(precision=53), nullable=False),
    sa.Column("abs_error", sa.Float(precision=53), nullable=False),
    sa.Column("naive_abs_error", sa.Float(precision=53), nullable=False),
    sa.Column("crps", sa.Float(precision=53), nullable=True),
    sa.Column("in_80", sa.Boolean, nullable=True),
    sa.Column("in_95", sa.Boolean, nullable=True),
    sa.Column("var95_hit", sa.Boolean, nullable=True),
    sa.Column("var99_hit", sa.Boolean, nullable=True),
    sa.Column("pit", sa.Float(precision=53), nullable=True),
    sa.Column("scored_at", sa.DateTime, nullable=False),
)


def _engine(url: str, busy_timeout_s: float) -> sa.Engine:
    """An engine whose transactions take the write lock when they begin on SQLite (BEGIN
    IMMEDIATE: a transaction that reads and then writes could otherwise fail at once, without
    waiting, when another process writes), waiting up to `busy_timeout_s` for it."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url)
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s})

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class LedgerError(ValueError):
    """A ledger that cannot be used: one line naming it (password hidden)."""


class Ledger:
    """An open ledger. `url`: an SQLAlchemy URL (sqlite:///path.db, postgresql+psycopg://...);
    `busy_timeout_s`: how long a SQLite writer waits for another's lock."""

    def __init__(self, url: str, busy_timeout_s: float = 30.0) -> None:
        self.name = redacted(url)
        self._url = url  # kept in memory only, to hide its password in driver messages
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = _engine(url, busy_timeout_s)
            with self.engine.begin() as conn:
                self._check_or_create(conn)
        except sa.exc.SQLAlchemyError as err:
            raise LedgerError(f"ledger {self.name}: {first_line(err, url)}") from err
        except ImportError as err:
            raise LedgerError(f"ledger {self.name}: no database driver ({err})") from err

    def _check_or_create(self, conn: sa.Connection) -> None:
        if conn.dialect.name == "postgresql":  # two first updates must not both create tables
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        tables = set(sa.inspect(conn).get_table_names())
        ours = {t.name for t in META.sorted_tables}
        if not tables & ours:
            META.create_all(conn)
            self._insert(conn, LEDGER_META, [{"key": "schema_version",
                                              "value": str(SCHEMA_VERSION)}])
            return
        if "ledger_meta" not in tables:
            raise LedgerError(f"ledger {self.name}: holds tables {sorted(tables & ours)} but no "
                              "ledger_meta: not a cryptocast ledger")
        version = conn.execute(sa.select(LEDGER_META.c.value).where(
            LEDGER_META.c.key == "schema_version")).scalar()
        if version == "1":  # schema 2 adds the machine, unknown for the forecasts before it
            added = FORECASTS.c.machine
            conn.execute(sa.text(f"ALTER TABLE {FORECASTS.name} ADD COLUMN {added.name} "
                                 f"{added.type.compile(conn.dialect)}"))
            conn.execute(LEDGER_META.update().where(LEDGER_META.c.key == "schema_version")
                         .values(value=str(SCHEMA_VERSION)))
            version = str(SCHEMA_VERSION)
        if version != str(SCHEMA_VERSION):
            raise LedgerError(f"ledger {self.name}: schema version {version}, this cryptocast "
                              f"reads version {SCHEMA_VERSION}")
        missing = sorted(ours - tables)
        if missing:
            raise LedgerError(f"ledger {self.name}: tables {missing} are missing")

    def _insert(self, conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
        """Insert rows, skipping any whose unique key is already there."""
        if not rows:
            return
        dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(conn.dialect.name)
        if dialect is None:
            raise LedgerError(f"ledger {self.name}: {conn.dialect.name} is not supported "
                              "(SQLite or PostgreSQL)")
        conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows)

    def run(self, work) -> Any:
        """`work(conn)` in one transaction: all of it is written, or none of it."""
        try:
            with self.engine.begin() as conn:
                return work(conn)
        except sa.exc.OperationalError as err:
            raise LedgerError(f"ledger {self.name}: {first_line(err, self._url)}") from err

    def config_id(self, conn: sa.Connection, row: Mapping[str, Any]) -> int:
        """The id of the symbol's and objective's current config: the latest row when its
        `config_sha` is the same, else a new row (a switch, from `row['first_target']`)."""
        c = CONFIGS.c
        latest = conn.execute(sa.select(c.id, c.config_sha).where(
            c.symbol == row["symbol"], c.objective == row["objective"]).order_by(
            c.first_target.desc(), c.id.desc()).limit(1)).first()
        if latest is not None and latest.config_sha == row["config_sha"]:
            return latest.id
        self._insert(conn, CONFIGS, [dict(row)])
        return conn.execute(sa.select(c.id).where(
            c.symbol == row["symbol"], c.objective == row["objective"],
            c.config_sha == row["config_sha"], c.first_target == row["first_target"])).scalar_one()

    def add_forecasts(self, conn: sa.Connection, rows: Iterable[dict]) -> None:
        self._insert(conn, FORECASTS, list(rows))

    def add_scores(self, conn: sa.Connection, rows: Iterable[dict]) -> None:
        self._insert(conn, SCORES, list(rows))

    def last_target(self, symbol: str, interval: str, objective: str) -> pd.Timestamp | None:
        f = FORECASTS.c
        value = self.run(lambda conn: conn.execute(sa.select(sa.func.max(f.target)).where(
            f.symbol == symbol, f.interval == interval, f.objective == objective)).scalar())
        return None if value is None else pd.Timestamp(value)

    def _frame(self, query: sa.Select, columns: list[str] | None = None) -> pd.DataFrame:
        return self.run(lambda conn: pd.DataFrame(conn.execute(query).mappings().all(),
                                                  columns=columns))

    def frame(self, table: sa.Table, where=None) -> pd.DataFrame:
        """The rows of `table` (optionally filtered), ordered by its first column."""
        query = sa.select(table).order_by(*table.primary_key.columns)
        if where is not None:
            query = query.where(where)
        return self._frame(query, [c.name for c in table.columns])

    def count(self, table: sa.Table) -> int:
        """How many rows `table` holds."""
        return self.run(lambda conn: conn.execute(
            sa.select(sa.func.count()).select_from(table)).scalar_one())

    def newest_targets(self) -> pd.Series:
        """Per symbol, the latest target in the ledger (the candle open at its last update)."""
        f = FORECASTS.c
        rows = self._frame(sa.select(f.symbol, sa.func.max(f.target).label("target"))
                           .group_by(f.symbol).order_by(f.symbol), ["symbol", "target"])
        return rows.set_index("symbol")["target"]

    def unscored(self, symbol: str, interval: str) -> pd.DataFrame:
        """The symbol's forecasts without a score yet."""
        f = FORECASTS.c
        query = (sa.select(FORECASTS).outerjoin(SCORES, SCORES.c.forecast_id == f.id)
                 .where(f.symbol == symbol, f.interval == interval,
                        SCORES.c.forecast_id.is_(None)).order_by(f.id))
        return self._frame(query, [c.name for c in FORECASTS.columns])

    def scored(self) -> pd.DataFrame:
        """Every scored forecast joined with its score and its config's name."""
        query = (sa.select(FORECASTS, SCORES, CONFIGS.c.chosen, CONFIGS.c.config_sha)
                 .join(SCORES, SCORES.c.forecast_id == FORECASTS.c.id)
                 .join(CONFIGS, CONFIGS.c.id == FORECASTS.c.config_id)
                 .order_by(FORECASTS.c.symbol, FORECASTS.c.objective, FORECASTS.c.target))
        return self._frame(query)

    def dispose(self) -> None:
        self.engine.dispose()
