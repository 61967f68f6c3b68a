"""Small HTTP helpers shared by the routes: JSON errors, bounded JSON bodies, same-origin
checks for state-changing requests made with a login cookie."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

from assistant.server.security import same_origin_headers

MAX_BODY = 16 * 1024
WEB = Path(__file__).resolve().parents[2] / "web"


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def json_body(request: Request) -> dict[str, Any] | JSONResponse:
    """The request's JSON object, or the error response to return."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return error(413, "too_large", f"request bodies are limited to {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return error(413, "too_large", f"request bodies are limited to {MAX_BODY} bytes")
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error(400, "bad_json", "the request body is not valid JSON")
    if not isinstance(data, dict):
        return error(400, "bad_json", "the request body must be a JSON object")
    return data


def same_origin(conn: HTTPConnection) -> bool:
    """A browser's cross-site request carries a foreign Origin (CSRF defence beside the
    SameSite=Strict cookie); requests without Origin (curl, tests) are not from a browser.
    WebSocket handshakes get the same check in ``security.SecurityMiddleware``."""
    return same_origin_headers(conn.headers)
