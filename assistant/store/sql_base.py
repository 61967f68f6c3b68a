"""Shared parts of the SQL store: engine, cipher, transactions, small helpers."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from argon2 import PasswordHasher
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from assistant.store.audit import check_detail
from assistant.store.crypto import ContentCipher
from assistant.store.engine import writer
from assistant.store.errors import NotFoundError
from assistant.store.models import (
    AnnotationRow,
    AudioFileRow,
    AuditRow,
    ConsentRow,
    CueFeedbackRow,
    EventRow,
    SessionRow,
    UserRow,
)
from assistant.store.passwords import Passwords
from assistant.store.records import Role, User

log = logging.getLogger(__name__)
CONTENT_TABLES = (EventRow, ConsentRow, CueFeedbackRow, AnnotationRow, AudioFileRow)


def utc_now() -> datetime:
    return datetime.now(UTC)


def one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def id_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class SqlBase:
    """What every part of :class:`SqlStore` shares: the engine, the cipher, transactions."""

    def __init__(
        self,
        engine: Engine,
        cipher: ContentCipher,
        *,
        data_dir: Path | None = None,
        password_hasher: PasswordHasher | None = None,
    ) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self._cipher = cipher
        self._passwords = Passwords(password_hasher)
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._read.begin() as s:
            yield s

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._write.begin() as s:
            yield s

    @staticmethod
    def _user(row: UserRow) -> User:
        return User(row.id, row.username, cast(Role, row.role), row.created_at, row.disabled)

    @staticmethod
    def _need_role(s: Session, user_id: int, role: Role) -> UserRow:
        row = s.get(UserRow, user_id)
        if row is None:
            raise NotFoundError(f"no user {user_id}")
        if row.role != role:
            raise ValueError(f"user {row.username!r} is a {row.role}, not a {role}")
        return row

    @staticmethod
    def _need_session(s: Session, session_id: str) -> SessionRow:
        row = s.get(SessionRow, session_id)
        if row is None:
            raise NotFoundError(f"no session {session_id!r}")
        return row

    @staticmethod
    def _audit_row(
        actor: int | str, action: str, session_id: str | None, detail: Mapping[str, Any] | None
    ) -> AuditRow:
        if not action:
            raise ValueError("an audit entry needs an action")
        clean = check_detail(detail or {})
        if isinstance(actor, bool) or not isinstance(actor, int | str) or actor == "":
            raise ValueError("the actor is a user id or a role label such as 'client'")
        return AuditRow(
            at=utc_now(),
            actor_user_id=actor if isinstance(actor, int) else None,
            actor_label=actor if isinstance(actor, str) else None,
            action=action,
            session_id=session_id,
            detail=clean,
        )
