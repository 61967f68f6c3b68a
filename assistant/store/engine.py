"""Where the store lives (a data directory or a database URL) and its SQLAlchemy engine.

SQLite connections run in WAL mode with ``synchronous=FULL`` (a commit is on disk when it
returns), foreign keys on, ``secure_delete`` on (deleted content is overwritten), and write
transactions start with ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from assistant.store.errors import StoreError
from assistant.store.keys import make_private_dir

DB_FILE = "attune.db"
WRITE_OPTION = "attune_write"
BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved store location: the database URL and the data directory (keys, SQLite)."""

    url: URL
    data_dir: Path | None

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()


def resolve(target: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None) -> Target:
    """A data directory (SQLite ``DIR/attune.db``) or a database URL.

    ``postgresql://`` URLs use psycopg 3. A SQLite URL's data directory defaults to the
    directory of its file. Directories are created private to the service user (0700).
    """
    given_dir = Path(data_dir) if data_dir is not None else None
    text = os.fspath(target)
    if "://" not in text:
        directory = Path(text)
        make_private_dir(directory)
        db = directory / DB_FILE
        _create_private_file(db)
        return Target(URL.create("sqlite+pysqlite", database=str(db)), given_dir or directory)
    url = make_url(text)
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise StoreError(
                "the SQLite store needs a file: give a data directory or sqlite:///PATH"
            )
        db = Path(url.database)
        make_private_dir(db.parent)
        _create_private_file(db)
        given_dir = given_dir or db.parent
    else:
        raise StoreError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    if given_dir is not None:
        make_private_dir(given_dir)
    return Target(url, given_dir)


def _create_private_file(path: Path) -> None:
    """Create an empty database file readable by the owner only (SQLite copies its mode to
    the -wal and -shm files)."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)


def _sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cur = dbapi_connection.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"SQLite refused WAL mode (journal_mode={mode})")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA secure_delete = ON")
    finally:
        cur.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: URL) -> Engine:
    """The engine for ``url``; use ``engine.execution_options(attune_write=True)`` to write."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_S}, pool_size=8, max_overflow=8
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)


def writer(engine: Engine) -> Engine:
    """The same engine (same pool), marked so SQLite starts its transactions for writing."""
    return engine.execution_options(**{WRITE_OPTION: True})
