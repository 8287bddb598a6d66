"""A throw-away PostgreSQL cluster for the test session: `initdb` in a temporary folder, `pg_ctl` on a free
loopback port, stopped and deleted at the end. As root the server runs as the `postgres` user (initdb refuses
root). Each test gets its own empty schema in one database, which is much cheaper than a database per test.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa

DATABASE = "fundflow_test"
# Developers without PostgreSQL may turn its runs off; `make test` and CI never do (see tests/conftest.py).
OPT_OUT_VARIABLE = "FUNDFLOW_TEST_POSTGRES"


class PostgresUnavailable(RuntimeError):
    """The cluster could not be set up; the message says what to install or what the server logged."""


def postgres_bin() -> Path:
    """The newest installed server's binaries (Debian keeps them in /usr/lib/postgresql/<version>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise PostgresUnavailable(
        "PostgreSQL server not installed: run `bash scripts/setup_postgres.sh` (as root), or set "
        f"{OPT_OUT_VARIABLE}=0 to run the case-store tests on SQLite only"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """One running server; `new_schema_url()` hands out a fresh, empty schema per call."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.as_postgres = os.geteuid() == 0
        self.folder = Path(
            tempfile.mkdtemp(prefix="fundflow-pg-", dir=self._scratch_root() if self.as_postgres else None)
        )
        self.data = self.folder / "data"
        self.port = 0
        self.schemas = 0
        self.admin: sa.engine.Connection | None = None  # autocommit, on the test database

    @staticmethod
    def _scratch_root() -> str:
        """As root, TMPDIR only if it is open to all like /tmp (sticky, world-writable: /dev/shm is): the postgres
        user must be able to reach the folder."""
        root = tempfile.gettempdir()
        return root if os.stat(root).st_mode & 0o1777 == 0o1777 else "/tmp"

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        argv = [str(self.bin / command[0]), *command[1:]]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{' '.join(command[:2])} failed:\n{done.stdout}{done.stderr}{tail}")
        return done

    def start(self) -> Cluster:
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        # --no-sync and fsync=off: a cluster that lives for one test session needs no durability
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-N")
        for attempt in range(3):
            self.port = _free_port()
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run(
                    "pg_ctl",
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.folder / "server.log"),
                    "-o",
                    options,
                )
                break
            except PostgresUnavailable:
                if attempt == 2:
                    raise
        engine = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
        self.admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool).connect()
        return self

    def url(self, database: str = DATABASE, schema: str | None = None) -> str:
        found = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"
        return f"{found}?options=-csearch_path%3D{schema}" if schema else found

    def new_database(self, name: str) -> str:
        """An empty database of its own (for tests that need a whole database, e.g. copying a store)."""
        self.admin.exec_driver_sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def new_schema_url(self) -> str:
        """The URL of a new, empty schema: the store opened on it migrates from nothing, as a new office's does."""
        self.schemas += 1
        schema = f"test_{self.schemas}"
        self.admin.exec_driver_sql(f"CREATE SCHEMA {schema}")
        return self.url(schema=schema)

    def client(self, program: str, *args: str) -> None:
        """Run a client program (pg_dump, pg_restore …) against this server as its superuser."""
        argv = [str(self.bin / program), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"{program} failed: {done.stderr}")

    def stop(self) -> None:
        if self.admin is not None:
            self.admin.close()
            self.admin.engine.dispose()
        if self.port:
            try:
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
            except PostgresUnavailable:
                pass  # already gone; the folder is removed all the same
        shutil.rmtree(self.folder, ignore_errors=True)
