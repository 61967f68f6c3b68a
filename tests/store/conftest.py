"""Fixtures: every store test runs on a real SQLite file and on a real PostgreSQL server.

PostgreSQL is a throwaway cluster started once per test run from Debian's binaries
(``/usr/lib/postgresql/*/bin``; ``apt-get install postgresql``). As root, initdb and pg_ctl
run as the ``postgres`` OS user. The server listens on a unix socket in its temporary
directory and on a free port of 127.0.0.1 only. Missing binaries FAIL the tests: they are
never skipped.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg import sql

from assistant.store.keys import KEY_ENV
from assistant.store.sql import SqlStore, open_store

# Cheap hashing for tests only (production uses argon2-cffi's defaults).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
BACKENDS = ["sqlite", "postgresql"]


@dataclass(frozen=True)
class PgServer:
    base: Path
    data: Path
    port: int
    bindir: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://attune@/{database}?host={self.base}&port={self.port}"


@dataclass(frozen=True)
class Target:
    """Where a test's store lives: ``open_store(target, data_dir=data_dir)``."""

    backend: str
    target: str
    data_dir: Path
    pg: PgServer | None = None
    database: str | None = None

    def open(self) -> SqlStore:
        return open_store(self.target, data_dir=self.data_dir, password_hasher=FAST_HASHER)


def _pg_bindir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[3]) if Path(p).parts[3].isdigit() else 0,
    )
    if not found:
        pytest.fail(
            "PostgreSQL server binaries are missing (no /usr/lib/postgresql/*/bin/initdb): "
            "install them with `apt-get install -y postgresql`; the store tests need them",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = _pg_bindir()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="attune-pg-"))
    if as_root:  # initdb refuses to run as root
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            pytest.fail(
                "running as root needs the `postgres` OS user (apt-get install "
                "postgresql creates it) to start the test cluster",
                pytrace=False,
            )
        os.chown(base, pg.pw_uid, pg.pw_gid)
    data = base / "data"
    log = base / "server.log"
    port = _free_port()

    def run(*cmd: str) -> None:
        done = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{cmd[0]} failed:\n{done.stdout}\n{done.stderr}\n{tail}", pytrace=False)

    started = False
    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "attune",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--no-locale",
        )
        # fsync off only makes this throwaway cluster fast: what the tests check (a commit
        # survives the client being killed) does not depend on it.
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        started = True
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )
        yield PgServer(base, data, port, bindir)
    finally:
        if started:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(base, ignore_errors=True)


_db_numbers = itertools.count(1)


def create_database(server: PgServer) -> str:
    name = f"attune_t{next(_db_numbers)}"
    with psycopg.connect(
        host=str(server.base), port=server.port, user="attune", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        return Target("sqlite", str(data_dir), data_dir)
    server: PgServer = request.getfixturevalue("pg_server")
    name = create_database(server)
    return Target("postgresql", server.url(name), data_dir, server, name)


@pytest.fixture
def store(target: Target) -> Iterator[SqlStore]:
    opened = target.open()
    try:
        yield opened
    finally:
        opened.close()
