"""The SQLAlchemy store: one implementation for SQLite (one file) and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from assistant.store import migrate
from assistant.store.crypto import ContentCipher
from assistant.store.engine import Target, make_engine, resolve, writer
from assistant.store.keys import load_key
from assistant.store.models import Meta
from assistant.store.sql_admin import AdminMixin
from assistant.store.sql_content import ContentMixin
from assistant.store.sql_links import LinksMixin
from assistant.store.sql_sessions import SessionsMixin
from assistant.store.sql_users import UsersMixin

KEY_ID_META = "content_key_id"


class SqlStore(UsersMixin, SessionsMixin, LinksMixin, ContentMixin, AdminMixin):
    """Session records on SQLite or PostgreSQL. Open it with :func:`open_store`.

    Every method is synchronous and thread-safe (call it from ``asyncio.to_thread``); every
    write is committed when the method returns.
    """


def open_store(
    target: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    password_hasher: PasswordHasher | None = None,
) -> SqlStore:
    """Open (and migrate to head) the store at a data directory or a database URL.

    ``open_store(DIR)`` is SQLite ``DIR/attune.db`` with its key in ``DIR/keys/content.key``.
    ``open_store("postgresql://...", data_dir=DIR)`` keeps the key in DIR/keys (or give it
    in ``ATTUNE_CONTENT_KEY``). The key is created on first open of an empty database.
    """
    where: Target = resolve(target, data_dir)
    engine = make_engine(where.url)
    try:
        migrate.upgrade(engine)
        cipher = ContentCipher(_key_for(engine, where.data_dir))
    except BaseException:
        engine.dispose()
        raise
    return SqlStore(engine, cipher, data_dir=where.data_dir, password_hasher=password_hasher)


def _key_for(engine: Engine, data_dir: Path | None) -> bytes:
    """Load the key and check it is the key this database was written with (remembered by
    its public fingerprint in ``store_meta``; the key itself never enters the database)."""
    with writer(engine).connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":  # first opens by several relays agree on one key
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": migrate.PG_LOCK})
        s = Session(conn)
        meta = s.get(Meta, KEY_ID_META)
        key = load_key(data_dir, meta.value if meta else None)
        if meta is None:
            s.add(Meta(name=KEY_ID_META, value=ContentCipher(key).key_id))
            s.flush()
        s.close()
    return key
