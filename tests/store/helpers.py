"""Small helpers shared by the store tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from assistant.store.sql import SqlStore

SECRET = "MARKER-sleeping-badly-since-the-move"
SECRET_LABEL = "MARKER-reflection-complex"
SECRET_NOTE = "MARKER-trainer-note-about-empathy"
SECRET_SESSION_LABEL = "MARKER-Jane-Doe-intake"
CONTENT_TABLES = ("events", "consents", "cue_feedback", "annotations", "audio_files")


def utterance(session: str, uid: str | int, text_: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "type": "utterance",
        "session": session,
        "id": uid,
        "speaker": "client",
        "start": 1.25,
        "end": 3.5,
        "text": text_,
        "final": True,
        **extra,
    }


def count_rows(store: SqlStore, table: str, session_id: str) -> int:
    with store.engine.connect() as conn:
        n = conn.execute(
            text(f"SELECT count(*) FROM {table} WHERE session_id = :s"), {"s": session_id}
        ).scalar_one()
        conn.rollback()
    return int(n)


def raw_payloads(store: SqlStore, session_id: str) -> list[bytes]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT payload FROM events WHERE session_id = :s ORDER BY seq"),
            {"s": session_id},
        ).all()
        conn.rollback()
    return [bytes(r[0]) for r in rows]
