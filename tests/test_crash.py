"""Crash safety: SIGKILL the server in the middle of a live session; every event the
therapist's panel had received is in the store, and the session reopens after a restart."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from assistant.store import open_store
from assistant.testing.live import create_session, live_server, token_of
from assistant.testing.peer import PanelListener, PeerParticipant, start_call
from assistant.testing.synth import synth_dialogue

pytestmark = pytest.mark.model


def key(event: dict[str, object]) -> tuple[object, ...]:
    return (event["type"], event.get("id"), event.get("text"), event.get("kind"))


def test_sigkill_mid_session_loses_nothing_the_panel_saw(tmp_path: Path) -> None:
    turns = [
        ("therapist", "What brings you here today?"),
        ("client", "I have been arguing with my partner and I feel exhausted."),
    ]
    therapist_wav, client_wav, _ = synth_dialogue(turns, tmp_path / "audio", tail_s=1.0)  # type: ignore[arg-type]
    received: list[dict[str, object]] = []

    with live_server(tmp_path) as server:
        session = create_session(server)
        base = server.base_url.replace("http://", "ws://")
        t_token, c_token = token_of(session["therapist_url"]), token_of(session["client_url"])
        cookie = server.therapist_cookie()

        async def run() -> None:
            async with (
                PanelListener(base, t_token, cookie=cookie) as panel,
                PeerParticipant(
                    base, t_token, therapist_wav, loop=True, cookie=cookie
                ) as therapist,
                PeerParticipant(base, c_token, client_wav, loop=True) as client,
            ):
                await start_call(therapist, client)
                for _ in range(300):
                    if len(panel.finals()) >= 4:
                        break
                    await asyncio.sleep(0.1)
                os.kill(server.process.pid, signal.SIGKILL)  # mid-session, no warning
                await asyncio.sleep(0.5)
                received.extend(e for _, e in panel.events)

        asyncio.run(run())
        server.process.wait(10)

    finals = [e for e in received if e["type"] != "utterance" or e.get("final")]
    assert len([e for e in finals if e["type"] == "utterance"]) >= 4
    store = open_store(tmp_path / "data")
    try:
        assert store.integrity_check() == []
        stored = store.events(session["id"])
    finally:
        store.close()
    stored_keys = {key(e) for e in stored}
    missing = [e for e in finals if key(e) not in stored_keys]
    assert missing == [], "events the panel saw but the store lost"

    # the server comes back on the same records, and the session reopens with its history
    with live_server(tmp_path) as server:

        async def reopen() -> list[dict[str, object]]:
            base = server.base_url.replace("http://", "ws://")
            cookie = server.therapist_cookie()
            token = token_of(session["therapist_url"])
            async with PanelListener(base, token, cookie=cookie) as panel:
                for _ in range(50):
                    if len(panel.events) >= len(stored):
                        break
                    await asyncio.sleep(0.1)
                return [e for _, e in panel.events]

        backlog = asyncio.run(reopen())
    assert [key(e) for e in backlog][: len(stored)] == [key(e) for e in stored]
