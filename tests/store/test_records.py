"""Users and roles, sessions, consent history, cue feedback, annotations, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from assistant.store import AlreadyExistsError, NotFoundError
from assistant.store.sql import SqlStore


def test_users_and_passwords(store: SqlStore) -> None:
    ann = store.add_user("ann", "therapist", "correct horse")
    with pytest.raises(AlreadyExistsError):
        store.add_user("ann", "trainer", "x")
    with pytest.raises(ValueError, match="role"):
        store.add_user("bob", "client", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        store.add_user("bob", "admin", "")
    assert store.verify_password("ann", "correct horse") == ann
    assert store.verify_password("ann", "wrong") is None
    assert store.verify_password("nobody", "correct horse") is None
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM users").scalar_one()
        conn.rollback()
    assert str(stored).startswith("$argon2id$") and "correct horse" not in str(stored)
    store.set_password(ann.id, "new one")
    assert store.verify_password("ann", "correct horse") is None
    assert store.verify_password("ann", "new one") is not None
    store.set_user_disabled(ann.id, True)
    assert store.verify_password("ann", "new one") is None
    assert store.get_user(ann.id) is not None and store.get_user(ann.id).disabled  # type: ignore[union-attr]
    assert store.get_user_by_name("ann") == store.get_user(ann.id)
    assert store.get_user(999) is None
    store.add_user("zed", "admin", "pw")
    assert [u.username for u in store.list_users()] == ["ann", "zed"]
    assert [u.username for u in store.list_users("admin")] == ["zed"]
    assert ann.created_at.tzinfo is not None


def test_roles_and_session_lists(store: SqlStore) -> None:
    t1 = store.add_user("t1", "therapist", "pw")
    t2 = store.add_user("t2", "therapist", "pw")
    va = store.add_user("va", "assistant", "pw")
    with pytest.raises(ValueError, match="not a therapist"):
        store.assign_assistant(va.id, va.id)
    store.assign_assistant(va.id, t1.id)
    store.assign_assistant(va.id, t1.id)  # idempotent
    assert store.therapists_of(va.id) == [t1] and store.assistants_of(t1.id) == [va]
    now = datetime.now(UTC)
    a = store.create_session(
        t1.id,
        session_id="a",
        label="Intake",
        planned_minutes=50,
        created_at=now - timedelta(hours=1),
    )
    b = store.create_session(t1.id, session_id="b", record_audio=True, created_at=now)
    c = store.create_session(t2.id, session_id="c")
    with pytest.raises(AlreadyExistsError):
        store.create_session(t1.id, session_id="a")
    with pytest.raises(ValueError, match="not a therapist"):
        store.create_session(va.id)
    assert [s.id for s in store.sessions_for_therapist(t1.id)] == ["b", "a"]  # newest first
    assert [s.id for s in store.sessions_for_assistant(va.id)] == ["b", "a"]
    assert a.label == "Intake" and a.planned_minutes == 50 and not a.record_audio
    assert b.record_audio and store.get_session("c") == c
    store.set_shared_for_training("a", True)
    assert [s.id for s in store.sessions_shared_for_training()] == ["a"]
    ended = store.end_session("a")
    assert ended.ended_at is not None
    assert store.end_session("a").ended_at == ended.ended_at  # the first end is kept
    with pytest.raises(NotFoundError):
        store.end_session("nope")
    store.unassign_assistant(va.id, t1.id)
    assert store.sessions_for_assistant(va.id) == []


def test_consent_history_is_append_only(store: SqlStore) -> None:
    t = store.add_user("t", "therapist", "pw")
    s = store.create_session(t.id)
    assert store.current_consent(s.id) == {"therapist": None, "client": None}
    store.record_consent(s.id, "therapist", True, "Transcribe this session: yes")
    store.record_consent(s.id, "client", True, "Transcribe this session: yes")
    withdrawn = store.record_consent(s.id, "client", False, "I withdraw my consent")
    history = store.consent_history(s.id)
    assert [(c.role, c.agreed) for c in history] == [
        ("therapist", True),
        ("client", True),
        ("client", False),
    ]
    state = store.current_consent(s.id)
    assert state["client"] == withdrawn and state["therapist"] is not None
    assert state["therapist"].agreed
    with pytest.raises(ValueError, match="role"):
        store.record_consent(s.id, "trainer", True, "x")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        store.record_consent("nope", "client", True, "x")


def test_cue_feedback_and_annotations(store: SqlStore) -> None:
    t = store.add_user("t", "therapist", "pw")
    tr = store.add_user("tr", "trainer", "pw")
    s = store.create_session(t.id)
    store.record_cue_feedback(s.id, "cue-4", "dismissed", t.id)
    store.record_cue_feedback(s.id, "cue-4", "helpful", t.id)
    with pytest.raises(ValueError, match="feedback"):
        store.record_cue_feedback(s.id, "cue-4", "meh")  # type: ignore[arg-type]
    assert [(f.cue_id, f.value) for f in store.cue_feedback(s.id)] == [
        ("cue-4", "dismissed"),
        ("cue-4", "helpful"),
    ]
    store.add_annotation(s.id, tr.id, "comment", {"text": "Nice reflection"}, "t3")
    fix = {"field": "behaviour", "from": "question", "to": "reflection"}
    store.add_annotation(s.id, tr.id, "label_correction", fix, 12)
    notes = store.annotations(s.id)
    assert [(n.kind, n.utterance_id, n.body) for n in notes] == [
        ("comment", "t3", {"text": "Nice reflection"}),
        ("label_correction", "12", fix),
    ]
    assert notes[1].author_id == tr.id
    with pytest.raises(ValueError, match="kind"):
        store.add_annotation(s.id, tr.id, "rewrite", {})  # type: ignore[arg-type]


def test_audit_log(store: SqlStore) -> None:
    t = store.add_user("t", "therapist", "pw")
    s = store.create_session(t.id)
    store.audit(t.id, "session.joined", s.id, {"ip_hash": "ab12"})
    store.audit("client", "consent.given", s.id)
    store.audit("system", "server.started")
    with pytest.raises(ValueError, match="content"):
        store.audit(t.id, "oops", s.id, {"utterance": {"text": "private words"}})
    entries = store.audit_log()
    assert [(e.actor_user_id, e.actor_label, e.action) for e in entries] == [
        (t.id, None, "session.joined"),
        (None, "client", "consent.given"),
        (None, "system", "server.started"),
    ]
    assert [e.action for e in store.audit_log(session_id=s.id)] == [
        "session.joined",
        "consent.given",
    ]
    assert entries[0].detail == {"ip_hash": "ab12"}
    assert [e.action for e in store.audit_log(limit=1)] == ["server.started"]


def test_join_links_are_found_by_digest_only(store: SqlStore) -> None:
    therapist = store.add_user("t-links", "therapist", "pw-long-enough")
    session = store.create_session(therapist.id)
    expires = datetime.now(UTC) + timedelta(hours=1)
    store.add_join_link(session.id, "client", "a" * 64, expires)
    link = store.find_join_link("a" * 64)
    assert link is not None and (link.session_id, link.role) == (session.id, "client")
    assert abs((link.expires_at - expires).total_seconds()) < 1
    assert store.find_join_link("b" * 64) is None
    store.delete_session(session.id)
    assert store.find_join_link("a" * 64) is None  # deleted with its session
