"""backup() copies a running SQLite store consistently; PostgreSQL points to pg_dump."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from assistant.store import BackupNotSupportedError, backup, open_store
from assistant.store.sql import SqlStore
from tests.store.conftest import FAST_HASHER, Target
from tests.store.helpers import utterance


def test_backup_while_writes_continue(target: Target, store: SqlStore, tmp_path: Path) -> None:
    t = store.add_user("t", "therapist", "pw")
    s = store.create_session(t.id)
    store.append_event(s.id, utterance(s.id, "c0"))
    if target.backend != "sqlite":
        with pytest.raises(BackupNotSupportedError, match="pg_dump"):
            backup(store, tmp_path / "copy.db")
        return
    writer = target.open()  # writes through its own connections, as the live room would
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_writing() -> None:
        i = 1
        try:
            while not stop.is_set():
                writer.append_event(s.id, utterance(s.id, f"c{i}"))
                i += 1
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=keep_writing)
    thread.start()
    copies: list[Path] = []
    try:
        for n in range(3):
            while len(store.events(s.id)) < 10 * (n + 1):
                stop.wait(0.01)
            dest = tmp_path / f"backup{n}" / "attune.db"
            assert backup(store, dest) == dest
            copies.append(dest)
    finally:
        stop.set()
        thread.join(timeout=30)
        writer.close()
    assert not errors, errors
    total = len(store.events(s.id))
    counts = []
    for dest in copies:
        assert dest.stat().st_mode & 0o077 == 0
        shutil.copytree(target.data_dir / "keys", dest.parent / "keys")  # key kept apart
        with open_store(dest.parent, password_hasher=FAST_HASHER) as copy:
            assert copy.integrity_check() == []
            ids = [e["id"] for e in copy.events(s.id)]
        assert ids == [f"c{i}" for i in range(len(ids))]  # a prefix: no gaps, no torn writes
        counts.append(len(ids))
    assert counts == sorted(counts) and 10 <= counts[0] and counts[-1] <= total
