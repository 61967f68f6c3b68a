"""Every route and WebSocket, walked with every role: anonymous, the owning therapist,
another therapist, a trainer (with the session shared for training and not), an assistant
(assigned to the owner), an admin, and the client's join link. Each gets the answer its role
allows, and a route nobody listed here fails the test (so new routes must be added)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from assistant.live.sessions import SessionRegistry
from assistant.server.app import ServeConfig, create_app
from assistant.store import SqlStore
from tests.test_replay_routes import (  # noqa: F401  (fixtures)
    API,
    SESSION,
    NeverTranscriber,
    login,
    seeded,
    store,
    user_id,
)

ROLES = ["anonymous", "owner", "other_therapist", "trainer", "shared_trainer", "assistant", "admin"]
NAMES = {
    "owner": "dr-lee",
    "other_therapist": "dr-kim",
    "trainer": "sam",
    "shared_trainer": "sam",
    "assistant": "ava",
    "admin": "root",
    "anonymous": None,
}
CONTENT = {
    "anonymous": 401,
    "owner": 200,
    "other_therapist": 404,
    "trainer": 404,
    "shared_trainer": 200,
    "assistant": 403,
    "admin": 403,
}

# (method, path) -> expected status per role
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/"): {r: 303 if r == "anonymous" else 200 for r in ROLES},
    ("GET", "/login"): dict.fromkeys(ROLES, 200),
    ("GET", "/room"): dict.fromkeys(ROLES, 200),  # the page; the socket checks the link
    ("GET", "/healthz"): dict.fromkeys(ROLES, 200),  # counts only, no content
    ("GET", "/openapi.json"): dict.fromkeys(ROLES, 200),  # the API's schema, no content
    ("GET", "/check"): dict.fromkeys(ROLES, 200),  # the setup check needs no account
    ("GET", "/monitor"): {
        **dict.fromkeys(ROLES, 403),
        "anonymous": 303,
        "assistant": 200,
        "admin": 200,
    },
    # figures only, for the server's own machine (the test client is not loopback) and admins
    ("GET", "/metrics"): {**dict.fromkeys(ROLES, 403), "admin": 200},
    ("GET", "/api/me"): {r: 401 if r == "anonymous" else 200 for r in ROLES},
    ("GET", "/api/sessions"): {**dict.fromkeys(ROLES, 200), "anonymous": 401, "admin": 403},
    ("POST", "/api/sessions"): {
        **dict.fromkeys(ROLES, 403),
        "anonymous": 401,
        "owner": 201,
        "other_therapist": 201,
    },
    ("GET", f"/replay/{SESSION}"): {r: 303 if r == "anonymous" else 200 for r in ROLES},
    ("GET", f"{API}/events"): CONTENT,
    ("GET", f"{API}/report.html"): CONTENT,
    ("GET", f"{API}/export.vtt"): CONTENT,
    ("GET", f"{API}/export.jsonl"): CONTENT,
    ("GET", f"{API}/export.csv"): CONTENT,
    ("GET", f"{API}/audio/client"): {**CONTENT, "owner": 404, "shared_trainer": 404},  # none
    ("POST", f"{API}/annotations"): {**CONTENT, "owner": 201, "shared_trainer": 201},
    ("POST", f"{API}/share"): {**CONTENT, "shared_trainer": 403},
    ("POST", "/logout"): dict.fromkeys(ROLES, 303),  # last: it ends the login
}
BODIES = {
    f"{API}/annotations": {"utterance_id": "t1", "kind": "comment", "body": {"text": "good"}},
    f"{API}/share": {"shared": True},
    "/api/sessions": {"planned_minutes": 30},
}


def template(path: str) -> str:
    return path.replace(SESSION, "{session_id}").replace("/audio/client", "/audio/{role}")


@pytest.fixture
def app_client(store: SqlStore, tmp_path: Path) -> Iterator[TestClient]:  # noqa: F811
    ava, lee = user_id(store, "ava"), user_id(store, "dr-lee")
    store.assign_assistant(ava, lee)
    app = create_app(ServeConfig(data_dir=tmp_path / "data"), NeverTranscriber(), store=store)
    with TestClient(app) as client:
        yield client


def test_logging_in_needs_the_right_password_of_an_enabled_account(
    app_client: TestClient,
    store: SqlStore,  # noqa: F811
) -> None:
    app_client.cookies.clear()
    for form in (
        {"username": "dr-lee", "password": "wrong"},
        {"username": "nobody", "password": "x"},
        {"username": "dr-lee"},
    ):
        response = app_client.post("/login", data=form, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login#")
        assert "attune_login" not in app_client.cookies
    store.set_user_disabled(user_id(store, "dr-kim"), True)
    response = app_client.post(
        "/login",
        data={"username": "dr-kim", "password": "correct horse battery staple"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/login#failed"
    login(app_client, "dr-lee")
    cookie = response = app_client.get("/api/me")
    assert response.json() == {"username": "dr-lee", "role": "therapist"}
    assert cookie.status_code == 200
    set_cookie = app_client.post(
        "/login",
        data={"username": "dr-lee", "password": "correct horse battery staple"},
        follow_redirects=False,
    ).headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
    foreign = app_client.post(
        "/login",
        data={"username": "dr-lee", "password": "x"},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403  # cross-site login attempts are refused
    assert any(e.action == "login.failed" for e in store.audit_log())


def test_every_http_route_is_listed_here(app_client: TestClient) -> None:
    listed = {(m, template(p)) for m, p in EXPECTED}
    listed.add(("POST", "/login"))  # test_logging_in_needs_the_right_password...
    listed |= {
        (m, p.replace(".vtt", ".{fmt}").replace(".jsonl", ".{fmt}").replace(".csv", ".{fmt}"))
        for m, p in listed
    }
    for route in app_client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                assert (method, route.path) in listed or any(
                    method == m and route.path.split("{")[0] in p for m, p in listed
                ), f"{method} {route.path} is not in the access table"
        else:
            assert isinstance(route, Mount | WebSocketRoute)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_what_it_may(
    role: str,
    app_client: TestClient,
    store: SqlStore,  # noqa: F811
) -> None:
    store.set_shared_for_training(SESSION, role == "shared_trainer")
    login(app_client, NAMES[role])
    for (method, path), expected in EXPECTED.items():
        if method == "GET":
            response = app_client.get(path, follow_redirects=False)
        else:
            response = app_client.post(path, json=BODIES.get(path, {}), follow_redirects=False)
        assert response.status_code == expected[role], (role, method, path, response.text[:200])
        if response.status_code >= 400 and path.startswith(API):
            assert "Intake" not in response.text and "drink" not in response.text.lower()
        if role in ("assistant", "admin", "anonymous") and path.startswith("/api"):
            assert '"speaker"' not in response.text and "Intake" not in response.text


def test_websockets_admit_only_the_right_role(app_client: TestClient, store: SqlStore) -> None:  # noqa: F811
    registry = SessionRegistry(store)
    session, tokens = registry.create(user_id(store, "dr-lee"), 50, "live")

    def close_code(path: str, token: str) -> int | None:
        with app_client.websocket_connect(path) as ws:
            ws.send_json({"type": "hello", "token": token})
            ws.send_json({"type": "ping"})
            try:
                while True:  # the control socket says welcome first, the panel may replay
                    if ws.receive_json()["type"] == "pong":
                        return None
            except WebSocketDisconnect as closed:
                return closed.code

    for role in ROLES:
        login(app_client, NAMES[role])
        owner = role == "owner"
        for path in ("/ws/control", "/ws/panel"):
            code = close_code(path, tokens["therapist"])
            assert code == (None if owner else 4401), (role, path, code)
        assert close_code("/ws/panel", tokens["client"]) == 4403  # a client never gets the panel
        assert close_code("/ws/control", tokens["client"]) is None  # the client's own call
        assert close_code("/ws/control", "x" * 43) == 4401
        with app_client.websocket_connect("/ws/monitor") as ws:
            try:
                first = ws.receive_json()
                code = None
            except WebSocketDisconnect as closed:
                first, code = {}, closed.code
        if role in ("assistant", "admin"):
            assert first["type"] == "sessions" and code is None, role
        else:
            assert code == (4401 if role == "anonymous" else 4403), (role, code)
    assert session.id
