"""Helpers for live-room tests and benchmarks: a real `attune serve` in a subprocess, session
creation, and headless Chromium with fake camera and microphone fed from WAV files.

Browser tests of later issues reuse these: ``live_server`` (with a therapist account),
``add_user``, ``LiveServer.login``, ``api``, ``create_session``, ``launch_participant``,
``join_as_therapist`` and ``join_as_client`` (which pass the setup check and answer the
consent question), ``admit``.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
]
THERAPIST = ("tess", "tess-password-123")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("Debian's chromium is not installed (scripts/test installs it)")


@dataclass
class LiveServer:
    base_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    _logins: dict[str, urllib.request.OpenerDirector] = field(default_factory=dict)
    _jars: dict[str, http.cookiejar.CookieJar] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def login(self, username: str, password: str) -> urllib.request.OpenerDirector:
        """A client holding the login cookie of this account (cached per user)."""
        if username not in self._logins:
            jar = self._jars[username] = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            form = urllib.parse.urlencode({"username": username, "password": password})
            with opener.open(f"{self.base_url}/login", form.encode(), timeout=10) as response:
                if response.url.rstrip("/") != self.base_url:  # back on /login: refused
                    raise RuntimeError(f"logging in as {username} failed: {response.url}")
            self._logins[username] = opener
        return self._logins[username]

    def cookie(self, username: str, password: str) -> str:
        """The ``Cookie`` header of a logged-in account (for WebSocket clients)."""
        self.login(username, password)
        return "; ".join(f"{c.name}={c.value}" for c in self._jars[username])

    def therapist_cookie(self) -> str:
        return self.cookie(*THERAPIST)


def add_user(data_dir: Path, name: str, role: str, password: str) -> None:
    """Create an account with the real `attune user add` command."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant",
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--data",
            str(data_dir),
        ],
        input=password + "\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )


@contextmanager
def live_server(tmp: Path, *extra: str) -> Iterator[LiveServer]:
    """`attune serve` on a free port with its own data folder and a therapist account
    (``THERAPIST``); stopped (its log kept in ``tmp``) afterwards."""
    port = free_port()
    data_dir = tmp / "data"
    if not (data_dir / "attune.db").exists():
        add_user(data_dir, *THERAPIST[:1], "therapist", THERAPIST[1])
    log_path = tmp / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "assistant",
                "serve",
                "--port",
                str(port),
                "--data",
                str(data_dir),
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", data_dir, process, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"attune serve exited:\n{server.log()}")
            try:
                with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"attune serve did not start:\n{server.log()}") from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def api(
    server: LiveServer,
    method: str,
    path: str,
    body: object = None,
    login: tuple[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """A JSON request, anonymous or as a logged-in account."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{server.base_url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    opener = server.login(*login) if login else urllib.request.build_opener()
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def create_session(
    server: LiveServer, planned_minutes: int = 50, label: str = "test", **fields: Any
) -> dict[str, Any]:
    """A new session, created by the therapist account through the real API."""
    status, body = api(
        server,
        "POST",
        "/api/sessions",
        {"planned_minutes": planned_minutes, "label": label, **fields},
        login=THERAPIST,
    )
    if status != 201:
        raise RuntimeError(f"creating a session failed: {status} {body}")
    return body


def token_of(url: str) -> str:
    return url.split("#token=", 1)[1]


def launch_participant(
    playwright: Any, profile: Path, audio_wav: Path, *, enforce_csp: bool = False
) -> Any:
    """A headless Chromium (fresh profile) whose fake microphone plays ``audio_wav``.

    Playwright's ``wait_for_function`` evaluates its predicate with ``eval``, which the pages'
    Content-Security-Policy forbids, so tests bypass the CSP unless ``enforce_csp`` (then poll
    with ``page.evaluate``, which the CSP does not cover)."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium_path(),
        headless=True,
        args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={audio_wav}"],
        permissions=["camera", "microphone"],
        bypass_csp=not enforce_csp,
    )


def consent(page: Any, agree: bool = True) -> None:
    """Answer the consent question shown when a page joins."""
    page.locator("#consent-agree" if agree else "#consent-decline").click(timeout=20000)
    page.wait_for_function(
        f"window.attune.consent && window.attune.consent.you === {str(agree).lower()}"
    )


def log_in(context: Any, server: LiveServer, username: str, password: str) -> Any:
    """Log a browser in through the real login page; returns the page (on the home page)."""
    page = context.new_page()
    page.goto(f"{server.base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.base_url}/", timeout=20000)
    return page


def pass_setup_check(page: Any, *, timeout: float = 60000) -> dict[str, Any] | None:
    """Go through the setup check a room shows before joining (skipped on a rejoin); returns
    the check's summary."""
    page.wait_for_function(
        "window.attune && ['checking', 'waiting', 'in-call'].includes(window.attune.state)",
        timeout=20000,
    )
    if page.evaluate("window.attune.state") != "checking":
        return None
    page.locator("#join-call:not([disabled])").click(timeout=timeout)
    summary: dict[str, Any] = page.evaluate("window.attune.check")
    return summary


def join_as_therapist(
    context: Any, session: dict[str, Any], server: LiveServer, *, agree: bool = True
) -> Any:
    """The therapist logs in, then opens their session room and answers the consent."""
    page = log_in(context, server, *THERAPIST)
    page.goto(session["therapist_url"])
    pass_setup_check(page)
    page.wait_for_function("window.attune && window.attune.state === 'in-call'", timeout=20000)
    consent(page, agree)
    return page


def join_as_client(context: Any, session: dict[str, Any], *, agree: bool = True) -> Any:
    page = context.new_page()
    page.goto(session["client_url"])
    pass_setup_check(page)
    page.wait_for_function(
        "window.attune && ['waiting', 'in-call'].includes(window.attune.state)", timeout=20000
    )
    consent(page, agree)
    return page


def admit(therapist_page: Any, client_page: Any) -> None:
    therapist_page.locator("#admit").click(timeout=20000)
    client_page.wait_for_function("window.attune.state === 'in-call'", timeout=20000)
