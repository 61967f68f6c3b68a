"""Join links of sessions (token digests only)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from assistant.store.models import JoinLinkRow
from assistant.store.records import JoinLink, Party
from assistant.store.sql_base import SqlBase, one_of


class LinksMixin(SqlBase):
    def add_join_link(
        self, session_id: str, role: Party, digest: str, expires_at: datetime
    ) -> JoinLink:
        one_of(role, ("therapist", "client"), "role")
        with self._writing() as s:
            self._need_session(s, session_id)
            s.add(
                JoinLinkRow(digest=digest, session_id=session_id, role=role, expires_at=expires_at)
            )
        return JoinLink(digest, session_id, role, expires_at)

    def find_join_link(self, digest: str) -> JoinLink | None:
        with self._reading() as s:
            row = s.get(JoinLinkRow, digest)
            if row is None:
                return None
            return JoinLink(row.digest, row.session_id, cast(Party, row.role), row.expires_at)
