"""The replay routes over a real app and a real SQLite store: who may read which session,
annotations and their validation, sharing, the report, exports, audio and the audit log."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from assistant.reports import ReportMeta, render
from assistant.server.app import ServeConfig, create_app
from assistant.speech.asr import Transcription
from assistant.store import SqlStore, open_store
from tests.test_reports import FAST_HASHER, sample_events

PASSWORD = "correct horse battery staple"
SESSION = "intake-7"
API = f"/api/sessions/{SESSION}"
USERS = {
    "dr-lee": "therapist",  # owns intake-7
    "dr-kim": "therapist",  # owns other-1
    "sam": "trainer",
    "ava": "assistant",
    "root": "admin",
}


class NeverTranscriber:
    """The app needs a recogniser; these tests never send it audio."""

    def transcribe(self, audio: np.ndarray, *, final: bool = True) -> Transcription:
        raise AssertionError("not used")

    def transcribe_many(self, segments: Sequence[np.ndarray]) -> list[Transcription]:
        raise AssertionError("not used")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the users and sessions, made once and copied for each test
    (every append is fsynced: seeding it per test would cost a second each)."""
    data = tmp_path_factory.mktemp("seed") / "data"
    store = open_store(data, password_hasher=FAST_HASHER)
    ids = {name: store.add_user(name, role, PASSWORD).id for name, role in USERS.items()}  # type: ignore[arg-type]
    store.create_session(
        ids["dr-lee"], session_id=SESSION, label="Intake <Jane>", planned_minutes=50
    )
    for event in sample_events(SESSION):
        store.append_event(SESSION, event)
    store.create_session(ids["dr-kim"], session_id="other-1", label="Kim's")
    store.close()
    return data


@pytest.fixture
def store(seeded: Path, tmp_path: Path) -> Iterator[SqlStore]:
    shutil.copytree(seeded, tmp_path / "data")
    store = open_store(tmp_path / "data", password_hasher=FAST_HASHER)
    yield store
    store.close()


@pytest.fixture
def client(store: SqlStore, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(ServeConfig(data_dir=tmp_path / "data"), NeverTranscriber(), store=store)
    with TestClient(app) as client:
        yield client


def login(client: TestClient, username: str | None) -> None:
    client.cookies.clear()
    if username is None:
        return
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert client.cookies.get("attune_login")


def user_id(store: SqlStore, name: str) -> int:
    user = store.get_user_by_name(name)
    assert user is not None
    return user.id


def actions(store: SqlStore, action: str, session: str = SESSION) -> list[Any]:
    return [e for e in store.audit_log(session) if e.action == action]


def annotate(client: TestClient, uid: Any, kind: str, body: Any, **extra: Any) -> Any:
    return client.post(
        f"{API}/annotations", json={"utterance_id": uid, "kind": kind, "body": body, **extra}
    )


CONTENT_URLS = [
    f"{API}/events",
    f"{API}/report.html",
    f"{API}/export.vtt",
    f"{API}/export.jsonl",
    f"{API}/export.csv",
    f"{API}/audio/client",
]


def test_anonymous_users_get_401_and_the_page_sends_them_to_log_in(client: TestClient) -> None:
    login(client, None)
    for url in CONTENT_URLS:
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json()["error"] == "login_required"
    assert annotate(client, "t1", "comment", {"text": "hi"}).status_code == 401
    assert client.post(f"{API}/share", json={"shared": True}).status_code == 401
    response = client.get(f"/replay/{SESSION}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_the_owning_therapist_reads_the_session_and_it_is_audited(
    client: TestClient, store: SqlStore
) -> None:
    login(client, "dr-lee")
    response = client.get(f"{API}/events")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    session = body["session"]
    assert session["id"] == SESSION and session["label"] == "Intake <Jane>"
    assert session["planned_minutes"] == 50 and session["shared_for_training"] is False
    assert session["created_at"] and session["ended_at"] is None and session["audio"] == []
    assert body["events"] == sample_events(SESSION)
    assert body["annotations"] == []
    assert body["viewer"] == {
        "id": user_id(store, "dr-lee"),
        "username": "dr-lee",
        "role": "therapist",
        "owner": True,
    }
    assert body["vocabulary"]["therapist"]["question"] == ["open", "closed", None]
    assert body["vocabulary"]["client"]["disclosure"] == [True, False]
    viewed = actions(store, "session.content_viewed")
    assert [(e.actor_user_id, e.detail) for e in viewed] == [
        (user_id(store, "dr-lee"), {"via": "replay"})
    ]
    page = client.get(f"/replay/{SESSION}")
    assert page.status_code == 200 and 'src="/static/replay.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_other_therapists_cannot_tell_the_session_exists(
    client: TestClient, store: SqlStore
) -> None:
    login(client, "dr-kim")
    for url in CONTENT_URLS:
        hidden, missing = client.get(url), client.get(url.replace(SESSION, "no-such-session"))
        assert hidden.status_code == missing.status_code == 404, url
        assert (
            hidden.json() == missing.json() == {"error": "not_found", "message": "no such session"}
        )
    assert annotate(client, "t1", "comment", {"text": "hi"}).status_code == 404
    assert client.post(f"{API}/share", json={"shared": True}).status_code == 404
    assert client.get("/api/sessions/other-1/events").status_code == 200  # their own
    assert actions(store, "session.content_viewed") == []


def test_trainers_read_only_shared_sessions_and_only_the_owner_shares(
    client: TestClient, store: SqlStore
) -> None:
    login(client, "sam")
    assert client.get(f"{API}/events").status_code == 404
    login(client, "dr-lee")
    assert client.post(f"{API}/share", json={"shared": "yes"}).status_code == 400
    assert client.post(f"{API}/share", json={"shared": True, "x": 1}).status_code == 400
    response = client.post(f"{API}/share", json={"shared": True})
    assert response.status_code == 200
    assert response.json() == {"id": SESSION, "shared_for_training": True}
    login(client, "sam")
    body = client.get(f"{API}/events").json()
    assert body["session"]["shared_for_training"] is True and body["viewer"]["owner"] is False
    assert client.get(f"{API}/export.csv").status_code == 200
    response = client.post(f"{API}/share", json={"shared": False})
    assert (response.status_code, response.json()["error"]) == (403, "forbidden")
    login(client, "dr-lee")
    assert client.post(f"{API}/share", json={"shared": False}).status_code == 200
    login(client, "sam")
    assert client.get(f"{API}/events").status_code == 404
    changes = actions(store, "session.sharing_changed")
    assert [e.detail for e in changes] == [{"shared": True}, {"shared": False}]
    assert {e.actor_user_id for e in changes} == {user_id(store, "dr-lee")}


@pytest.mark.parametrize("name", ["ava", "root"])
def test_assistants_and_admins_never_get_content(
    client: TestClient, store: SqlStore, name: str
) -> None:
    store.set_shared_for_training(SESSION, True)
    login(client, name)
    for url in [*CONTENT_URLS, "/api/sessions/no-such-session/events"]:
        response = client.get(url)
        assert response.status_code == 403, url
        assert response.json()["error"] == "forbidden"
    assert annotate(client, "t1", "comment", {"text": "hi"}).status_code == 403
    assert client.post(f"{API}/share", json={"shared": False}).status_code == 403
    assert client.get(f"/replay/{SESSION}").status_code == 200  # the page file only
    assert actions(store, "session.content_viewed") == []
    assert store.annotations(SESSION) == []


def test_trainers_comment_and_correct_labels(client: TestClient, store: SqlStore) -> None:
    store.set_shared_for_training(SESSION, True)
    login(client, "sam")
    response = annotate(client, "t2", "comment", {"text": "  Try an open question here.  "})
    assert response.status_code == 201, response.text
    comment = response.json()
    assert comment["utterance_id"] == "t2" and comment["kind"] == "comment"
    assert comment["body"] == {"text": "Try an open question here."}
    assert comment["author"] == "sam" and comment["author_role"] == "trainer"
    response = annotate(
        client, "t2", "label_correction", {"labels": {"question": "open", "behaviour": "question"}}
    )
    assert response.status_code == 201, response.text
    response = annotate(client, "c3", "label_correction", {"labels": {"disclosure": False}})
    assert response.status_code == 201, response.text
    login(client, "dr-lee")  # the owner annotates too
    assert annotate(client, "c3", "comment", {"text": "I agree"}).status_code == 201
    body = client.get(f"{API}/events").json()
    assert [(a["kind"], a["utterance_id"], a["author"]) for a in body["annotations"]] == [
        ("comment", "t2", "sam"),
        ("label_correction", "t2", "sam"),
        ("label_correction", "c3", "sam"),
        ("comment", "c3", "dr-lee"),
    ]
    assert body["events"] == sample_events(SESSION)  # corrections never change the events
    annotated = actions(store, "session.annotated")
    assert [e.detail["kind"] for e in annotated] == [
        "comment",
        "label_correction",
        "label_correction",
        "comment",
    ]
    assert "text" not in json.dumps([e.detail for e in annotated])


@pytest.mark.parametrize(
    ("payload", "status", "code", "message"),
    [
        (
            {"utterance_id": "t99", "kind": "comment", "body": {"text": "x"}},
            400,
            "unknown_utterance",
            "no utterance 't99'",
        ),
        (
            {"utterance_id": True, "kind": "comment", "body": {"text": "x"}},
            400,
            "bad_field",
            "utterance_id",
        ),
        (
            {"utterance_id": "t1", "kind": "note", "body": {"text": "x"}},
            400,
            "bad_field",
            "kind must be",
        ),
        (
            {"utterance_id": "t1", "kind": "comment", "body": "x"},
            400,
            "bad_field",
            "body must be an object",
        ),
        (
            {"utterance_id": "t1", "kind": "comment", "body": {"text": "   "}},
            400,
            "bad_field",
            "non-empty",
        ),
        (
            {"utterance_id": "t1", "kind": "comment", "body": {"text": "x" * 2001}},
            400,
            "bad_field",
            "2000 characters",
        ),
        (
            {"utterance_id": "t1", "kind": "comment", "body": {"text": "x", "labels": {}}},
            400,
            "bad_field",
            "nothing else",
        ),
        (
            {"utterance_id": "t1", "kind": "comment", "body": {"text": "x"}, "extra": 1},
            400,
            "bad_field",
            "unknown field(s): extra",
        ),
        (
            {"utterance_id": "t1", "kind": "label_correction", "body": {"labels": {}}},
            400,
            "bad_field",
            "non-empty object",
        ),
        (
            {
                "utterance_id": "t1",
                "kind": "label_correction",
                "body": {"labels": {"talk_type": "change"}},
            },
            400,
            "bad_field",
            "therapist utterances have the labels",
        ),
        (
            {
                "utterance_id": "t1",
                "kind": "label_correction",
                "body": {"labels": {"question": "rhetorical"}},
            },
            400,
            "bad_field",
            "labels.question must be one of open, closed, null",
        ),
        (
            {
                "utterance_id": "c1",
                "kind": "label_correction",
                "body": {"labels": {"disclosure": "yes"}},
            },
            400,
            "bad_field",
            "labels.disclosure must be one of true, false",
        ),
        (
            {
                "utterance_id": "c1",
                "kind": "label_correction",
                "body": {"labels": {"talk_type": True}},
            },
            400,
            "bad_field",
            "labels.talk_type",
        ),
        (
            {
                "utterance_id": "c1",
                "kind": "label_correction",
                "body": {"labels": {"talk_type": "change"}, "why": "x"},
            },
            400,
            "bad_field",
            "nothing else",
        ),
    ],
)
def test_annotation_input_is_validated_precisely(
    client: TestClient,
    store: SqlStore,
    payload: dict[str, Any],
    status: int,
    code: str,
    message: str,
) -> None:
    login(client, "dr-lee")
    response = client.post(f"{API}/annotations", json=payload)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert message in response.json()["message"]
    assert store.annotations(SESSION) == []


def test_annotation_bodies_are_bounded_json_from_the_same_origin(
    client: TestClient, store: SqlStore
) -> None:
    login(client, "dr-lee")
    url = f"{API}/annotations"
    headers = {"content-type": "application/json"}
    big = json.dumps({"utterance_id": "t1", "kind": "comment", "body": {"text": "x" * 17000}})
    response = client.post(url, content=big, headers=headers)
    assert (response.status_code, response.json()["error"]) == (413, "too_large")
    response = client.post(url, content=b"{not json", headers=headers)
    assert (response.status_code, response.json()["error"]) == (400, "bad_json")
    response = client.post(url, content=b"[1, 2]", headers=headers)
    assert (response.status_code, response.json()["error"]) == (400, "bad_json")
    response = client.post(url, data={"utterance_id": "t1"})
    assert response.status_code == 415
    response = client.post(
        url,
        json={"utterance_id": "t1", "kind": "comment", "body": {"text": "x"}},
        headers={"origin": "https://evil.example"},
    )
    assert (response.status_code, response.json()["error"]) == (403, "cross_site")
    assert store.annotations(SESSION) == []


def test_report_and_exports_have_their_headers_and_are_audited(
    client: TestClient, store: SqlStore
) -> None:
    login(client, "dr-lee")
    assert annotate(client, "c4", "comment", {"text": "<script>x()</script>"}).status_code == 201
    response = client.get(f"{API}/report.html")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert (
        response.headers["content-disposition"] == 'inline; filename="attune-intake-7-report.html"'
    )
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    html = response.text
    assert "<script" not in html and "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "Intake &lt;Jane&gt;" in html and 'data-count="open_questions"' in html
    download = client.get(f"{API}/report.html?download=1")
    assert download.headers["content-disposition"].startswith("attachment;")
    events = sample_events(SESSION)
    media = {"vtt": "text/vtt", "jsonl": "application/x-ndjson", "csv": "text/csv"}
    for fmt, kind in media.items():
        response = client.get(f"{API}/export.{fmt}")
        assert response.status_code == 200
        assert response.headers["content-type"] == f"{kind}; charset=utf-8"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="attune-intake-7.{fmt}"'
        )
        assert response.content == render(fmt, events, ReportMeta(SESSION)).content  # type: ignore[arg-type]
    assert client.get(f"{API}/export.pdf").status_code == 404
    exported = actions(store, "session.exported")
    assert [e.detail for e in exported] == [
        {"format": "html", "via": "web"},
        {"format": "html", "via": "web"},
        {"format": "vtt", "via": "web"},
        {"format": "jsonl", "via": "web"},
        {"format": "csv", "via": "web"},
    ]


def test_recorded_audio_streams_with_ranges(
    client: TestClient, store: SqlStore, tmp_path: Path
) -> None:
    login(client, "dr-lee")
    response = client.get(f"{API}/audio/client")
    assert (response.status_code, response.json()["error"]) == (404, "no_audio")
    assert client.get(f"{API}/audio/nobody").status_code == 404
    audio = tmp_path / "client.ogg"
    payload = b"OggS" + bytes(range(256)) * 40
    audio.write_bytes(payload)
    store.add_audio_file(SESSION, "client", audio)
    assert client.get(f"{API}/events").json()["session"]["audio"] == ["client"]
    response = client.get(f"{API}/audio/client")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/ogg"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content == payload
    response = client.get(f"{API}/audio/client", headers={"range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.content == payload[100:200]
    assert response.headers["content-range"] == f"bytes 100-199/{len(payload)}"
    assert client.get(f"{API}/audio/therapist").status_code == 404
    heard = [
        e.detail for e in actions(store, "session.content_viewed") if e.detail["via"] == "audio"
    ]
    assert heard == [{"via": "audio", "role": "client"}]  # the first request, not every range
