"""Annotated replay for trainers and therapists: the replay page, a session's stored events
with annotations, comments and label corrections, sharing for training, the printable report,
exports and recorded audio.

Access (``assistant.server.auth.can_read_content``): the session's own therapist, and
trainers when the therapist shared the session for training. Without a login every API
answers 401; an assistant or an admin (roles that never see content) 403; a therapist or
trainer asking for a session they may not read gets the same 404 as for a session that does
not exist, so ids of other therapists' sessions are not revealed. Every read of content is
audited (``session.content_viewed``, ``session.exported``), and so is every change
(``session.annotated``, ``session.sharing_changed``). See docs/replay.md.

Mount with ``Starlette(routes=[..., *replay.routes])``; it needs ``app.state.attune`` with
``store`` (a :class:`assistant.store.Store`) and ``logins`` (:class:`auth.Logins`).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from assistant.events import schema
from assistant.live.recorder import audio_aad
from assistant.reports import FORMATS, Format, ReportMeta, content_security_policy, render
from assistant.reports.session import CLIENT_LABELS, THERAPIST_LABELS
from assistant.server.auth import can_read_content, current_user
from assistant.server.http import error, json_body, same_origin
from assistant.server.security import PAGE_CSP
from assistant.store import Annotation, SessionRecord, Store, User
from assistant.store.records import AnnotationKind

WEB = Path(__file__).resolve().parents[2] / "web"
CONTENT_ROLES = ("therapist", "trainer")
MAX_COMMENT = 2000
MAX_SESSION_ID = 200
EXPORTS: tuple[Format, ...] = tuple(f for f in FORMATS if f != "html")
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _store(request: Request) -> Store:
    store: Store = request.app.state.attune.store
    return store


def _label_vocabulary() -> dict[str, tuple[Any, ...]]:
    """Allowed values of each label, from the event schema."""
    props: dict[str, Any] = schema()["$defs"]["labels"]["properties"]
    out: dict[str, tuple[Any, ...]] = {}
    for name, spec in props.items():
        if "enum" in spec:
            out[name] = tuple(spec["enum"])
        elif spec.get("type") == "boolean":
            out[name] = (True, False)
    return out


LABELS = _label_vocabulary()
SPEAKER_LABELS = {"therapist": THERAPIST_LABELS, "client": CLIENT_LABELS}
VOCABULARY = {
    speaker: {name: list(LABELS[name]) for name in names}
    for speaker, names in SPEAKER_LABELS.items()
}


async def _access(request: Request) -> tuple[User, SessionRecord] | Response:
    """The user and the session whose content they may read, or the error to return."""
    user = await current_user(request)
    if user is None:
        return error(401, "login_required", "log in to see session records")
    if user.role not in CONTENT_ROLES:
        return error(403, "forbidden", f"the {user.role} role never sees session content")
    session_id = request.path_params["session_id"]
    session = None
    if len(session_id) <= MAX_SESSION_ID:
        session = await asyncio.to_thread(_store(request).get_session, session_id)
    if session is None or not can_read_content(user, session):
        return error(404, "not_found", "no such session")
    return user, session


def _recorded(store: Store, session_id: str) -> dict[str, Path]:
    """The newest recorded audio file per role, when it is still on disk (blocking)."""
    out: dict[str, Path] = {}
    for f in store.audio_files(session_id):
        if Path(f.path).is_file():
            out[f.role] = Path(f.path)
    return out


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def _filename(session: SessionRecord, suffix: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", session.id)[:80] or "session"
    return f"attune-{safe}{suffix}"


async def _audit(request: Request, user: User, action: str, session_id: str, **detail: Any) -> None:
    await asyncio.to_thread(_store(request).audit, user.id, action, session_id, detail)


async def _annotation_json(request: Request, annotations: list[Annotation]) -> list[dict[str, Any]]:
    store = _store(request)
    authors: dict[int, User | None] = {}
    for a in annotations:
        if a.author_id not in authors:
            authors[a.author_id] = await asyncio.to_thread(store.get_user, a.author_id)
    out = []
    for a in annotations:
        author = authors.get(a.author_id)
        out.append(
            {
                "id": a.id,
                "utterance_id": a.utterance_id,
                "kind": a.kind,
                "body": a.body,
                "author_id": a.author_id,
                "author": author.username if author else None,
                "author_role": author.role if author else None,
                "at": _iso(a.at),
            }
        )
    return out


# -- the page ------------------------------------------------------------------------------


async def replay_page(request: Request) -> Response:
    """The replay page for any logged-in user; the APIs decide what it may show."""
    if await current_user(request) is None:
        return RedirectResponse("/login", status_code=303)
    return FileResponse(
        WEB / "replay.html",
        media_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, **NO_STORE},
    )


# -- reading -------------------------------------------------------------------------------


async def session_events(request: Request) -> Response:
    found = await _access(request)
    if isinstance(found, Response):
        return found
    user, session = found
    store = _store(request)
    events = await asyncio.to_thread(store.events, session.id)
    annotations = await asyncio.to_thread(store.annotations, session.id)
    audio = await asyncio.to_thread(_recorded, store, session.id)
    await _audit(request, user, "session.content_viewed", session.id, via="replay")
    owner = user.role == "therapist" and session.therapist_id == user.id
    body = {
        "session": {
            "id": session.id,
            "label": session.label,
            "planned_minutes": session.planned_minutes,
            "created_at": _iso(session.created_at),
            "ended_at": _iso(session.ended_at),
            "shared_for_training": session.shared_for_training,
            "audio": sorted(audio),
        },
        "viewer": {"id": user.id, "username": user.username, "role": user.role, "owner": owner},
        "events": events,
        "annotations": await _annotation_json(request, annotations),
        "vocabulary": VOCABULARY,
    }
    return JSONResponse(body, headers=NO_STORE)


async def report(request: Request) -> Response:
    found = await _access(request)
    if isinstance(found, Response):
        return found
    user, session = found
    store = _store(request)
    events = await asyncio.to_thread(store.events, session.id)
    annotations = await _annotation_json(
        request, await asyncio.to_thread(store.annotations, session.id)
    )
    meta = ReportMeta(
        session.id, session.label, session.planned_minutes, session.created_at, session.ended_at
    )
    rendered = await asyncio.to_thread(render, "html", events, meta, annotations)
    await _audit(request, user, "session.exported", session.id, format="html", via="web")
    disposition = "attachment" if request.query_params.get("download") else "inline"
    filename = _filename(session, "-report.html")
    return Response(
        rendered.content,
        media_type=rendered.media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            "Content-Security-Policy": content_security_policy(),
            "Referrer-Policy": "no-referrer",
            **NO_STORE,
        },
    )


async def export(request: Request) -> Response:
    fmt = request.path_params["fmt"]
    if fmt not in EXPORTS:
        return error(404, "unknown_format", f"exports are {', '.join(EXPORTS)}")
    found = await _access(request)
    if isinstance(found, Response):
        return found
    user, session = found
    events = await asyncio.to_thread(_store(request).events, session.id)
    meta = ReportMeta(session.id, session.label, session.planned_minutes)
    rendered = await asyncio.to_thread(render, cast(Format, fmt), events, meta)
    await _audit(request, user, "session.exported", session.id, format=fmt, via="web")
    return Response(
        rendered.content,
        media_type=rendered.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(session, "." + fmt)}"',
            **NO_STORE,
        },
    )


async def audio(request: Request) -> Response:
    role = request.path_params["role"]
    if role not in ("therapist", "client"):
        return error(404, "not_found", "audio is recorded per role: therapist or client")
    found = await _access(request)
    if isinstance(found, Response):
        return found
    user, session = found
    path = (await asyncio.to_thread(_recorded, _store(request), session.id)).get(role)
    if path is None:
        return error(404, "no_audio", f"no {role} audio was recorded for this session")
    # a player asks for many ranges: audit the first request of a playback, not every range
    byte_range = request.headers.get("range", "")
    if not byte_range or byte_range.replace(" ", "").startswith("bytes=0-"):
        await _audit(request, user, "session.content_viewed", session.id, via="audio", role=role)
    data = await asyncio.to_thread(
        _store(request).open_sealed, str(path), audio_aad(session.id, role)
    )
    return _ranged(data, byte_range, "audio/ogg")


def _ranged(data: bytes, byte_range: str, media_type: str) -> Response:
    """The bytes, or the one range a media player asked for (206)."""
    headers = {**NO_STORE, "Accept-Ranges": "bytes"}
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", byte_range.replace(" ", ""))
    if not m or (not m.group(1) and not m.group(2)):
        return Response(data, media_type=media_type, headers=headers)
    size = len(data)
    if m.group(1):
        start, end = int(m.group(1)), int(m.group(2)) if m.group(2) else size - 1
    else:
        start, end = max(size - int(m.group(2)), 0), size - 1
    end = min(end, size - 1)
    if start > end:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start : end + 1], status_code=206, media_type=media_type, headers=headers)


# -- changing ------------------------------------------------------------------------------


def _json_request(request: Request) -> Response | None:
    """CSRF defences for cookie-authenticated changes: same origin and a JSON body (a
    cross-site form cannot send ``application/json`` without a CORS preflight)."""
    if not same_origin(request):
        return error(403, "cross_site", "changes must come from Attune's own pages")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        return error(415, "unsupported_media_type", "send the body as application/json")
    return None


def _check_labels(labels: Any, speaker: str) -> str | None:
    """Why ``labels`` is not a valid correction for an utterance of ``speaker``, or None."""
    if not isinstance(labels, dict) or not labels:
        return "body.labels must be a non-empty object of label: value"
    allowed = SPEAKER_LABELS.get(speaker, ())
    for name, value in labels.items():
        if name not in allowed:
            return f"{speaker} utterances have the labels {', '.join(allowed)}, not {name!r}"
        vocabulary = LABELS[name]
        if isinstance(value, bool) != isinstance(vocabulary[0], bool) or value not in vocabulary:
            shown = ", ".join("null" if v is None else str(v).lower() for v in vocabulary)
            return f"labels.{name} must be one of {shown}"
    return None


def _check_body(kind: Any, body: Any, speaker: str) -> str | None:
    if kind not in ("comment", "label_correction"):
        return "kind must be 'comment' or 'label_correction'"
    if not isinstance(body, dict):
        return "body must be an object"
    if kind == "comment":
        if set(body) != {"text"}:
            return 'a comment\'s body is {"text": ...} and nothing else'
        text = body["text"]
        if not isinstance(text, str) or not text.strip():
            return "body.text must be a non-empty string"
        if len(text) > MAX_COMMENT:
            return f"body.text is limited to {MAX_COMMENT} characters"
        return None
    if set(body) != {"labels"}:
        return 'a label correction\'s body is {"labels": {...}} and nothing else'
    return _check_labels(body["labels"], speaker)


async def add_annotation(request: Request) -> Response:
    found = await _access(request)
    if isinstance(found, Response):
        return found
    user, session = found
    refused = _json_request(request)
    if refused is not None:
        return refused
    data = await json_body(request)
    if isinstance(data, Response):
        return data
    unknown = sorted(set(data) - {"utterance_id", "kind", "body"})
    if unknown:
        return error(400, "bad_field", f"unknown field(s): {', '.join(unknown)}")
    uid = data.get("utterance_id")
    if isinstance(uid, bool) or not isinstance(uid, str | int):
        return error(400, "bad_field", "utterance_id must be the id of an utterance")
    store = _store(request)
    events = await asyncio.to_thread(store.events, session.id)
    utterance = next(
        (e for e in events if e.get("type") == "utterance" and str(e.get("id")) == str(uid)),
        None,
    )
    if utterance is None:
        return error(400, "unknown_utterance", f"this session has no utterance {uid!r}")
    kind, body = data.get("kind"), data.get("body")
    problem = _check_body(kind, body, str(utterance.get("speaker")))
    if problem is not None or not isinstance(body, dict):
        return error(400, "bad_field", problem or "body must be an object")
    kind = cast(AnnotationKind, kind)
    if kind == "comment":
        body = {"text": body["text"].strip()}
    annotation = await asyncio.to_thread(
        store.add_annotation, session.id, user.id, kind, body, utterance.get("id")
    )
    await _audit(
        request, user, "session.annotated", session.id, kind=kind, annotation_id=annotation.id
    )
    (out,) = await _annotation_json(request, [annotation])
    return JSONResponse(out, status_code=201)


async def share(request: Request) -> Response:
    found = await _access(request)
    if isinstance(found, Response):
        return found
    user, session = found
    if user.role != "therapist" or session.therapist_id != user.id:
        return error(403, "forbidden", "only the session's therapist can share it for training")
    refused = _json_request(request)
    if refused is not None:
        return refused
    data = await json_body(request)
    if isinstance(data, Response):
        return data
    shared = data.get("shared")
    if not isinstance(shared, bool) or set(data) != {"shared"}:
        return error(400, "bad_field", 'the body is {"shared": true} or {"shared": false}')
    await asyncio.to_thread(_store(request).set_shared_for_training, session.id, shared)
    await _audit(request, user, "session.sharing_changed", session.id, shared=shared)
    return JSONResponse({"id": session.id, "shared_for_training": shared})


routes: list[Route] = [
    Route("/replay/{session_id}", replay_page, methods=["GET"]),
    Route("/api/sessions/{session_id}/events", session_events, methods=["GET"]),
    Route("/api/sessions/{session_id}/annotations", add_annotation, methods=["POST"]),
    Route("/api/sessions/{session_id}/share", share, methods=["POST"]),
    Route("/api/sessions/{session_id}/report.html", report, methods=["GET"]),
    Route("/api/sessions/{session_id}/export.{fmt}", export, methods=["GET"]),
    Route("/api/sessions/{session_id}/audio/{role}", audio, methods=["GET"]),
]
