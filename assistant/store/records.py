"""Plain, immutable records the store returns (never ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Role = Literal["therapist", "assistant", "trainer", "admin"]
ROLES: tuple[Role, ...] = ("therapist", "assistant", "trainer", "admin")
Party = Literal["therapist", "client"]
PARTIES: tuple[Party, ...] = ("therapist", "client")
FeedbackValue = Literal["dismissed", "helpful", "not_helpful"]
FEEDBACK_VALUES: tuple[FeedbackValue, ...] = ("dismissed", "helpful", "not_helpful")
AnnotationKind = Literal["comment", "label_correction"]
ANNOTATION_KINDS: tuple[AnnotationKind, ...] = ("comment", "label_correction")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    created_at: datetime
    disabled: bool


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    therapist_id: int
    label: str
    planned_minutes: int | None
    created_at: datetime
    ended_at: datetime | None
    record_audio: bool
    shared_for_training: bool


@dataclass(frozen=True, slots=True)
class Consent:
    id: int
    session_id: str
    role: Party
    agreed: bool
    consent_text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CueFeedback:
    id: int
    session_id: str
    cue_id: str
    value: FeedbackValue
    user_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Annotation:
    id: int
    session_id: str
    utterance_id: str | None
    author_id: int
    kind: AnnotationKind
    body: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class AudioFile:
    id: int
    session_id: str
    role: Party
    path: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor_user_id: int | None
    actor_label: str | None
    action: str
    session_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class JoinLink:
    digest: str
    session_id: str
    role: Party
    expires_at: datetime
