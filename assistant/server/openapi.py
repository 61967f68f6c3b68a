"""The OpenAPI 3.0 schema of every HTTP route, served at ``/openapi.json``.

Written by hand, kept true by tests: ``tests/test_security.py`` fails when a route of the app is
missing here (or documented here and gone), and ``tests/test_fuzz_http.py`` fuzzes a real
`attune serve` against it with schemathesis, checking every answer's status code, content
type and JSON body against what is written here. The WebSockets (``/ws/control``,
``/ws/panel``) are not HTTP operations; ``x-websockets`` names them and their protocol is in
docs/architecture.md.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assistant.live.sessions import MAX_PLANNED_MINUTES, MIN_PLANNED_MINUTES
from assistant.reports.session import CLIENT_LABELS, THERAPIST_LABELS

JSON = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref("Error")}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


REDIRECT = {
    "description": "redirect (to the login page, or after a form)",
    "headers": {"Location": {"schema": {"type": "string"}}},
}
RATE_LIMITED = {
    "description": "too many requests: wait Retry-After seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    "content": {
        JSON: {"schema": _ref("Error")},
        "text/html": {"schema": {"type": "string"}},
    },
}
LOGIN_REQUIRED = _error("no valid login cookie")
FORBIDDEN = _error("the role may not do this (or the request came from another site)")
NOT_FOUND = _error("no such session, or one this login may not read (the same answer)")
TOO_LARGE = _error("the body is over 16 KiB")
BAD_FIELD = _error("the body is not a JSON object of the documented fields")
COOKIE_AUTH: list[dict[str, list[str]]] = [{"loginCookie": []}]


def _content_op(summary: str, ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A GET of a session's content: the owner, or trainers of a shared session."""
    return {
        "summary": summary,
        "security": COOKIE_AUTH,
        "parameters": [{"$ref": "#/components/parameters/session_id"}],
        "responses": {
            "200": ok,
            "401": LOGIN_REQUIRED,
            "403": FORBIDDEN,
            "404": NOT_FOUND,
            "429": RATE_LIMITED,
        },
        **extra,
    }


def _change_op(summary: str, body: dict[str, Any], ok: dict[str, Any]) -> dict[str, Any]:
    code = "201" if "201" in ok else "200"
    return {
        "summary": summary,
        "security": COOKIE_AUTH,
        "parameters": [{"$ref": "#/components/parameters/session_id"}],
        "requestBody": {"required": True, "content": {JSON: {"schema": body}}},
        "responses": {
            code: ok[code],
            "400": BAD_FIELD,
            "401": LOGIN_REQUIRED,
            "403": FORBIDDEN,
            "404": NOT_FOUND,
            "413": TOO_LARGE,
            "415": _error("the body must be sent as application/json"),
            "429": RATE_LIMITED,
        },
    }


SESSION_SUMMARY = {
    "type": "object",
    "required": ["id", "planned_minutes", "created_at", "ended_at", "shared_for_training"],
    "properties": {
        "id": {"type": "string"},
        "planned_minutes": {"type": "integer", "nullable": True},
        "created_at": {"type": "string"},
        "ended_at": {"type": "string", "nullable": True},
        "shared_for_training": {"type": "boolean"},
        "label": {"type": "string", "description": "content: therapists and trainers only"},
        "record_audio": {"type": "boolean"},
        "live": {"type": "boolean"},
    },
}
ANNOTATION = {
    "type": "object",
    "required": ["id", "utterance_id", "kind", "body", "author_id", "at"],
    "properties": {
        "id": {"type": "integer"},
        "utterance_id": {"type": "string", "nullable": True},
        "kind": {"type": "string", "enum": ["comment", "label_correction"]},
        "body": {"type": "object"},
        "author_id": {"type": "integer"},
        "author": {"type": "string", "nullable": True},
        "author_role": {"type": "string", "nullable": True},
        "at": {"type": "string", "nullable": True},
    },
}
LABEL_NAMES = sorted(set(THERAPIST_LABELS) | set(CLIENT_LABELS))

SCHEMA: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Attune",
        "version": "1",
        "description": (
            "The HTTP routes of `attune serve`. Log in with POST /login (a form); the answer "
            "sets the http-only, SameSite=Strict login cookie `attune_login` that the "
            "other routes read. Requests that change something with the cookie must come from "
            "Attune's own origin (Origin header) and, for JSON, as application/json."
        ),
    },
    "x-websockets": {
        "/ws/control": "signalling, join state, consent, admit (hello with a join token first)",
        "/ws/panel": "the therapist's private panel (therapist link and login cookie)",
        "/ws/check": "the setup check's WebRTC loopback (no account)",
        "/ws/monitor": "the monitor's live health of sessions (assistants, admins)",
    },
    "components": {
        "securitySchemes": {
            "loginCookie": {"type": "apiKey", "in": "cookie", "name": "attune_login"},
        },
        "parameters": {
            "session_id": {
                "name": "session_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1},
            },
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            },
            "SessionSummary": SESSION_SUMMARY,
            "Annotation": ANNOTATION,
        },
    },
    "paths": {
        "/": {
            "get": {
                "summary": "the home page (sessions by role)",
                "responses": {"200": _html("the page"), "303": REDIRECT},
            }
        },
        "/login": {
            "get": {"summary": "the login page", "responses": {"200": _html("the page")}},
            "post": {
                "summary": "log in (a form); sets the login cookie",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "username": {"type": "string"},
                                    "password": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "303": REDIRECT,
                    "400": _error("the form could not be read"),
                    "403": _error("the form was posted from another site"),
                    "413": TOO_LARGE,
                    "429": RATE_LIMITED,
                },
            },
        },
        "/logout": {"post": {"summary": "log out", "responses": {"303": REDIRECT}}},
        "/room": {
            "get": {
                "summary": "the session page (the join token is in the URL fragment)",
                "responses": {"200": _html("the page")},
            }
        },
        "/check": {
            "get": {
                "summary": "the setup check page (no account, no link needed)",
                "responses": {"200": _html("the page")},
            }
        },
        "/monitor": {
            "get": {
                "summary": "the virtual assistant's monitor of live sessions (health, no content)",
                "security": COOKIE_AUTH,
                "responses": {
                    "200": _html("the page"),
                    "303": REDIRECT,
                    "403": FORBIDDEN,
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (from the server's machine, or for admins)",
                "responses": {
                    "200": {
                        "description": "the metrics, Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "403": FORBIDDEN,
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "liveness and counters (never content)",
                "responses": {
                    "200": _json(
                        "the server is up",
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {"status": {"type": "string", "enum": ["ok"]}},
                        },
                    )
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "this schema",
                "responses": {"200": _json("the schema", {"type": "object"})},
            }
        },
        "/static/{path}": {
            "get": {
                "summary": "the pages' scripts and styles",
                "parameters": [
                    {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "the file"},
                    "304": {"description": "not modified"},
                    "404": {"description": "no such file"},
                    "405": {"description": "not a GET or HEAD"},
                },
            }
        },
        "/api/me": {
            "get": {
                "summary": "who is logged in",
                "security": COOKIE_AUTH,
                "responses": {
                    "200": _json(
                        "the login's user",
                        {
                            "type": "object",
                            "required": ["username", "role"],
                            "properties": {
                                "username": {"type": "string"},
                                "role": {
                                    "type": "string",
                                    "enum": ["therapist", "assistant", "trainer", "admin"],
                                },
                            },
                        },
                    ),
                    "401": LOGIN_REQUIRED,
                    "429": RATE_LIMITED,
                },
            }
        },
        "/api/sessions": {
            "get": {
                "summary": "the sessions this role sees (labels only for therapists, trainers)",
                "security": COOKIE_AUTH,
                "responses": {
                    "200": _json(
                        "the sessions",
                        {
                            "type": "object",
                            "required": ["sessions"],
                            "properties": {
                                "sessions": {"type": "array", "items": _ref("SessionSummary")}
                            },
                        },
                    ),
                    "401": LOGIN_REQUIRED,
                    "403": FORBIDDEN,
                    "429": RATE_LIMITED,
                },
            },
            "post": {
                "summary": "create a session and its two join links (therapists)",
                "security": COOKIE_AUTH,
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "planned_minutes": {
                                        "type": "integer",
                                        "minimum": MIN_PLANNED_MINUTES,
                                        "maximum": MAX_PLANNED_MINUTES,
                                    },
                                    "label": {"type": "string", "maxLength": 200},
                                    "record_audio": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(
                        "the session and its links (shown once)",
                        {
                            "allOf": [
                                _ref("SessionSummary"),
                                {
                                    "type": "object",
                                    "required": ["therapist_url", "client_url"],
                                    "properties": {
                                        "therapist_url": {"type": "string"},
                                        "client_url": {"type": "string"},
                                    },
                                },
                            ]
                        },
                    ),
                    "400": BAD_FIELD,
                    "401": LOGIN_REQUIRED,
                    "403": FORBIDDEN,
                    "413": TOO_LARGE,
                    "429": RATE_LIMITED,
                },
            },
        },
        "/replay/{session_id}": {
            "get": {
                "summary": "the replay page (the APIs decide what it shows)",
                "parameters": [{"$ref": "#/components/parameters/session_id"}],
                "responses": {"200": _html("the page"), "303": REDIRECT},
            }
        },
        "/api/sessions/{session_id}/events": {
            "get": _content_op(
                "a session's stored events, annotations and label vocabulary",
                _json(
                    "the session's content",
                    {
                        "type": "object",
                        "required": ["session", "viewer", "events", "annotations", "vocabulary"],
                        "properties": {
                            "session": {"type": "object"},
                            "viewer": {"type": "object"},
                            "events": {"type": "array", "items": {"type": "object"}},
                            "annotations": {"type": "array", "items": _ref("Annotation")},
                            "vocabulary": {"type": "object"},
                        },
                    },
                ),
            )
        },
        "/api/sessions/{session_id}/annotations": {
            "post": _change_op(
                "a comment or a label correction on an utterance",
                {
                    "type": "object",
                    "required": ["utterance_id", "kind", "body"],
                    "properties": {
                        "utterance_id": {"type": "string"},
                        "kind": {"type": "string", "enum": ["comment", "label_correction"]},
                        "body": {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["text"],
                                    "properties": {"text": {"type": "string", "maxLength": 2000}},
                                    "additionalProperties": False,
                                },
                                {
                                    "type": "object",
                                    "required": ["labels"],
                                    "properties": {
                                        "labels": {
                                            "type": "object",
                                            "description": "label: value; the labels are "
                                            + ", ".join(LABEL_NAMES),
                                        }
                                    },
                                    "additionalProperties": False,
                                },
                            ]
                        },
                    },
                    "additionalProperties": False,
                },
                {"201": _json("the annotation", _ref("Annotation"))},
            )
        },
        "/api/sessions/{session_id}/share": {
            "post": _change_op(
                "share a session for training, or stop (its therapist)",
                {
                    "type": "object",
                    "required": ["shared"],
                    "properties": {"shared": {"type": "boolean"}},
                    "additionalProperties": False,
                },
                {
                    "200": _json(
                        "the new state",
                        {
                            "type": "object",
                            "required": ["id", "shared_for_training"],
                            "properties": {
                                "id": {"type": "string"},
                                "shared_for_training": {"type": "boolean"},
                            },
                        },
                    )
                },
            )
        },
        "/api/sessions/{session_id}/report.html": {
            "get": _content_op(
                "the printable report",
                _html("the report (its own CSP: nothing but its style block)"),
                parameters=[
                    {"$ref": "#/components/parameters/session_id"},
                    {
                        "name": "download",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
            )
        },
        "/api/sessions/{session_id}/export.{fmt}": {
            "get": {
                **_content_op(
                    "an export: WebVTT, JSON lines (the schema of `attune analyze`) or CSV",
                    {
                        "description": "the export",
                        "content": {
                            "text/vtt": {"schema": {"type": "string"}},
                            "application/x-ndjson": {"schema": {"type": "string"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                ),
                "parameters": [
                    {"$ref": "#/components/parameters/session_id"},
                    {
                        "name": "fmt",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["vtt", "jsonl", "csv"]},
                    },
                ],
            }
        },
        "/api/sessions/{session_id}/audio/{role}": {
            "get": {
                **_content_op(
                    "a speaker's recorded audio (Ogg/Opus), whole or one byte range",
                    {"description": "the audio", "content": {"audio/ogg": {}}},
                ),
                "parameters": [
                    {"$ref": "#/components/parameters/session_id"},
                    {
                        "name": "role",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["therapist", "client"]},
                    },
                    {
                        "name": "Range",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
            }
        },
    },
}
# byte ranges and "no audio recorded" answers of the audio route
_audio = SCHEMA["paths"]["/api/sessions/{session_id}/audio/{role}"]["get"]["responses"]
_audio["206"] = {"description": "one byte range", "content": {"audio/ogg": {}}}
_audio["416"] = {"description": "the range is outside the file"}


def schema() -> dict[str, Any]:
    """A copy of the schema (callers may change it)."""
    return copy.deepcopy(SCHEMA)


def documented() -> set[tuple[str, str]]:
    """(METHOD, path template) of every operation in the schema."""
    return {
        (method.upper(), path)
        for path, ops in SCHEMA["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }


async def openapi_json(request: Request) -> Response:
    return JSONResponse(SCHEMA)


routes = [Route("/openapi.json", openapi_json, methods=["GET"])]
