"""Security defaults, checked on a real `attune serve`: the OpenAPI schema names every route,
every page carries a strict CSP (and Chromium reports no violation on any page), security
headers everywhere, HSTS and Secure cookies over HTTPS (served directly with a self-signed
certificate, or behind a proxy), cross-site WebSocket handshakes refused, the login
brute-force limiter, the limits on open sessions per therapist and on the API rate, no secret
in the server's log (even with -v), and `attune analyze` refusing over-long recordings."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets
from starlette.routing import Mount, Route, WebSocketRoute

from assistant.server.app import ServeConfig, create_app
from assistant.server.openapi import SCHEMA, documented
from assistant.server.security import (
    HSTS,
    NO_CONTENT_CSP,
    PAGE_CSP,
    LoginThrottle,
    TokenBuckets,
    Window,
)
from assistant.store import open_store
from assistant.testing.live import (
    THERAPIST,
    LiveServer,
    api,
    create_session,
    free_port,
    live_server,
    token_of,
)
from tests.test_replay_routes import NeverTranscriber

PASSWORD = "security-password-123"
MAX_OPEN = 4
API_RATE = 6  # per minute: after the burst of 120, a request every 10 s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("security")
    store = open_store(tmp / "data")  # faster than `attune user add` six times
    try:
        store.add_user(THERAPIST[0], "therapist", THERAPIST[1])
        for name, role in (
            ("busy", "therapist"),
            ("racer", "therapist"),
            ("target", "therapist"),
            ("sam", "trainer"),
            ("ava", "assistant"),
            ("root", "admin"),
        ):
            store.add_user(name, role, PASSWORD)  # type: ignore[arg-type]
    finally:
        store.close()
    args = ("--max-open-sessions", str(MAX_OPEN), "--api-rate", str(API_RATE))
    with live_server(tmp, *args) as server:
        yield server


def request(
    server: LiveServer,
    path: str,
    *,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body, without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    req = urllib.request.Request(f"{server.base_url}{path}", data=data, headers=headers or {})
    if cookie:
        req.add_header("Cookie", cookie)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=20) as response:
            return response.status, _lower(response.headers.items()), response.read()
    except urllib.error.HTTPError as err:
        return err.code, _lower(err.headers.items()), err.read()


def _lower(items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in items:
        key = k.lower()
        out[key] = f"{out[key]}, {v}" if key in out else v
    return out


def login_form(username: str, password: str) -> bytes:
    return urllib.parse.urlencode({"username": username, "password": password}).encode()


# -- the schema ---------------------------------------------------------------------------


def test_the_openapi_schema_names_every_route_and_nothing_else(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    try:
        app = create_app(ServeConfig(data_dir=tmp_path / "data"), NeverTranscriber(), store=store)
        routes: set[tuple[str, str]] = set()
        sockets: set[str] = set()
        for route in app.routes:
            if isinstance(route, Route):
                routes |= {(m, route.path) for m in (route.methods or set()) - {"HEAD"}}
            elif isinstance(route, WebSocketRoute):
                sockets.add(route.path)
            elif isinstance(route, Mount):
                routes.add(("GET", f"{route.path}/{{path}}"))
    finally:
        store.close()
    missing = sorted(routes - documented())
    assert not missing, f"add these routes to assistant/server/openapi.py: {missing}"
    assert not sorted(documented() - routes), "the schema documents routes the app lacks"
    assert sockets == set(SCHEMA["x-websockets"])


def test_the_schema_is_served_and_valid(server: LiveServer) -> None:
    import schemathesis
    from schemathesis.core.result import Err

    status, headers, body = request(server, "/openapi.json")
    assert status == 200 and json.loads(body) == SCHEMA
    loaded = schemathesis.openapi.from_dict(json.loads(body))
    results = list(loaded.get_all_operations())
    broken = [r.err() for r in results if isinstance(r, Err)]
    assert not broken and len(results) == len(documented())


# -- headers ------------------------------------------------------------------------------


def test_every_page_has_a_strict_csp_and_every_answer_the_security_headers(
    server: LiveServer,
) -> None:
    session = create_session(server)
    therapist = server.therapist_cookie()
    assistant = server.cookie("ava", PASSWORD)
    pages = [
        ("/login", None),
        ("/", therapist),
        ("/room", None),
        ("/check", None),
        ("/monitor", assistant),
        (f"/replay/{session['id']}", therapist),
    ]
    for path, cookie in pages:
        status, headers, body = request(server, path, cookie=cookie)
        assert status == 200 and headers["content-type"].startswith("text/html"), path
        assert headers["content-security-policy"] == PAGE_CSP, path
        assert b"<script>" not in body and b" style=" not in body, path  # nothing inline
    status, headers, _ = request(
        server, f"/api/sessions/{session['id']}/report.html", cookie=therapist
    )
    assert status == 200
    report_csp = headers["content-security-policy"]  # its own: exactly its style block
    assert report_csp.startswith("default-src 'none'; style-src 'sha256-")
    for path in ("/api/me", "/healthz", "/static/room.js", "/nowhere", "/openapi.json"):
        status, headers, _ = request(server, path, cookie=therapist)
        assert headers["content-security-policy"] == NO_CONTENT_CSP, path
    for path in ("/login", "/api/me", "/static/style.css", "/nowhere"):
        _, headers, _ = request(server, path)
        assert headers["x-content-type-options"] == "nosniff"
        # not no-referrer: with it, browsers send a form's Origin as "null" (the CSRF check);
        # join tokens live in URL fragments, which are never sent in a Referer
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-frame-options"] == "DENY"
        assert "camera=(self)" in headers["permissions-policy"]
        assert "microphone=(self)" in headers["permissions-policy"]
        assert "strict-transport-security" not in headers  # plain HTTP
        assert "server" not in headers


CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def poll(page: Any, expression: str, timeout: float = 30.0) -> Any:
    """``page.evaluate`` until truthy (``wait_for_function`` needs eval, which the CSP bans)."""
    deadline = time.monotonic() + timeout
    while not (value := page.evaluate(expression)):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.2)
    return value


def join_room(page: Any, url: str, states: tuple[str, ...]) -> None:
    """Open a room, pass its setup check, reach one of ``states``, agree to transcription."""
    page.goto(url)
    ready = "window.attune && ['checking', 'waiting', 'in-call'].includes(window.attune.state)"
    poll(page, ready)
    if page.evaluate("window.attune.state") == "checking":
        page.locator("#join-call:not([disabled])").click(timeout=60000)
    poll(page, f"window.attune && {list(states)}.includes(window.attune.state)")
    page.locator("#consent-agree").click(timeout=20000)
    poll(page, "window.attune.consent && window.attune.consent.you === true")


@pytest.mark.browser
def test_chromium_reports_no_csp_violation_on_any_page(server: LiveServer, tmp_path: Path) -> None:
    """Every page, used as people use it (the therapist in a call with the panel drawn, the
    client in the waiting room, replay, home, the check, the monitor), under the real CSP."""
    from playwright.sync_api import sync_playwright

    from assistant.testing.live import launch_participant, log_in

    wav = tmp_path / "mic.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000)
    session = create_session(server)
    seen: list[str] = []
    with sync_playwright() as playwright:
        contexts = [
            launch_participant(playwright, tmp_path / who, wav, enforce_csp=True)
            for who in ("therapist", "client", "assistant")
        ]
        therapist, client, assistant = contexts
        for context in contexts:
            context.add_init_script(CSP_WATCH)
            context.on(
                "console",
                lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None,
            )
        try:
            pages = [log_in(therapist, server, *THERAPIST)]
            join_room(pages[0], session["therapist_url"], ("in-call",))
            pages.append(client.new_page())
            join_room(pages[1], session["client_url"], ("waiting", "in-call"))
            poll(pages[0], "document.querySelectorAll('#metrics .metric').length")
            for path in (f"/replay/{session['id']}", "/", "/check"):
                page = therapist.new_page()
                page.goto(f"{server.base_url}{path}")
                page.wait_for_load_state("networkidle")
                pages.append(page)
            page = log_in(assistant, server, "ava", PASSWORD)
            page.goto(f"{server.base_url}/monitor")
            page.wait_for_load_state("networkidle")
            pages.append(page)
            for page in pages:
                seen.extend(page.evaluate("window.__csp"))
        finally:
            for context in contexts:
                context.close()
    assert seen == []


def test_behind_a_tls_proxy_cookies_are_secure_and_hsts_is_sent(server: LiveServer) -> None:
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    status, headers, _ = request(
        server, "/login", headers=proxied, data=login_form("sam", PASSWORD)
    )
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "attune_login=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert headers["strict-transport-security"] == HSTS
    status, headers, _ = request(server, "/login", data=login_form("sam", PASSWORD))
    assert "Secure" not in headers["set-cookie"]  # plain HTTP, no --secure-cookies


# -- CSRF and cross-site WebSockets -------------------------------------------------------


def test_cross_site_websocket_handshakes_are_refused(server: LiveServer) -> None:
    session = create_session(server)
    cookie = server.therapist_cookie()
    ws_base = server.base_url.replace("http://", "ws://")
    host = server.base_url.split("//", 1)[1]

    async def hello(path: str, origin: str | None) -> str:
        headers = {"Cookie": cookie, **({"Origin": origin} if origin else {})}
        try:
            async with websockets.connect(f"{ws_base}{path}", additional_headers=headers) as ws:
                await ws.send(
                    json.dumps({"type": "hello", "token": token_of(session["therapist_url"])})
                )
                if path == "/ws/panel":
                    await ws.send(json.dumps({"type": "ping"}))
                return str(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"])
        except websockets.InvalidStatus as exc:
            return f"refused {exc.response.status_code}"

    async def main() -> None:
        for path in ("/ws/control", "/ws/panel", "/ws/monitor", "/ws/check"):
            for origin in ("https://evil.example", f"http://{host}.evil.example", "null"):
                assert await hello(path, origin) == "refused 403", (path, origin)
        assert await hello("/ws/control", f"http://{host}") == "welcome"
        assert await hello("/ws/control", None) == "welcome"  # not a browser
        assert await hello("/ws/panel", f"http://{host}") == "pong"

    asyncio.run(main())
    assert "refused a WebSocket to /ws/control from another origin" in server.log()


def test_cookie_changes_from_another_site_are_refused(server: LiveServer) -> None:
    cookie = server.therapist_cookie()
    body = json.dumps({"planned_minutes": 30}).encode()
    json_type = {"Content-Type": "application/json"}
    status, _, answer = request(
        server,
        "/api/sessions",
        cookie=cookie,
        data=body,
        headers={**json_type, "Origin": "https://evil.example"},
    )
    assert status == 403 and json.loads(answer)["error"] == "cross_site"
    status, _, _ = request(
        server, "/login", data=login_form(*THERAPIST), headers={"Origin": "https://evil.example"}
    )
    assert status == 403


# -- limits -------------------------------------------------------------------------------


def test_login_brute_force_is_limited_per_user_name_and_address(server: LiveServer) -> None:
    for _ in range(10):
        status, headers, _ = request(server, "/login", data=login_form("target", "guess"))
        assert status == 303 and headers["location"] == "/login#failed"
    status, headers, body = request(server, "/login", data=login_form("target", "guess"))
    assert status == 429 and 800 <= int(headers["retry-after"]) <= 900
    assert json.loads(body)["error"] == "rate_limited"
    # the right password waits too: otherwise the limit would not slow a guesser down
    status, headers, body = request(
        server,
        "/login",
        data=login_form("target", PASSWORD),
        headers={"Accept": "text/html,application/xhtml+xml"},
    )
    assert status == 429 and b"Too many failed log-ins" in body
    assert headers["content-security-policy"] == PAGE_CSP
    # other accounts from the same address, and the same account from elsewhere, still log in
    status, headers, _ = request(server, "/login", data=login_form("sam", PASSWORD))
    assert status == 303 and headers["location"] == "/"
    status, headers, _ = request(
        server,
        "/login",
        data=login_form("target", PASSWORD),
        headers={"X-Forwarded-For": "198.51.100.7"},  # the trusted local proxy's client
    )
    assert status == 303 and headers["location"] == "/"


def test_a_therapist_holds_a_bounded_number_of_open_sessions(server: LiveServer) -> None:
    busy = ("busy", PASSWORD)
    made = []
    for _ in range(MAX_OPEN):
        status, body = api(server, "POST", "/api/sessions", {"planned_minutes": 30}, login=busy)
        assert status == 201, body
        made.append(body)
    status, body = api(server, "POST", "/api/sessions", {"planned_minutes": 30}, login=busy)
    assert status == 429 and body["error"] == "too_many_sessions"
    status, _ = api(server, "POST", "/api/sessions", {"planned_minutes": 30}, login=THERAPIST)
    assert status == 201  # another therapist is not affected

    async def end(session: dict[str, Any]) -> None:
        ws_base = server.base_url.replace("http://", "ws://")
        headers = {"Cookie": server.cookie(*busy)}
        async with websockets.connect(f"{ws_base}/ws/control", additional_headers=headers) as ws:
            await ws.send(
                json.dumps({"type": "hello", "token": token_of(session["therapist_url"])})
            )
            await ws.send(json.dumps({"type": "end"}))
            while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "ended":
                pass

    asyncio.run(end(made[0]))
    deadline = time.monotonic() + 20  # "ended" is sent just before the store records it
    while True:
        status, body = api(server, "POST", "/api/sessions", {"planned_minutes": 30}, login=busy)
        if status != 429 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 201, body  # an ended session no longer counts


def test_simultaneous_creations_cannot_pass_the_open_session_limit(server: LiveServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    racer = ("racer", PASSWORD)
    opener = server.login(*racer)  # one login, eight requests at once

    def create(_: int) -> int:
        request = urllib.request.Request(
            f"{server.base_url}/api/sessions",
            data=json.dumps({"planned_minutes": 30}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with opener.open(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as refused:
            return refused.code

    with ThreadPoolExecutor(max_workers=MAX_OPEN * 2) as pool:
        statuses = sorted(pool.map(create, range(MAX_OPEN * 2)))
    assert statuses == [201] * MAX_OPEN + [429] * MAX_OPEN


def test_the_json_api_is_rate_limited_per_login(server: LiveServer) -> None:
    trainer = server.cookie("sam", PASSWORD)
    statuses = [request(server, "/api/me", cookie=trainer)[0] for _ in range(125)]
    assert statuses[:100] == [200] * 100
    assert statuses[-1] == 429
    status, headers, body = request(server, "/api/me", cookie=trainer)
    assert status == 429 and 1 <= int(headers["retry-after"]) <= 10
    assert json.loads(body)["error"] == "rate_limited"
    assert request(server, "/api/me", cookie=server.therapist_cookie())[0] == 200
    assert request(server, "/login")[0] == 200  # pages are not limited


def test_limiters_forget_old_events_and_bound_their_memory() -> None:
    window = Window(limit=2, window_s=10, max_keys=3)
    window.add("a", now=0)
    window.add("a", now=1)
    assert window.retry_after("a", now=2) == pytest.approx(8)
    assert window.retry_after("a", now=10.5) is None  # the first failure aged out
    for key in "bcde":
        window.add(key, now=11)
    assert len(window._hits) == 3
    buckets = TokenBuckets(rate_per_minute=60, burst=2, max_keys=2)
    assert buckets.take("x", now=0) is None and buckets.take("x", now=0) is None
    assert buckets.take("x", now=0) == pytest.approx(1.0)
    assert buckets.take("x", now=1.0) is None
    throttle = LoginThrottle(per_user=2, per_address=3, window_s=60)
    throttle.failed("a", "1.2.3.4")
    throttle.failed("A", "1.2.3.4")
    assert throttle.retry_after("a", "1.2.3.4") is not None  # names compare case-folded
    assert throttle.retry_after("a", "5.6.7.8") is None
    throttle.failed("b", "1.2.3.4")
    assert throttle.retry_after("c", "1.2.3.4") is not None  # the address's limit


# -- TLS ----------------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


@contextmanager
def serve(
    tmp: Path, *args: str, verbose: bool = False, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[str, Path]]:
    """`attune [-v] serve ...` in a subprocess; yields its base URL and its log."""
    data = tmp / "data"
    store = open_store(data)
    store.add_user(THERAPIST[0], "therapist", THERAPIST[1])
    store.close()
    port = free_port()
    log_path = tmp / "server.log"
    command = [sys.executable, "-m", "assistant", *(["-v"] if verbose else []), "serve"]
    command += ["--port", str(port), "--data", str(data), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1, context=tls):
                    break
            except (urllib.error.URLError, ConnectionError, ssl.SSLError):
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        yield base, log_path
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_https_served_directly_and_no_secret_in_its_debug_log(tmp_path: Path) -> None:
    """`attune -v serve --certfile --keyfile`: HSTS, Secure cookies, wss sockets; then a whole
    session (log-ins right and wrong, both links, an offer and its answer, the end) leaves no
    password, login cookie, join token or ICE password in the log, debug lines included."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    certfile, keyfile = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(certfile))
    args = ("--certfile", str(certfile), "--keyfile", str(keyfile))
    with serve(tmp_path, *args, tls=trust, verbose=True) as (base, log_path):
        jar = urllib.request.HTTPCookieProcessor()
        opener = urllib.request.build_opener(jar, urllib.request.HTTPSHandler(context=trust))
        wrong = login_form(THERAPIST[0], "a-wrong-password-987")
        with opener.open(f"{base}/login", wrong, timeout=20) as response:
            assert response.url == f"{base}/login#failed"
        with opener.open(f"{base}/login", login_form(*THERAPIST), timeout=20) as response:
            assert response.url == f"{base}/"
            assert response.headers["Strict-Transport-Security"] == HSTS
        (cookie,) = list(jar.cookiejar)
        assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
        body = json.dumps({"planned_minutes": 30}).encode()
        request_ = urllib.request.Request(
            f"{base}/api/sessions", body, {"Content-Type": "application/json"}
        )
        with opener.open(request_, timeout=20) as response:
            session = json.loads(response.read())
        assert session["therapist_url"].startswith("https://")
        tokens = [token_of(session["therapist_url"]), token_of(session["client_url"])]
        ice_passwords: list[str] = []

        async def call() -> None:
            ws_base = base.replace("https://", "wss://")
            login = {"Cookie": f"{cookie.name}={cookie.value}"}

            async def connect(path: str, headers: dict[str, str]) -> Any:
                return await websockets.connect(
                    f"{ws_base}{path}", ssl=trust, additional_headers=headers
                )

            therapist = await connect("/ws/control", login)
            panel = await connect("/ws/panel", login)
            client = await connect("/ws/control", {})
            for ws, token in ((therapist, tokens[0]), (panel, tokens[0]), (client, tokens[1])):
                await ws.send(json.dumps({"type": "hello", "token": token}))
            for ws in (therapist, client):
                assert json.loads(await asyncio.wait_for(ws.recv(), 60))["type"] == "welcome"
            await therapist.send(json.dumps({"type": "admit"}))
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTransceiver("audio", direction="sendrecv")
            await pc.setLocalDescription(await pc.createOffer())
            ice_passwords.extend(_ice_passwords(pc.localDescription.sdp))
            await client.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
            while (answer := json.loads(await asyncio.wait_for(client.recv(), 60)))[
                "type"
            ] != "answer":
                pass
            ice_passwords.extend(_ice_passwords(answer["sdp"]))
            await therapist.send(json.dumps({"type": "end"}))
            while json.loads(await asyncio.wait_for(therapist.recv(), 60))["type"] != "ended":
                pass
            await pc.close()
            for ws in (therapist, panel, client):
                await ws.close()

        asyncio.run(call())
        time.sleep(1)
        log = log_path.read_text()
    assert f"Attune is running on {base}" in log
    assert " DEBUG " in log  # debug logging was on
    assert len(ice_passwords) == 2
    secrets_ = [THERAPIST[1], "a-wrong-password-987", cookie.value or "", *tokens, *ice_passwords]
    for secret in secrets_:
        assert secret and secret not in log, f"a secret is in the server log: {secret[:6]}..."


def _ice_passwords(sdp: str) -> list[str]:
    return sorted({line.split(":", 1)[1] for line in sdp.splitlines() if "ice-pwd:" in line})


# -- attune analyze -----------------------------------------------------------------------


def test_analyze_refuses_recordings_longer_than_the_limit(tmp_path: Path) -> None:
    paths = []
    for name in ("therapist", "client"):
        path = tmp_path / f"{name}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(b"\0\0" * 16000 * 4)  # 4 s
        paths.append(path)
    out = tmp_path / "events.jsonl"
    command = [sys.executable, "-m", "assistant", "analyze", "--therapist", str(paths[0])]
    command += ["--client", str(paths[1]), "--out", str(out), "--no-cues", "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [*command, "--max-hours", "0.001"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "therapist.wav: lasts 0:00:04, longer than the limit of 0.001 hours" in done.stderr
    assert not out.exists()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr  # 4 s is well within the default 4 hours


def _mp3(path: Path, seconds: float, bit_rate: int) -> bytes:
    """A tone as CBR MP3 frames with no Xing header and no ID3 tag."""
    import av
    import numpy as np

    rate = 16000
    options = {"write_xing": "0", "id3v2_version": "0"}
    with av.open(str(path), "w", format="mp3", options=options) as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = bit_rate
        t = np.arange(int(seconds * rate)) / rate
        pcm = (0.2 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
        for i in range(0, len(pcm), 1152):
            frame = av.AudioFrame.from_ndarray(pcm[None, i : i + 1152], format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path.read_bytes()


def test_analyze_stops_decoding_a_file_whose_container_understates_its_length(
    tmp_path: Path,
) -> None:
    """1 s at 160 kbit/s then 20 s at 8 kbit/s: the demuxer estimates the length from the first
    frames' bit rate (under 4 s), the decoder finds 21 s. The limit holds all the same, and
    decoding stops just past it rather than holding the whole file first."""
    from assistant.analyze import MAX_AUDIO_HOURS, audio_seconds, load_tracks
    from assistant.errors import InputError
    from assistant.speech.audio_in import TooLong, decode_file

    lying = tmp_path / "therapist.mp3"
    data = _mp3(tmp_path / "a.mp3", 1.0, 160_000) + _mp3(tmp_path / "b.mp3", 20.0, 8_000)
    lying.write_bytes(data)
    said = audio_seconds(lying, 3600.0)
    assert said is not None and said < 5.0  # the container understates
    assert len(decode_file(lying)) / 16000 > 20.0  # what is really there
    with pytest.raises(TooLong) as stopped:
        decode_file(lying, max_seconds=8.0)
    assert 8.0 < stopped.value.seconds < 9.0  # stopped one frame past the limit
    with pytest.raises(InputError, match=r"therapist.mp3: lasts 0:00:0\d, longer than the limit"):
        load_tracks(lying, lying, max_hours=8.0 / 3600)
    assert len(load_tracks(lying, lying, MAX_AUDIO_HOURS)["client"]) > 20 * 16000
