"""The virtual assistant's monitor, nudges, setup-check loopback and /metrics, against a real
`attune serve` with real aiortc participants."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

from assistant.testing.live import (
    LiveServer,
    add_user,
    api,
    create_session,
    live_server,
    token_of,
)
from assistant.testing.peer import PanelListener, PeerParticipant, start_call
from assistant.testing.synth import synth_dialogue

pytestmark = pytest.mark.model

ASSISTANT = ("ava", "ava-password-123")
OTHER_THERAPIST = ("theo", "theo-password-123")
LABEL = "Zebrafinch Tuesday"  # a session label is content: it must never reach the monitor
SPOKEN = [
    ("therapist", "Tell me about the marathon you are training for with your sister."),
    ("therapist", "What would make the weekends easier for you both?"),
]


def assign(data_dir: Path, assistant: str, therapist: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "assistant", "user", "assign", assistant, therapist]
        + ["--data", str(data_dir)],
        check=True,
        capture_output=True,
        timeout=60,
    )


@contextlib.asynccontextmanager
async def monitor(
    server: LiveServer, cookie: str | None, origin: str | None = None
) -> AsyncIterator[tuple[websockets.ClientConnection, list[dict[str, Any]]]]:
    headers = {"Cookie": cookie} if cookie else {}
    ws = await websockets.connect(
        server.base_url.replace("http://", "ws://") + "/ws/monitor",
        additional_headers=headers,
        origin=origin,  # type: ignore[arg-type]
    )
    seen: list[dict[str, Any]] = []

    async def read() -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                seen.append(json.loads(raw))

    reader = asyncio.create_task(read())
    try:
        yield ws, seen
    finally:
        await ws.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def until(predicate: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def latest(seen: list[dict[str, Any]], session_id: str) -> dict[str, Any] | None:
    for message in reversed(seen):
        if message["type"] == "sessions":
            return next((s for s in message["sessions"] if s["id"] == session_id), None)
    return None


def alert_kinds(session: dict[str, Any] | None) -> set[tuple[str, str | None]]:
    return {(a["kind"], a["role"]) for a in session["alerts"]} if session else set()


async def alerted(
    seen: list[dict[str, Any]], session_id: str, kind: str, role: str, within: float
) -> dict[str, Any]:
    """The session's latest snapshot once it carries this alert."""

    def found() -> dict[str, Any] | None:
        session = latest(seen, session_id)
        return session if (kind, role) in alert_kinds(session) else None

    result: dict[str, Any] = await until(found, within, f"the {kind} alert for the {role}")
    return result


async def closed_with(server: LiveServer, cookie: str | None, origin: str | None = None) -> int:
    """The close code (or HTTP status) a monitor connection gets."""
    headers = {"Cookie": cookie} if cookie else {}
    url = server.base_url.replace("http://", "ws://") + "/ws/monitor"
    try:
        ws = await websockets.connect(url, additional_headers=headers, origin=origin)  # type: ignore[arg-type]
    except websockets.InvalidStatus as exc:
        return int(exc.response.status_code)
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    except websockets.ConnectionClosed as exc:
        assert exc.rcvd is not None
        return exc.rcvd.code
    finally:
        await ws.close()


def get(server: LiveServer, path: str, **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(server.base_url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_the_monitor_shows_health_alerts_and_nudges_but_never_content(tmp_path: Path) -> None:
    therapist_wav, client_wav, _ = synth_dialogue(SPOKEN, tmp_path / "audio", tail_s=0.5)  # type: ignore[arg-type]
    with live_server(tmp_path, "--alert-silent-mic", "4") as server:
        add_user(server.data_dir, ASSISTANT[0], "assistant", ASSISTANT[1])
        add_user(server.data_dir, OTHER_THERAPIST[0], "therapist", OTHER_THERAPIST[1])
        assign(server.data_dir, ASSISTANT[0], "tess")
        session = create_session(server, label=LABEL)
        other = create_session(server, label="not yours")
        # a session of another therapist, whom ava does not support
        status, body = api(server, "POST", "/api/sessions", {"label": "x"}, login=OTHER_THERAPIST)
        assert status == 201
        foreign = body
        base = server.base_url.replace("http://", "ws://")
        cookie = server.therapist_cookie()
        ava = server.cookie(*ASSISTANT)
        t_token, c_token = token_of(session["therapist_url"]), token_of(session["client_url"])

        async def run() -> None:
            # who may open the monitor at all
            assert await closed_with(server, None) == 4401
            assert await closed_with(server, cookie) == 4403  # a therapist is not an assistant
            assert await closed_with(server, ava, origin="https://evil.example") in (403, 4403)

            async with (
                monitor(server, ava) as (mon, seen),
                PanelListener(base, t_token, cookie=cookie) as panel,
                PeerParticipant(
                    base, t_token, therapist_wav, loop=True, cookie=cookie
                ) as therapist,
                PeerParticipant(base, c_token, client_wav, loop=True) as client,
                PeerParticipant(base, token_of(foreign["client_url"])),
                PeerParticipant(base, token_of(other["client_url"])),
            ):
                waiting = await until(
                    lambda: (
                        (s := latest(seen, session["id"]))
                        and s["participants"]["client"]["state"] == "waiting"
                        and s
                    ),
                    15,
                    "the client in the waiting room, on the monitor",
                )
                assert waiting["therapist"] == "tess"
                await start_call(therapist, client)
                joined = await until(
                    lambda: (
                        (s := latest(seen, session["id"]))
                        and all(p["state"] == "connected" for p in s["participants"].values())
                        and s
                    ),
                    30,
                    "both participants connected, on the monitor",
                )
                assert joined["transcribing"] is True
                assert joined["participants"]["therapist"]["browser"] == "other"  # not a browser

                # the client's microphone carries digital silence: the alert fires (4 s here)
                silent = await alerted(seen, session["id"], "mic_silent", "client", 30)
                assert ("mic_silent", "therapist") not in alert_kinds(silent)
                assert max(silent["participants"]["therapist"]["levels"]) > -55  # the last minute

                # figures only the browser knows arrive over the control socket
                await client.send(
                    {"type": "stats", "rtt_ms": 48, "jitter_ms": 9, "loss_pct": 7.5}
                    | {"fps_sent": 15, "camera_on": True, "mic_on": True}
                )
                await therapist.send({"type": "check", "status": "pass", "mos": 4.3})
                lossy = await alerted(seen, session["id"], "packet_loss", "client", 10)
                assert lossy["participants"]["client"]["network"]["rtt_ms"] == 48
                assert lossy["participants"]["therapist"]["check"]["status"] == "pass"
                await client.send({"type": "stats", "loss_pct": "lots"})
                assert (await client.expect("error"))["code"] == "bad_message"

                # a nudge reaches the client's page, and nobody else's
                await mon.send(
                    json.dumps(
                        {"type": "nudge", "session": session["id"], "role": "client"}
                        | {"text": "Your microphone seems to be muted."}
                    )
                )
                nudge = await client.expect("nudge", within=10)
                assert nudge["text"] == "Your microphone seems to be muted."
                await until(lambda: any(m["type"] == "nudge_sent" for m in seen), 5, "nudge_sent")
                for bad, code in [
                    ({"session": foreign["id"], "role": "client", "text": "hi"}, "unknown_session"),
                    ({"session": session["id"], "role": "client", "text": "x" * 201}, None),
                    ({"session": session["id"], "role": "client", "text": "again"}, "too_fast"),
                    ({"session": session["id"], "role": "admin", "text": "hi"}, "bad_message"),
                ]:
                    await mon.send(json.dumps({"type": "nudge"} | bad))
                    error = await until(
                        lambda: [m for m in seen if m["type"] == "error"], 5, "an error"
                    )
                    if code:
                        assert error[-1]["code"] == code, bad
                    seen[:] = [m for m in seen if m["type"] != "error"]

                # the therapist's words reach the panel, never the monitor
                await until(lambda: len(panel.finals()) >= 2, 60, "the therapist's finals")
                await asyncio.sleep(1.5)
                visible = {s["id"] for m in seen if m["type"] == "sessions" for s in m["sessions"]}
                assert visible == {session["id"], other["id"]}  # never theo's session
                assert not any(m["type"] == "nudge" for m in therapist.messages)
                assert not any(e["type"] == "nudge" for _, e in panel.events)
                words = {
                    w.lower()
                    for e in panel.finals()
                    for w in re.findall(r"[A-Za-z]{5,}", e["text"])
                }
                assert "marathon" in words or "sister" in words
                dump = json.dumps(seen).lower()
                assert not words & set(re.findall(r"[a-z]{5,}", dump)), "content on the monitor"
                assert LABEL.lower() not in dump and "not yours" not in dump
                for key in ('"text"', '"labels"', '"cue"', '"label"', '"utterance"'):
                    assert key not in dump

                # operations: figures from the live path, for the server's own machine only
                status, metrics = get(server, "/metrics")
                assert status == 200
                count = re.search(
                    r"^attune_speech_to_transcript_seconds_count (\S+)$", metrics, re.M
                )
                assert count and float(count.group(1)) >= 2
                assert re.search(r"^attune_sessions_live 3\.0$", metrics, re.M)
                assert re.search(r"^attune_nudges_total 1\.0$", metrics, re.M)
                assert "marathon" not in metrics and session["id"] not in metrics
                assert get(server, "/metrics", **{"X-Forwarded-For": "203.0.113.9"})[0] == 403

        asyncio.run(run())


def test_the_setup_check_loopback_echoes_media_and_pings_and_is_bounded(
    tmp_path: Path,
) -> None:
    wav, _, _ = synth_dialogue(SPOKEN[:1], tmp_path / "audio", tail_s=0.5)  # type: ignore[arg-type]
    with live_server(tmp_path) as server:
        url = server.base_url.replace("http://", "ws://") + "/ws/check"

        async def run() -> None:
            ws = await websockets.connect(url)
            pc = RTCPeerConnection()
            player = MediaPlayer(str(wav), loop=True)
            assert player.audio is not None
            pc.addTrack(player.audio)
            channel = pc.createDataChannel("ping")
            echoed: list[str] = []
            channel.on("message", echoed.append)
            frames = 0
            counters: list[asyncio.Future[None]] = []

            @pc.on("track")
            def on_track(track: Any) -> None:
                async def count() -> None:
                    nonlocal frames
                    while True:
                        await track.recv()
                        frames += 1

                counters.append(asyncio.ensure_future(count()))

            try:
                # a second test from the same address waits its turn
                await pc.setLocalDescription(await pc.createOffer())
                await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
                answer = json.loads(await asyncio.wait_for(ws.recv(), 20))
                second = await websockets.connect(url)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(second.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
                await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
                await until(lambda: channel.readyState == "open", 15, "the data channel")
                channel.send("p1")
                await until(lambda: echoed == ["p1"], 5, "the ping back")
                await until(lambda: frames > 50, 10, "our audio, sent back")
                await ws.send(json.dumps({"type": "done"}))
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
            finally:
                for counter in counters:
                    counter.cancel()
                if player.audio is not None:
                    player.audio.stop()
                await pc.close()
                await ws.close()
            # garbage instead of an offer: a clear close, and the server carries on
            bad = await websockets.connect(url)
            await bad.send(json.dumps({"type": "offer", "sdp": "v=0\r\ngarbage"}))
            with pytest.raises(websockets.ConnectionClosed) as refused:
                await asyncio.wait_for(bad.recv(), 10)
            assert refused.value.rcvd is not None and refused.value.rcvd.code == 4400

        asyncio.run(run())
        assert get(server, "/healthz")[0] == 200
