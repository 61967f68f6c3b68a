"""Migrations make the schema on an empty database, are idempotent, and match the models."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from assistant.store import ContentKeyError, Store, StoreError, migrate
from assistant.store.engine import resolve
from assistant.store.keys import load_key
from assistant.store.models import Base
from assistant.store.sql import SqlStore
from tests.store.conftest import Target

TABLES = {
    "alembic_version",
    "store_meta",
    "users",
    "assistant_assignments",
    "sessions",
    "consents",
    "events",
    "cue_feedback",
    "annotations",
    "audio_files",
    "audit_log",
    "join_links",
}


def test_migrations_on_empty_database_and_idempotent(target: Target) -> None:
    first = target.open()
    try:
        assert set(inspect(first.engine).get_table_names()) == TABLES
        with first.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diffs == [], f"models and migrations differ: {diffs}"
        t = first.add_user("t", "therapist", "pw")
        first.create_session(t.id, session_id="s1")
        migrate.upgrade(first.engine)  # again: a no-op
    finally:
        first.close()
    again = target.open()  # opening migrates again: a no-op that keeps the data
    try:
        assert again.get_session("s1") is not None
        assert again.integrity_check() == []
    finally:
        again.close()


def test_sqlite_settings_and_private_files(target: Target, store: SqlStore) -> None:
    implements: Store = store  # SqlStore satisfies the Store protocol (checked by mypy)
    assert isinstance(implements, Store)
    assert stat.S_IMODE(target.data_dir.stat().st_mode) == 0o700
    key = target.data_dir / "keys" / "content.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    if target.backend != "sqlite":
        return
    assert stat.S_IMODE((target.data_dir / "attune.db").stat().st_mode) == 0o600
    with store.engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "secure_delete")
        }
        conn.rollback()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "secure_delete": 1,
    }


def test_integrity_check_is_clean(store: SqlStore) -> None:
    t = store.add_user("t", "therapist", "pw")
    s = store.create_session(t.id)
    store.append_event(s.id, {"type": "notice", "session": s.id, "at": 0.0, "code": "x"})
    assert store.integrity_check() == []


def test_locations(tmp_path: Path) -> None:
    pg = resolve("postgresql://attune@/attune?host=/run/postgresql", None)
    assert pg.url.drivername == "postgresql+psycopg" and pg.data_dir is None
    lite = resolve(f"sqlite:///{tmp_path / 'db' / 'x.db'}", None)
    assert lite.data_dir == tmp_path / "db" and (tmp_path / "db" / "x.db").exists()
    for bad in ("mysql://u@h/db", "sqlite://", "sqlite:///:memory:"):
        with pytest.raises(StoreError):
            resolve(bad, None)
    with pytest.raises(ContentKeyError, match="ATTUNE_CONTENT_KEY"):
        load_key(None, None)  # PostgreSQL without a data directory or a key in the env
