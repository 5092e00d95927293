"""Throwaway PostgreSQL servers on 127.0.0.1 for the tests that need a real one.

The server comes from Debian's `postgresql` package (`make test` installs it when missing);
initdb refuses to run as root, so as root the server runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))),
                                       None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} not found: run `make postgres` (Debian's "
                           "postgresql package)")
    return found


def as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def server(database: str, password: str | None = None) -> Iterator[int]:
    """A server with `database`, yielding its port. With `password`, TCP connections of the
    `postgres` user need it (scram-sha-256); without, they are trusted."""
    home = Path(tempfile.mkdtemp(prefix="cryptocast-pg-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    data = home / "data"
    run = lambda cmd: subprocess.run(as_server_user(cmd), check=True, capture_output=True)  # noqa: E731
    auth = ["-A", "trust"]
    if password is not None:
        secret = home / "pw"
        secret.write_text(password)
        if os.geteuid() == 0:
            shutil.chown(secret, "postgres", "postgres")
        auth = ["--auth-local", "trust", "--auth-host", "scram-sha-256", f"--pwfile={secret}"]
    run([pg_bin("initdb"), "-D", str(data), *auth, "-U", "postgres"])
    run([pg_bin("pg_ctl"), "-D", str(data), "-l", str(home / "log"), "-w", "-o",
         f"-p {port} -k {home} -c listen_addresses=127.0.0.1", "start"])
    try:
        run([pg_bin("createdb"), "-h", str(home), "-p", str(port), "-U", "postgres", database])
        yield port
    finally:
        run([pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(home, ignore_errors=True)
