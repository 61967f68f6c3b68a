"""Accounts and sessions over HTTP: log in and out, who am I, the home page, creating and
listing sessions. Every handler checks the role it needs."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from assistant.live.sessions import (
    DEFAULT_PLANNED_MINUTES,
    LINK_GRACE,
    MAX_PLANNED_MINUTES,
    MIN_PLANNED_MINUTES,
)
from assistant.server.auth import COOKIE, LOGIN_TTL_S, current_user
from assistant.server.http import MAX_BODY, WEB, error, json_body, same_origin
from assistant.server.security import client_address
from assistant.store import SessionRecord, User

if TYPE_CHECKING:
    from assistant.server.app import Attune

log = logging.getLogger("attune.server")


def _attune(request: Request) -> Attune:
    attune: Attune = request.app.state.attune
    return attune


def page(name: str) -> Any:
    async def serve_page(request: Request) -> Response:
        return FileResponse(WEB / name, media_type="text/html")

    return serve_page


async def login(request: Request) -> Response:
    attune = _attune(request)
    if not same_origin(request):
        return error(403, "cross_site", "log in from Attune's own page")
    body = await request.body()
    if len(body) > MAX_BODY:
        return error(413, "too_large", "the login form is too large")
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return error(400, "bad_form", "the login form could not be read")
    username = (form.get("username") or [""])[0]
    password = (form.get("password") or [""])[0]
    if not username or not password:
        return RedirectResponse("/login#missing", status_code=303)
    address = client_address(request.scope)
    wait = attune.logins.throttle.retry_after(username, address)
    if wait is not None:
        return _throttled(request, wait)
    user = await asyncio.to_thread(attune.store.verify_password, username[:150], password[:1024])
    if user is None or user.disabled:
        attune.logins.throttle.failed(username, address)
        await asyncio.to_thread(attune.store.audit, "anonymous", "login.failed", None, None)
        return RedirectResponse("/login#failed", status_code=303)
    attune.logins.throttle.succeeded(username, address)
    await asyncio.to_thread(attune.store.audit, user.id, "login", None, None)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        attune.logins.start(user),
        max_age=LOGIN_TTL_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or attune.config.secure_cookies,
        path="/",
    )
    return response


def _throttled(request: Request, wait: float) -> Response:
    """429 for too many failed log-ins: a page for a browser's form, JSON for the rest."""
    minutes = max(1, math.ceil(wait / 60))
    message = f"Too many failed log-ins. Try again in {minutes} minute(s)."
    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    if "text/html" in request.headers.get("accept", ""):
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Attune</title>'
            '<link rel="stylesheet" href="/static/style.css"></head><body class="home"><main>'
            f'<h1>Attune</h1><p class="warn">{message}</p><p><a href="/login">Back to log in'
            "</a></p></main></body></html>"
        )
        return HTMLResponse(page, status_code=429, headers=headers)
    response = error(429, "rate_limited", message)
    response.headers.update(headers)
    return response


async def logout(request: Request) -> Response:
    _attune(request).logins.end(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def me(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return error(401, "login_required", "log in first")
    return JSONResponse({"username": user.username, "role": user.role})


async def home(request: Request) -> Response:
    if await current_user(request) is None:
        return RedirectResponse("/login", status_code=303)
    return await page("home.html")(request)


def _session_json(session: SessionRecord, *, content: bool) -> dict[str, Any]:
    """A session as a list shows it; the label is content (a client's name, often)."""
    out: dict[str, Any] = {
        "id": session.id,
        "planned_minutes": session.planned_minutes,
        "created_at": session.created_at.isoformat(),
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
        "shared_for_training": session.shared_for_training,
    }
    if content:
        out["label"] = session.label
        out["record_audio"] = session.record_audio
    return out


async def list_sessions(request: Request) -> Response:
    attune = _attune(request)
    user = await current_user(request)
    if user is None:
        return error(401, "login_required", "log in first")
    store = attune.store
    if user.role == "therapist":
        rows = await asyncio.to_thread(store.sessions_for_therapist, user.id)
    elif user.role == "trainer":
        rows = await asyncio.to_thread(store.sessions_shared_for_training)
    elif user.role == "assistant":
        rows = await asyncio.to_thread(store.sessions_for_assistant, user.id)
    else:
        return error(403, "forbidden", "admins manage accounts, not sessions")
    content = user.role in ("therapist", "trainer")
    sessions = [_session_json(s, content=content) for s in rows]
    for s in sessions:
        s["live"] = s["id"] in attune.rooms and not attune.rooms[s["id"]].closed
    return JSONResponse({"sessions": sessions})


async def create_session(request: Request) -> Response:
    attune = _attune(request)
    user = await current_user(request)
    if user is None:
        return error(401, "login_required", "log in first")
    if user.role != "therapist":
        return error(403, "forbidden", "only therapists create sessions")
    if not same_origin(request):
        return error(403, "cross_site", "create sessions from Attune's own pages")
    data = await json_body(request)
    if isinstance(data, JSONResponse):
        return data
    problem = _session_fields(data)
    if problem:
        return error(400, "bad_field", problem)
    limit = attune.config.security.max_open_sessions
    async with attune.creating_session:
        if limit and await asyncio.to_thread(_open_sessions, attune, user.id) >= limit:
            return error(
                429,
                "too_many_sessions",
                f"you have {limit} open sessions: end some (or let their links expire) first",
            )
        session, tokens = await asyncio.to_thread(
            attune.registry.create,
            user.id,
            data.get("planned_minutes", DEFAULT_PLANNED_MINUTES),
            data.get("label", ""),
            data.get("record_audio", False),
        )
    await asyncio.to_thread(attune.store.audit, user.id, "session.created", session.id, None)
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            **_session_json(session, content=True),
            "therapist_url": f"{base}/room#token={tokens['therapist']}",
            "client_url": f"{base}/room#token={tokens['client']}",
        },
        status_code=201,
    )


def _open_sessions(attune: Attune, therapist_id: int) -> int:
    """The therapist's sessions that are neither ended nor past their links' expiry."""
    now = datetime.now(UTC)

    def expires(s: SessionRecord) -> datetime:
        planned = timedelta(minutes=s.planned_minutes or MAX_PLANNED_MINUTES)
        return _aware(s.created_at) + planned + LINK_GRACE

    sessions = attune.store.sessions_for_therapist(therapist_id)
    return sum(1 for s in sessions if s.ended_at is None and expires(s) > now)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _session_fields(data: dict[str, Any]) -> str | None:
    minutes = data.get("planned_minutes", DEFAULT_PLANNED_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        return "planned_minutes must be a whole number of minutes"
    if not MIN_PLANNED_MINUTES <= minutes <= MAX_PLANNED_MINUTES:
        return f"planned_minutes must be between {MIN_PLANNED_MINUTES} and {MAX_PLANNED_MINUTES}"
    label = data.get("label", "")
    if not isinstance(label, str) or len(label) > 200:
        return "label must be a string of at most 200 characters"
    if not isinstance(data.get("record_audio", False), bool):
        return "record_audio must be true or false"
    return None


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role}


routes = [
    Route("/", home),
    Route("/login", page("login.html"), methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/api/me", me),
    Route("/api/sessions", list_sessions, methods=["GET"]),
    Route("/api/sessions", create_session, methods=["POST"]),
]
