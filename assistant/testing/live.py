"""Helpers for live-room tests and benchmarks: a real `attune serve` in a subprocess, session
creation, and headless Chromium with fake camera and microphone fed from WAV files.

Browser tests of later issues reuse these: ``LiveServer``, ``create_session``,
``launch_participant``, ``join_as_therapist``, ``join_as_client``, ``admit``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
THERAPIST_KEY = "test-therapist-key-0123456789"


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
    key: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")


@contextmanager
def live_server(tmp: Path, *extra: str, key: str = THERAPIST_KEY) -> Iterator[LiveServer]:
    """`attune serve` on a free port, stopped (and its log kept in ``tmp``) afterwards."""
    port = free_port()
    log_path = tmp / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "assistant",
                "serve",
                "--port",
                str(port),
                "--therapist-key",
                key,
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", key, process, log_path)
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
    server: LiveServer, method: str, path: str, body: object = None, key: str | None = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{server.base_url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def create_session(
    server: LiveServer, planned_minutes: int = 50, label: str = "test"
) -> dict[str, Any]:
    status, body = api(
        server,
        "POST",
        "/api/sessions",
        {"planned_minutes": planned_minutes, "label": label},
        key=server.key,
    )
    if status != 201:
        raise RuntimeError(f"creating a session failed: {status} {body}")
    return body


def token_of(url: str) -> str:
    return url.split("#token=", 1)[1]


def launch_participant(playwright: Any, profile: Path, audio_wav: Path) -> Any:
    """A headless Chromium (fresh profile) whose fake microphone plays ``audio_wav``."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium_path(),
        headless=True,
        args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={audio_wav}"],
        permissions=["camera", "microphone"],
    )


def consent(page: Any, agree: bool = True) -> None:
    """Answer the consent question shown when a page joins."""
    page.locator("#consent-agree" if agree else "#consent-decline").click(timeout=20000)
    page.wait_for_function(
        f"window.attune.consent && window.attune.consent.you === {str(agree).lower()}"
    )


def join_as_therapist(context: Any, session: dict[str, Any], *, agree: bool = True) -> Any:
    page = context.new_page()
    page.goto(session["therapist_url"])
    page.wait_for_function("window.attune && window.attune.state === 'in-call'", timeout=20000)
    consent(page, agree)
    return page


def join_as_client(context: Any, session: dict[str, Any], *, agree: bool = True) -> Any:
    page = context.new_page()
    page.goto(session["client_url"])
    page.wait_for_function(
        "window.attune && ['waiting', 'in-call'].includes(window.attune.state)", timeout=20000
    )
    consent(page, agree)
    return page


def admit(therapist_page: Any, client_page: Any) -> None:
    therapist_page.locator("#admit").click(timeout=20000)
    client_page.wait_for_function("window.attune.state === 'in-call'", timeout=20000)
