"""delete_session and purge remove a session's content everywhere but leave an audit entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from assistant.store.sql import SqlStore
from tests.store.conftest import Target
from tests.store.helpers import CONTENT_TABLES, SECRET, count_rows, raw_payloads, utterance


def _session_with_everything(store: SqlStore, tmp_path: Path, sid: str, **kw: object) -> Path:
    t = store.get_user_by_name("t") or store.add_user("t", "therapist", "pw")
    tr = store.get_user_by_name("tr") or store.add_user("tr", "trainer", "pw")
    store.create_session(t.id, session_id=sid, label="label", record_audio=True, **kw)  # type: ignore[arg-type]
    store.record_consent(sid, "client", True, "yes")
    for i in range(3):
        store.append_event(sid, utterance(sid, f"c{i}", SECRET))
    store.record_cue_feedback(sid, "cue-1", "helpful", t.id)
    store.add_annotation(sid, tr.id, "comment", {"text": "note"}, "c1")
    audio = tmp_path / f"{sid}-client.opus"
    audio.write_bytes(b"\x00" * 64)
    store.add_audio_file(sid, "client", audio)
    return audio


def test_delete_session_leaves_no_content(target: Target, store: SqlStore, tmp_path: Path) -> None:
    audio = _session_with_everything(store, tmp_path, "gone")
    kept_audio = _session_with_everything(store, tmp_path, "kept")
    ciphertexts = raw_payloads(store, "gone")
    assert store.delete_session("gone", actor=store.get_user_by_name("t").id)  # type: ignore[union-attr]
    assert store.get_session("gone") is None
    for table in CONTENT_TABLES:
        assert count_rows(store, table, "gone") == 0, table
    assert not audio.exists()
    (entry,) = store.audit_log(session_id="gone")
    assert entry.action == "session.deleted" and entry.actor_user_id is not None
    assert entry.detail["removed"]["events"] == 3 and entry.detail["removed"]["audio_files"] == 1
    assert SECRET not in repr(entry)
    assert store.delete_session("gone") is False
    # the other session is untouched
    assert len(store.events("kept")) == 3 and kept_audio.exists()
    assert store.integrity_check() == []
    if target.backend == "sqlite":  # secure_delete + checkpoint: not even ciphertext remains
        on_disk = b"".join(
            p.read_bytes() for p in target.data_dir.glob("attune.db*") if p.is_file()
        )
        assert all(c[-32:] not in on_disk for c in ciphertexts)


def test_purge_removes_old_sessions(store: SqlStore, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    old_audio = _session_with_everything(
        store, tmp_path, "old", created_at=now - timedelta(days=100)
    )
    store.end_session("old", at=now - timedelta(days=99))
    _session_with_everything(store, tmp_path, "recent", created_at=now - timedelta(days=100))
    store.end_session("recent", at=now - timedelta(days=1))  # ended recently: kept
    _session_with_everything(store, tmp_path, "fresh")
    assert store.purge(timedelta(days=30)) == ["old"]
    assert store.get_session("old") is None and not old_audio.exists()
    for table in CONTENT_TABLES:
        assert count_rows(store, table, "old") == 0
    assert [e.action for e in store.audit_log(session_id="old")] == ["session.purged"]
    assert {s.id for s in store.sessions_for_therapist(store.get_user_by_name("t").id)} == {  # type: ignore[union-attr]
        "recent",
        "fresh",
    }
    assert sorted(store.purge(timedelta(0), now=now + timedelta(seconds=1))) == ["fresh", "recent"]
