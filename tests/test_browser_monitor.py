"""End to end in headless Chromium with fake devices: the setup check page, and the virtual
assistant's monitor watching two live sessions (alerts, nudges, a screenshot)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from assistant.speech.audio_in import SAMPLE_RATE
from assistant.testing.live import (
    THERAPIST,
    add_user,
    admit,
    api,
    create_session,
    join_as_client,
    join_as_therapist,
    launch_participant,
    live_server,
    log_in,
    token_of,
)
from assistant.testing.peer import PeerParticipant, start_call
from assistant.testing.synth import synth_dialogue, write_wav

pytestmark = [pytest.mark.browser, pytest.mark.model]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ASSISTANT = ("ava", "ava-password-123")
OTHER_THERAPIST = ("theo", "theo-password-123")
SPEECH = [
    ("therapist", "Hello, this is a test of my microphone before the session starts."),
    ("therapist", "I am speaking clearly so that the check can hear me."),
]


def poll(page: Any, expression: str, within: float, what: str) -> Any:
    """``page.evaluate`` until truthy: unlike ``wait_for_function`` it runs under the pages'
    Content-Security-Policy, which forbids ``eval``."""
    deadline = time.monotonic() + within
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def csp_problems(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return problems


def silence_wav(path: Path, seconds: float = 20.0) -> Path:
    write_wav(path, np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32))
    return path


def test_the_setup_check_passes_a_good_device_and_finds_a_silent_microphone(
    tmp_path: Path,
) -> None:
    speech, _, _ = synth_dialogue(SPEECH, tmp_path / "audio", tail_s=0.3)  # type: ignore[arg-type]
    silent = silence_wav(tmp_path / "silence.wav")
    with live_server(tmp_path) as server, sync_playwright() as pw:
        results: dict[str, Any] = {}
        for name, wav in (("good", speech), ("silent", silent)):
            context = launch_participant(pw, tmp_path / name, wav, enforce_csp=True)
            page = context.new_page()
            problems = csp_problems(page)
            page.goto(f"{server.base_url}/check")
            results[name] = poll(page, "window.attuneCheck.result", 60, f"the {name} check")
            if name == "good":
                page.locator("#check-play").click()
                assert page.evaluate("window.attuneCheck.soundPlayed") is True
                page.get_by_text("I heard it").click()
                assert page.locator("[data-step=speaker]").get_attribute("data-status") == "pass"
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "setup-check.png"), full_page=True)
            else:
                advice = page.locator("[data-step=microphone] .check-detail").inner_text()
                assert "muted" in advice
            assert problems == [], "the page runs under its Content-Security-Policy"
            context.close()

    good, silent_result = results["good"], results["silent"]
    for step in ("browser", "devices", "camera", "microphone"):
        assert good["steps"][step]["status"] == "pass", (step, good)
    # the connection through the relay works; on this shared 2-core machine jitter may be
    # graded "warn", never a failure
    assert good["steps"]["connection"]["status"] in ("pass", "warn"), good
    assert good["status"] in ("pass", "warn")
    assert set(good["problems"]) <= {"high_jitter", "high_rtt"}, good
    assert good["rtt_ms"] is not None and good["rtt_ms"] < 300
    assert good["loss_pct"] < 1 and 1 <= good["mos"] <= 5
    assert silent_result["steps"]["microphone"]["status"] == "fail"
    assert "mic_silent" in silent_result["problems"]
    assert silent_result["status"] == "fail"


def test_the_monitor_watches_two_live_sessions_alerts_and_nudges_the_right_page(
    tmp_path: Path,
) -> None:
    therapist_wav, client_speech, _ = synth_dialogue(
        [
            ("therapist", "How has your week been since we last spoke?"),
            ("client", "It has been long, but I managed to walk every morning."),
        ],
        tmp_path / "audio",
        tail_s=0.5,
    )
    silent = silence_wav(tmp_path / "silence.wav", 30.0)
    stop = threading.Event()
    with live_server(tmp_path, "--alert-silent-mic", "5") as server, sync_playwright() as pw:
        add_user(server.data_dir, ASSISTANT[0], "assistant", ASSISTANT[1])
        add_user(server.data_dir, OTHER_THERAPIST[0], "therapist", OTHER_THERAPIST[1])
        for therapist in (THERAPIST[0], OTHER_THERAPIST[0]):
            subprocess.run(
                [sys.executable, "-m", "assistant", "user", "assign", ASSISTANT[0], therapist]
                + ["--data", str(server.data_dir)],
                check=True,
                capture_output=True,
                timeout=60,
            )
        session = create_session(server, label="Browser session")
        status, other = api(server, "POST", "/api/sessions", {"label": "b"}, login=OTHER_THERAPIST)
        assert status == 201

        # the second session: two aiortc participants, in a thread of their own
        base = server.base_url.replace("http://", "ws://")
        theo = server.cookie(*OTHER_THERAPIST)

        async def second_session() -> None:
            async with (
                PeerParticipant(
                    base, token_of(other["therapist_url"]), therapist_wav, loop=True, cookie=theo
                ) as t,
                PeerParticipant(base, token_of(other["client_url"]), client_speech, loop=True) as c,
            ):
                await start_call(t, c)
                await asyncio.to_thread(stop.wait)

        peers = threading.Thread(target=lambda: asyncio.run(second_session()), daemon=True)
        peers.start()
        try:
            assistant_ctx = launch_participant(pw, tmp_path / "assistant", silent)
            monitor = log_in(assistant_ctx, server, *ASSISTANT)
            monitor.set_viewport_size({"width": 1400, "height": 1000})
            monitor.goto(f"{server.base_url}/monitor")
            card = f"[data-session='{session['id']}']"
            other_card = f"[data-session='{other['id']}']"

            therapist_ctx = launch_participant(pw, tmp_path / "therapist", therapist_wav)
            client_ctx = launch_participant(pw, tmp_path / "client", silent)
            therapist = join_as_therapist(therapist_ctx, session, server)
            client = join_as_client(client_ctx, session)
            monitor.locator(f"{card} .person[data-role=client][data-state=waiting]").wait_for(
                timeout=20000
            )
            admit(therapist, client)
            for role in ("therapist", "client"):
                monitor.locator(f"{card} .person[data-role={role}][data-state=connected]").wait_for(
                    timeout=30000
                )
            for role in ("therapist", "client"):
                monitor.locator(
                    f"{other_card} .person[data-role={role}][data-state=connected]"
                ).wait_for(timeout=30000)
            # the setup check each browser passed shows on the monitor
            monitor.locator(f"{card} .person[data-role=client] .check[data-status]").wait_for(
                timeout=10000
            )

            # the client's fake microphone plays silence: the alert fires (5 s here)
            monitor.locator(
                f"{card} .alerts li[data-kind=mic_silent]", has_text="client's microphone"
            ).wait_for(timeout=30000)

            # a nudge to the client shows on the client's page and no other
            row = monitor.locator(f"{card} .person[data-role=client]")
            row.locator(".nudge-choice").select_option(label="Microphone muted")
            row.locator("button[type=submit]").click()
            client.locator("#nudge").wait_for(state="visible", timeout=10000)
            assert "microphone" in client.locator("#nudge-text").inner_text().lower()
            row.locator(".nudge-result", has_text="Sent").wait_for(timeout=10000)
            time.sleep(1.0)
            assert therapist.locator("#nudge").is_hidden()
            assert therapist.evaluate("window.attune.nudges") == []
            assert client.evaluate("window.attune.nudges") == [
                "Your microphone seems to be muted. Please check your mute button."
            ]

            # the browsers' own figures arrive (getStats over the control socket)
            figures = monitor.locator(f"{card} .person[data-role=therapist] .rtt")
            deadline = time.monotonic() + 20
            while figures.inner_text() == "–" and time.monotonic() < deadline:
                time.sleep(0.5)
            assert figures.inner_text().endswith("ms")

            # never content: no transcript or label text anywhere on the monitor page
            text = monitor.locator("body").inner_text().lower()
            for word in ("browser session", "week", "morning", "walk"):
                assert word not in text
            ARTIFACTS.mkdir(exist_ok=True)
            monitor.screenshot(path=str(ARTIFACTS / "monitor.png"), full_page=True)
            for ctx in (therapist_ctx, client_ctx, assistant_ctx):
                ctx.close()
        finally:
            stop.set()
            peers.join(20)
