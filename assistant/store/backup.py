"""Online backup of a running SQLite store (PostgreSQL: use pg_dump, see docs/store.md).

The copy is one consistent snapshot, taken with SQLite's online backup API while other
connections keep writing (WAL mode: readers do not block writers). The content key is NOT
in the copy: back up ``DATA/keys/content.key`` separately; without it the copy is unreadable.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from assistant.store.errors import BackupNotSupportedError, StoreError
from assistant.store.sql import SqlStore


def backup(store: SqlStore, dest_path: str | os.PathLike[str]) -> Path:
    """Write a consistent copy of the SQLite database to ``dest_path`` (0600, replaced
    atomically) and check it; returns the path."""
    if store.backend != "sqlite":
        raise BackupNotSupportedError(
            f"backup() copies SQLite stores only; back up PostgreSQL with its own tools, e.g. "
            f"`pg_dump --format=custom --file=attune.dump DBNAME` (store: {store.backend})"
        )
    dest = Path(dest_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    raw = store.engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)  # all pages in one step: one read snapshot
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            result = [row[0] for row in target.execute("PRAGMA integrity_check")]
        finally:
            target.close()
    finally:
        raw.close()
    if result != ["ok"]:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"the backup failed its integrity check: {result[:5]}")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dest)
    dir_fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return dest
