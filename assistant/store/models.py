"""The store's tables (SQLAlchemy 2 declarative). The schema itself is made by migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("datetimes given to the store must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Meta(Base):
    """Facts about the store itself (e.g. the content key's public fingerprint)."""

    __tablename__ = "store_meta"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ("therapist", "assistant", "trainer", "admin")), name="role"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class AssignmentRow(Base):
    """An assistant helping a therapist (sees the health, never the content, of sessions)."""

    __tablename__ = "assistant_assignments"
    assistant_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    therapist_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index(None, "therapist_id", "created_at"),
        Index(None, "shared_for_training", "created_at"),
        Index(None, "created_at"),
    )
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    label: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted
    planned_minutes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    record_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    shared_for_training: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


def _session_fk() -> Any:
    return ForeignKey("sessions.id", ondelete="CASCADE")


class ConsentRow(Base):
    """Append-only consent history: a withdrawal is a new row with ``agreed`` false."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(_in("role", ("therapist", "client")), name="role"),
        Index(None, "session_id", "role", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(_session_fk())
    role: Mapped[str] = mapped_column(String(16))
    agreed: Mapped[bool] = mapped_column(Boolean)
    consent_text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class EventRow(Base):
    """A final event; ``payload`` (the whole event, text and labels included) is encrypted."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "session_id", "utterance_id"),)
    session_id: Mapped[str] = mapped_column(_session_fk(), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(32))
    utterance_id: Mapped[str | None] = mapped_column(String(128))
    speaker: Mapped[str | None] = mapped_column(String(16))
    start: Mapped[float | None] = mapped_column(Float)
    end: Mapped[float | None] = mapped_column(Float)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CueFeedbackRow(Base):
    __tablename__ = "cue_feedback"
    __table_args__ = (
        CheckConstraint(_in("value", ("dismissed", "helpful", "not_helpful")), name="value"),
        Index(None, "session_id", "cue_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(_session_fk())
    cue_id: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class AnnotationRow(Base):
    __tablename__ = "annotations"
    __table_args__ = (
        CheckConstraint(_in("kind", ("comment", "label_correction")), name="kind"),
        Index(None, "session_id", "utterance_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(_session_fk())
    utterance_id: Mapped[str | None] = mapped_column(String(128))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted JSON
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class AudioFileRow(Base):
    __tablename__ = "audio_files"
    __table_args__ = (CheckConstraint(_in("role", ("therapist", "client")), name="role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(_session_fk(), index=True)
    role: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditRow(Base):
    """Who did what, when. Never content; kept when the session it names is deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(
            "actor_user_id IS NOT NULL OR actor_label IS NOT NULL", name="actor_present"
        ),
        Index(None, "session_id", "at"),
        Index(None, "at"),
    )
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_label: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(128))  # no FK: outlives the session
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType)


class JoinLinkRow(Base):
    """A join link's token, kept only as its SHA-256 digest, for one role of one session."""

    __tablename__ = "join_links"
    __table_args__ = (
        CheckConstraint(_in("role", ("therapist", "client")), name="role"),
        Index(None, "session_id"),
    )
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(_session_fk())
    role: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
