"""Database URLs without credentials in files: a URL in params or on a command line can be
`env:NAME` (the URL is read from that environment variable), and a PostgreSQL URL without a
password takes it from libpq's password file (~/.pgpass or PGPASSFILE). Every message shows
URLs with the password hidden."""

from __future__ import annotations

import os

import sqlalchemy


def resolve_url(value: str, what: str) -> str:
    """The database URL `value` names: itself, or for `env:NAME` the variable NAME's value.
    `what` names the setting in errors ("params monitor.ledger")."""
    if not value.startswith("env:"):
        return value
    name = value.removeprefix("env:")
    url = os.environ.get(name)
    if not url:
        raise ValueError(f"{what}: environment variable {name} is not set")
    return url


def redacted(url: str) -> str:
    """A database URL with its password hidden (for messages and records)."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "<not a database URL>"


def first_line(err: BaseException, url: str) -> str:
    """The first line of a database error, with the URL's password (if any) hidden."""
    reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
    password = _password(url)
    return reason.replace(password, "***") if password else reason


def _password(url: str) -> str | None:
    try:
        return sqlalchemy.engine.make_url(url).password
    except sqlalchemy.exc.ArgumentError:
        return None
