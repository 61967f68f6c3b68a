"""append_event is durable when it returns; concurrent writers lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.store import NotFoundError
from assistant.store.sql import SqlStore
from tests.store.conftest import Target
from tests.store.helpers import utterance

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys
from assistant.store import open_store
store = open_store(sys.argv[1], data_dir=sys.argv[2])
for i in range(3):
    store.append_event(sys.argv[3], {"type": "utterance", "session": sys.argv[3],
        "id": f"c{i}", "speaker": "client", "start": i, "end": i + 0.5,
        "text": f"turn {i}", "final": True})
    print(f"stored {i}", flush=True)
sys.stdin.read()  # wait to be killed
"""


def test_event_seen_by_a_fresh_store(target: Target, store: SqlStore) -> None:
    t = store.add_user("t", "therapist", "pw")
    s = store.create_session(t.id, session_id="intake-7")
    ev = utterance("intake-7", "c2", labels={"behaviour": "question", "question": "open"})
    assert store.append_event("intake-7", ev) == 1
    fresh = target.open()  # another Store object on the same file or URL, first one still open
    try:
        assert fresh.events(s.id) == [ev]
        assert fresh.append_event(s.id, utterance(s.id, 7)) == 2
    finally:
        fresh.close()
    got = store.events(s.id)
    assert [e["id"] for e in got] == ["c2", 7]  # integer ids stay integers
    assert store.events(s.id, after_seq=1) == [got[1]]


def test_event_survives_sigkill_right_after_append(target: Target, store: SqlStore) -> None:
    t = store.add_user("t", "therapist", "pw")
    s = store.create_session(t.id)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, target.target, str(target.data_dir), s.id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None
        for i in range(3):
            assert child.stdout.readline().strip() == f"stored {i}"
        child.send_signal(signal.SIGKILL)  # no chance to flush or close anything
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    fresh = target.open()
    try:
        assert [e["text"] for e in fresh.events(s.id)] == ["turn 0", "turn 1", "turn 2"]
        assert fresh.integrity_check() == []
    finally:
        fresh.close()


def test_append_rejects_bad_events(store: SqlStore) -> None:
    t = store.add_user("t", "therapist", "pw")
    s = store.create_session(t.id)
    with pytest.raises(ValueError, match="interim"):
        store.append_event(s.id, utterance(s.id, "c1", final=False))
    with pytest.raises(ValueError, match="session"):
        store.append_event(s.id, utterance("other", "c1"))
    with pytest.raises(ValueError, match="type"):
        store.append_event(s.id, {"session": s.id})
    with pytest.raises(NotFoundError):
        store.append_event("missing", utterance("missing", "c1"))
    with pytest.raises(NotFoundError):
        store.events("missing")
    assert store.events(s.id) == []


def test_concurrent_writers_lose_no_events(target: Target, store: SqlStore) -> None:
    t = store.add_user("t", "therapist", "pw")
    s = store.create_session(t.id)
    other = target.open()  # a second engine: separate connections, as a second process has
    writers, per_writer = 4, 20
    errors: list[BaseException] = []

    def write(w: int) -> None:
        target_store = store if w % 2 else other
        try:
            for i in range(per_writer):
                target_store.append_event(s.id, utterance(s.id, f"w{w}-{i}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        started = time.monotonic()
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        assert not errors, errors
        elapsed = time.monotonic() - started
    finally:
        other.close()
    ids = [e["id"] for e in store.events(s.id)]
    assert len(ids) == writers * per_writer
    assert set(ids) == {f"w{w}-{i}" for w in range(writers) for i in range(per_writer)}
    for w in range(writers):  # each writer's own events keep their order
        mine = [i for i in ids if i.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}" for i in range(per_writer)]
    assert elapsed < 30
