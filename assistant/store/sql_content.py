"""Session content: final events (encrypted), cue feedback, annotations, audio files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from sqlalchemy import select, update

from assistant.store.errors import NotFoundError
from assistant.store.models import (
    AnnotationRow,
    AudioFileRow,
    CueFeedbackRow,
    EventRow,
    SessionRow,
    UserRow,
)
from assistant.store.records import (
    ANNOTATION_KINDS,
    FEEDBACK_VALUES,
    PARTIES,
    Annotation,
    AnnotationKind,
    AudioFile,
    CueFeedback,
    FeedbackValue,
    Party,
)
from assistant.store.sql_base import SqlBase, id_or_none, number_or_none, one_of, utc_now


class ContentMixin(SqlBase):
    """Events, cue feedback, annotations and audio file records."""

    # -- events ------------------------------------------------------------------------------

    def append_event(self, session_id: str, event: Mapping[str, Any]) -> int:
        """Store one final event, encrypted; committed (durable) when this returns.

        Returns the event's sequence number in its session (1, 2, ...).
        """
        kind = event.get("type")
        if not isinstance(kind, str) or not kind:
            raise ValueError("an event needs a string 'type'")
        if event.get("session", session_id) != session_id:
            raise ValueError(f"event of session {event.get('session')!r} given for {session_id!r}")
        if kind == "utterance" and event.get("final") is False:
            raise ValueError("only final utterances are stored, not interim ones")
        uid = event.get("id") if kind == "utterance" else event.get("utterance_id")
        speaker = event.get("speaker")
        with self._writing() as s:
            seq = s.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(last_seq=SessionRow.last_seq + 1)
                .returning(SessionRow.last_seq),
                execution_options={"synchronize_session": False},
            ).scalar_one_or_none()
            if seq is None:
                raise NotFoundError(f"no session {session_id!r}")
            s.add(
                EventRow(
                    session_id=session_id,
                    seq=seq,
                    type=kind,
                    utterance_id=id_or_none(uid),
                    speaker=speaker if isinstance(speaker, str) else None,
                    start=number_or_none(event.get("start")),
                    end=number_or_none(event.get("end")),
                    payload=self._cipher.encrypt_json(dict(event), f"event|{session_id}|{seq}"),
                    created_at=utc_now(),
                )
            )
        return seq

    def events(self, session_id: str, after_seq: int = 0) -> list[dict[str, Any]]:
        """The session's stored events, decrypted, in the order they were appended."""
        query = (
            select(EventRow.seq, EventRow.payload)
            .where(EventRow.session_id == session_id, EventRow.seq > after_seq)
            .order_by(EventRow.seq)
        )
        with self._reading() as s:
            self._need_session(s, session_id)
            rows = s.execute(query).all()
        out: list[dict[str, Any]] = []
        for seq, payload in rows:
            out.append(self._cipher.decrypt_json(payload, f"event|{session_id}|{seq}"))
        return out

    # -- cue feedback, annotations, audio ----------------------------------------------------

    def record_cue_feedback(
        self, session_id: str, cue_id: str, value: FeedbackValue, user_id: int | None = None
    ) -> CueFeedback:
        row = CueFeedbackRow(
            session_id=session_id,
            cue_id=str(cue_id),
            value=one_of(value, FEEDBACK_VALUES, "feedback"),
            user_id=user_id,
            at=utc_now(),
        )
        with self._writing() as s:
            self._need_session(s, session_id)
            s.add(row)
            s.flush()
            return CueFeedback(row.id, row.session_id, row.cue_id, value, row.user_id, row.at)

    def cue_feedback(self, session_id: str) -> list[CueFeedback]:
        query = select(CueFeedbackRow).where(CueFeedbackRow.session_id == session_id)
        with self._reading() as s:
            return [
                CueFeedback(
                    r.id, r.session_id, r.cue_id, cast(FeedbackValue, r.value), r.user_id, r.at
                )
                for r in s.scalars(query.order_by(CueFeedbackRow.id))
            ]

    @staticmethod
    def _annotation_aad(session_id: str, author_id: int, kind: str, uid: str | None) -> str:
        return f"annotation|{session_id}|{author_id}|{kind}|{uid}"

    def add_annotation(
        self,
        session_id: str,
        author_id: int,
        kind: AnnotationKind,
        body: Mapping[str, Any],
        utterance_id: str | int | None = None,
    ) -> Annotation:
        """A trainer's comment or label correction; events are never changed by it."""
        one_of(kind, ANNOTATION_KINDS, "annotation kind")
        uid = id_or_none(utterance_id)
        aad = self._annotation_aad(session_id, author_id, kind, uid)
        row = AnnotationRow(
            session_id=session_id,
            utterance_id=uid,
            author_id=author_id,
            kind=kind,
            body=self._cipher.encrypt_json(dict(body), aad),
            at=utc_now(),
        )
        with self._writing() as s:
            self._need_session(s, session_id)
            if s.get(UserRow, author_id) is None:
                raise NotFoundError(f"no user {author_id}")
            s.add(row)
            s.flush()
            return Annotation(row.id, session_id, uid, author_id, kind, dict(body), row.at)

    def annotations(self, session_id: str) -> list[Annotation]:
        query = select(AnnotationRow).where(AnnotationRow.session_id == session_id)
        with self._reading() as s:
            rows = list(s.scalars(query.order_by(AnnotationRow.id)))
        return [
            Annotation(
                r.id,
                r.session_id,
                r.utterance_id,
                r.author_id,
                cast(AnnotationKind, r.kind),
                self._cipher.decrypt_json(
                    r.body, self._annotation_aad(r.session_id, r.author_id, r.kind, r.utterance_id)
                ),
                r.at,
            )
            for r in rows
        ]

    def add_audio_file(
        self, session_id: str, role: Party, path: str | os.PathLike[str]
    ) -> AudioFile:
        row = AudioFileRow(
            session_id=session_id,
            role=one_of(role, PARTIES, "role"),
            path=os.path.abspath(path),
            created_at=utc_now(),
        )
        with self._writing() as s:
            self._need_session(s, session_id)
            s.add(row)
            s.flush()
            return AudioFile(row.id, session_id, role, row.path, row.created_at)

    def audio_files(self, session_id: str) -> list[AudioFile]:
        query = select(AudioFileRow).where(AudioFileRow.session_id == session_id)
        with self._reading() as s:
            return [
                AudioFile(r.id, r.session_id, cast(Party, r.role), r.path, r.created_at)
                for r in s.scalars(query.order_by(AudioFileRow.id))
            ]

    # -- recorded audio at rest ---------------------------------------------------------------

    def seal_file(self, path: str, aad: str) -> None:
        """Encrypt a finished recording in place (idempotent: a sealed file stays as it is)."""
        from assistant.files import write_atomically

        target = Path(path)
        data = target.read_bytes()
        if data.startswith(self._cipher.magic):
            return
        write_atomically(target, self._cipher.encrypt(data, aad))

    def open_sealed(self, path: str, aad: str) -> bytes:
        """A recording's bytes: decrypted, or as they are while it is still being written."""
        data = Path(path).read_bytes()
        if not data.startswith(self._cipher.magic):
            return data
        return self._cipher.decrypt(data, aad)
