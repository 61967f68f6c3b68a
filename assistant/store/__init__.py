"""Attune's durable store: users and roles, sessions, consent, final events (encrypted at
rest), cue feedback, annotations, audio file records and an audit log.

``open_store(DATA_DIR)`` opens SQLite ``DATA_DIR/attune.db``; ``open_store(URL,
data_dir=DATA_DIR)`` opens PostgreSQL. Both migrate to the newest schema on open. See
docs/store.md.
"""

from __future__ import annotations

from assistant.store.backup import backup
from assistant.store.errors import (
    AlreadyExistsError,
    BackupNotSupportedError,
    ContentKeyError,
    NotFoundError,
    StoreError,
)
from assistant.store.interface import Store
from assistant.store.keys import KEY_ENV
from assistant.store.records import (
    Annotation,
    AudioFile,
    AuditEntry,
    Consent,
    CueFeedback,
    JoinLink,
    SessionRecord,
    User,
)
from assistant.store.sql import SqlStore, open_store

__all__ = [
    "KEY_ENV",
    "AlreadyExistsError",
    "Annotation",
    "AudioFile",
    "AuditEntry",
    "BackupNotSupportedError",
    "Consent",
    "ContentKeyError",
    "CueFeedback",
    "JoinLink",
    "NotFoundError",
    "SessionRecord",
    "SqlStore",
    "Store",
    "StoreError",
    "User",
    "backup",
    "open_store",
]
