"""Content is encrypted at rest with a key kept outside the database."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from assistant.store import ContentKeyError, open_store
from assistant.store.crypto import ContentCipher
from assistant.store.keys import KEY_ENV
from assistant.store.sql import SqlStore
from tests.store.conftest import FAST_HASHER, Target
from tests.store.helpers import (
    SECRET,
    SECRET_LABEL,
    SECRET_NOTE,
    SECRET_SESSION_LABEL,
    raw_payloads,
    utterance,
)

MARKERS = [m.encode() for m in (SECRET, SECRET_LABEL, SECRET_NOTE, SECRET_SESSION_LABEL)]


def _fill(store: SqlStore) -> str:
    t = store.add_user("t", "therapist", "pw")
    trainer = store.add_user("tr", "trainer", "pw")
    s = store.create_session(t.id, label=SECRET_SESSION_LABEL)
    store.append_event(s.id, utterance(s.id, "c1", SECRET, labels={"reflection": SECRET_LABEL}))
    store.add_annotation(s.id, trainer.id, "comment", {"text": SECRET_NOTE}, utterance_id="c1")
    return s.id


def _database_bytes(target: Target, store: SqlStore) -> bytes:
    """Every byte the database keeps on disk for this store."""
    if target.backend == "sqlite":
        files = [target.data_dir / n for n in ("attune.db", "attune.db-wal")]
    else:
        assert target.pg is not None
        with store.engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
            oid = conn.execute(
                text("SELECT oid FROM pg_database WHERE datname = current_database()")
            ).scalar_one()
            conn.rollback()
        files = [
            *(target.pg.data / "base" / str(oid)).iterdir(),
            *(target.pg.data / "pg_wal").glob("0*"),
        ]
    return b"".join(f.read_bytes() for f in files if f.is_file())


def test_database_files_hold_no_plaintext(target: Target, store: SqlStore) -> None:
    sid = _fill(store)
    on_disk = _database_bytes(target, store)
    (payload,) = raw_payloads(store, sid)
    assert payload[-32:] in on_disk  # we looked at the bytes that hold the content...
    for marker in MARKERS:  # ...and none of it is readable there
        assert marker not in on_disk, marker
    key = (target.data_dir / "keys" / "content.key").read_text().strip()
    assert key.encode() not in on_disk and base64.urlsafe_b64decode(key) not in on_disk
    assert store.events(sid)[0]["text"] == SECRET  # while the store itself reads it back


def test_copied_sqlite_file_is_useless_without_the_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(data, password_hasher=FAST_HASHER)
    sid = _fill(store)
    store.close()
    stolen = tmp_path / "stolen"
    stolen.mkdir()
    shutil.copy(data / "attune.db", stolen / "attune.db")
    blob = (stolen / "attune.db").read_bytes()
    assert all(marker not in blob for marker in MARKERS)

    with pytest.raises(ContentKeyError, match=r"encrypted with content key .* does not exist"):
        open_store(stolen)
    assert not (stolen / "keys" / "content.key").exists()  # no new key was made for it

    os.environ[KEY_ENV] = base64.b64encode(os.urandom(32)).decode()
    try:
        with pytest.raises(ContentKeyError, match="use the original key"):
            open_store(stolen)
    finally:
        del os.environ[KEY_ENV]

    shutil.copytree(data / "keys", stolen / "keys")  # with the key it opens
    with open_store(stolen) as restored:
        assert restored.events(sid)[0]["text"] == SECRET


def test_wrong_key_fails_clearly(target: Target, store: SqlStore) -> None:
    sid = _fill(store)
    (payload,) = raw_payloads(store, sid)
    with pytest.raises(ContentKeyError, match="encrypted with content key"):
        ContentCipher(os.urandom(32)).decrypt(payload, f"event|{sid}|1")
    url = target.target
    if target.backend == "sqlite":
        url = f"sqlite:///{target.data_dir / 'attune.db'}"
    with pytest.raises(ContentKeyError, match="does not exist"):
        open_store(url, data_dir=target.data_dir.parent / "elsewhere")


def test_key_from_environment(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    key = os.urandom(32)
    monkeypatch.setenv(KEY_ENV, base64.urlsafe_b64encode(key).decode())
    with target.open() as store:
        sid = _fill(store)
    assert not (target.data_dir / "keys" / "content.key").exists()
    monkeypatch.setenv(KEY_ENV, base64.b64encode(key).decode())  # standard base64 works too
    with target.open() as store:
        assert store.events(sid)[0]["text"] == SECRET
    monkeypatch.setenv(KEY_ENV, "not base64!")
    with pytest.raises(ContentKeyError, match="not valid base64"):
        target.open()
    monkeypatch.setenv(KEY_ENV, base64.b64encode(b"short").decode())
    with pytest.raises(ContentKeyError, match="32 bytes"):
        target.open()


def test_ciphertext_is_bound_to_its_row(store: SqlStore) -> None:
    sid = _fill(store)
    store.append_event(sid, utterance(sid, "c2", "second"))
    first, second = raw_payloads(store, sid)
    with store.engine.begin() as conn:  # swap the two ciphertexts
        conn.execute(
            text("UPDATE events SET payload = :p WHERE session_id = :s AND seq = 2"),
            {"p": first, "s": sid},
        )
    with pytest.raises(ContentKeyError, match="altered or moved"):
        store.events(sid)
