"""Audit log, deletion and retention, integrity checks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text

from assistant.store import migrate
from assistant.store.models import AudioFileRow, AuditRow, SessionRow
from assistant.store.records import AuditEntry
from assistant.store.sql_base import CONTENT_TABLES, SqlBase, log, utc_now


class AdminMixin(SqlBase):
    """Audit log, deletion, retention and integrity checks."""

    # -- audit -------------------------------------------------------------------------------

    def audit(
        self,
        actor: int | str,
        action: str,
        session_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record who (a user id, or a label like ``client``/``system``) did what. Never
        content: ``detail`` must not carry text, labels or bodies."""
        row = self._audit_row(actor, action, session_id, detail)
        with self._writing() as s:
            s.add(row)

    def audit_log(
        self, session_id: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        query = select(AuditRow)
        if session_id is not None:
            query = query.where(AuditRow.session_id == session_id)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        with self._reading() as s:
            rows = s.scalars(query.order_by(AuditRow.id.desc()).limit(limit)).all()
            return [
                AuditEntry(
                    r.id,
                    r.at,
                    r.actor_user_id,
                    r.actor_label,
                    r.action,
                    r.session_id,
                    dict(r.detail),
                )
                for r in reversed(rows)
            ]

    # -- deletion and retention --------------------------------------------------------------

    def delete_session(
        self, session_id: str, actor: int | str = "system", action: str = "session.deleted"
    ) -> bool:
        """Remove the session and all its content (rows and audio files on disk).

        The audit entry (``action``) is written in the same transaction. Returns False when
        there was no such session.
        """
        with self._writing() as s:
            row = s.get(SessionRow, session_id)
            if row is None:
                return False
            paths = list(
                s.scalars(select(AudioFileRow.path).where(AudioFileRow.session_id == session_id))
            )
            counts: dict[str, int] = {}
            for table in CONTENT_TABLES:
                done = s.execute(delete(table).where(table.session_id == session_id))
                counts[table.__tablename__] = int(done.rowcount)  # type: ignore[attr-defined]
            s.delete(row)
            s.add(self._audit_row(actor, action, session_id, {"removed": counts}))
        failed = self._remove_files(paths)
        if failed:
            self.audit(actor, "audio.remove_failed", session_id, {"files": len(failed)})
        if self.backend == "sqlite":
            self._checkpoint()
        return True

    @staticmethod
    def _remove_files(paths: list[str]) -> list[str]:
        failed = []
        for path in paths:
            try:
                Path(path).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not remove audio file %s: %s", path, exc)
                failed.append(path)
        return failed

    def _checkpoint(self) -> None:
        """Move overwritten (secure_delete) pages from the WAL into the file, drop the WAL."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.rollback()
        except Exception as exc:  # best effort: the next checkpoint does it
            log.warning("SQLite checkpoint after a deletion failed: %s", exc)

    def purge(
        self, older_than: timedelta, actor: int | str = "system", now: datetime | None = None
    ) -> list[str]:
        """Delete every session that ended (or, never ended, began) before ``now -
        older_than``; returns their ids. Each gets a ``session.purged`` audit entry."""
        cutoff = (now or utc_now()) - older_than
        since = func.coalesce(SessionRow.ended_at, SessionRow.created_at)
        with self._reading() as s:
            ids = list(s.scalars(select(SessionRow.id).where(since < cutoff)))
        return [sid for sid in ids if self.delete_session(sid, actor, "session.purged")]

    # -- health ------------------------------------------------------------------------------

    def integrity_check(self) -> list[str]:
        """Problems found (empty when healthy): SQLite's integrity and foreign-key checks,
        a query on PostgreSQL, and on both that the schema is at the newest migration."""
        problems: list[str] = []
        with self.engine.connect() as conn:
            if self.backend == "sqlite":
                rows = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check")]
                problems += [r for r in rows if r != "ok"]
                fk = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                problems += [f"foreign key violation in {r[0]} row {r[1]}" for r in fk]
            else:
                conn.execute(text("SELECT count(*) FROM sessions")).scalar_one()
            rev = migrate.current_revision(conn)
            conn.rollback()
        if rev != migrate.head_revision():
            problems.append(f"schema at migration {rev}, expected {migrate.head_revision()}")
        return problems
