"""Sessions and their append-only consent history."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from assistant.store.errors import AlreadyExistsError
from assistant.store.models import AssignmentRow, ConsentRow, SessionRow
from assistant.store.records import PARTIES, Consent, Party, SessionRecord
from assistant.store.sql_base import SqlBase, one_of, utc_now


class SessionsMixin(SqlBase):
    """Sessions and consents."""

    # -- sessions ----------------------------------------------------------------------------

    def _session(self, row: SessionRow) -> SessionRecord:
        return SessionRecord(
            id=row.id,
            therapist_id=row.therapist_id,
            label=self._cipher.decrypt_text(row.label, f"session-label|{row.id}"),
            planned_minutes=row.planned_minutes,
            created_at=row.created_at,
            ended_at=row.ended_at,
            record_audio=row.record_audio,
            shared_for_training=row.shared_for_training,
        )

    def create_session(
        self,
        therapist_id: int,
        *,
        session_id: str | None = None,
        label: str = "",
        planned_minutes: int | None = None,
        record_audio: bool = False,
        created_at: datetime | None = None,
    ) -> SessionRecord:
        sid = session_id if session_id is not None else secrets.token_urlsafe(12)
        if not sid or len(sid) > 128:
            raise ValueError("a session id must be 1 to 128 characters")
        row = SessionRow(
            id=sid,
            therapist_id=therapist_id,
            label=self._cipher.encrypt_text(label, f"session-label|{sid}"),
            planned_minutes=planned_minutes,
            created_at=created_at or utc_now(),
            ended_at=None,
            record_audio=record_audio,
            shared_for_training=False,
            last_seq=0,
        )
        try:
            with self._writing() as s:
                self._need_role(s, therapist_id, "therapist")
                s.add(row)
                s.flush()
                return self._session(row)
        except IntegrityError:
            raise AlreadyExistsError(f"the session id {sid!r} is taken") from None

    def get_session(self, session_id: str) -> SessionRecord | None:
        with self._reading() as s:
            row = s.get(SessionRow, session_id)
            return None if row is None else self._session(row)

    def _sessions(self, where: Any) -> list[SessionRecord]:
        query = select(SessionRow).where(where).order_by(SessionRow.created_at.desc())
        with self._reading() as s:
            return [self._session(r) for r in s.scalars(query)]

    def sessions_for_therapist(self, therapist_id: int) -> list[SessionRecord]:
        return self._sessions(SessionRow.therapist_id == therapist_id)

    def sessions_for_assistant(self, assistant_id: int) -> list[SessionRecord]:
        """Sessions of every therapist the assistant is assigned to."""
        mine = select(AssignmentRow.therapist_id).where(AssignmentRow.assistant_id == assistant_id)
        return self._sessions(SessionRow.therapist_id.in_(mine))

    def sessions_shared_for_training(self) -> list[SessionRecord]:
        return self._sessions(SessionRow.shared_for_training.is_(True))

    def end_session(self, session_id: str, at: datetime | None = None) -> SessionRecord:
        """Mark the session ended (the first end time is kept)."""
        with self._writing() as s:
            row = self._need_session(s, session_id)
            if row.ended_at is None:
                row.ended_at = at or utc_now()
            return self._session(row)

    def set_shared_for_training(self, session_id: str, shared: bool) -> None:
        with self._writing() as s:
            self._need_session(s, session_id).shared_for_training = shared

    # -- consents ----------------------------------------------------------------------------

    @staticmethod
    def _consent(row: ConsentRow) -> Consent:
        return Consent(
            row.id, row.session_id, cast(Party, row.role), row.agreed, row.consent_text, row.at
        )

    def record_consent(
        self,
        session_id: str,
        role: Party,
        agreed: bool,
        consent_text: str,
        at: datetime | None = None,
    ) -> Consent:
        """Append to the consent history (a withdrawal is a new row with ``agreed`` false)."""
        row = ConsentRow(
            session_id=session_id,
            role=one_of(role, PARTIES, "role"),
            agreed=agreed,
            consent_text=consent_text,
            at=at or utc_now(),
        )
        with self._writing() as s:
            self._need_session(s, session_id)
            s.add(row)
            s.flush()
            return self._consent(row)

    def consent_history(self, session_id: str) -> list[Consent]:
        query = select(ConsentRow).where(ConsentRow.session_id == session_id)
        with self._reading() as s:
            return [self._consent(r) for r in s.scalars(query.order_by(ConsentRow.id))]

    def current_consent(self, session_id: str) -> dict[Party, Consent | None]:
        """The latest consent row of each party (None: never asked)."""
        state: dict[Party, Consent | None] = dict.fromkeys(PARTIES, None)
        for c in self.consent_history(session_id):
            state[c.role] = c
        return state
