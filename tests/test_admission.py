"""Admission of live sessions (assistant/server/admission.py): the rule with stand-in rooms,
then a real `attune serve --max-live-sessions 1` over real WebSockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from assistant.server.admission import STRAIN_MEMORY_S, refusal
from assistant.testing.live import LiveServer, create_session, live_server, token_of


@dataclass
class StandIn:
    closed: bool = False
    active: bool = True
    strained_s_ago: float | None = None

    def strained_within(self, seconds: float) -> bool:
        return self.strained_s_ago is not None and self.strained_s_ago < seconds


def test_a_limit_counts_running_sessions_only() -> None:
    assert refusal([], 1) is None
    assert refusal([StandIn()] * 3, 0) is None  # no fixed limit
    assert refusal([StandIn(), StandIn()], 3) is None
    full = refusal([StandIn(), StandIn(), StandIn()], 3)
    assert full is not None and "at most 3 sessions at once" in full
    assert len(full.encode()) <= 123  # it is a WebSocket close reason
    # ended sessions and sessions nobody is connected to do not count
    assert refusal([StandIn(), StandIn(closed=True), StandIn(active=False)], 2) is None


def test_a_strained_server_takes_no_new_session() -> None:
    recent = refusal([StandIn(), StandIn(strained_s_ago=10.0)], 0)
    assert recent is not None and "too busy" in recent
    assert len(recent.encode()) <= 123
    assert refusal([StandIn(strained_s_ago=STRAIN_MEMORY_S + 1)], 0) is None
    # strain in a session nobody is in any more does not count
    assert refusal([StandIn(active=False, strained_s_ago=1.0)], 0) is None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("server"), "--max-live-sessions", "1") as s:
        yield s


def test_the_server_refuses_a_session_beyond_its_limit_and_takes_it_when_one_ends(
    server: LiveServer,
) -> None:
    base = server.base_url.replace("http://", "ws://")
    first, second = create_session(server), create_session(server)
    cookie = {"Cookie": server.therapist_cookie()}

    async def join(session: dict[str, Any], role: str) -> websockets.ClientConnection:
        ws = await websockets.connect(
            f"{base}/ws/control", additional_headers=cookie if role == "therapist" else {}
        )
        await ws.send(json.dumps({"type": "hello", "token": token_of(session[f"{role}_url"])}))
        return ws

    async def first_message(ws: websockets.ClientConnection) -> dict[str, Any] | None:
        """The first message, or None when the server closed the socket instead."""
        try:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))
            return message
        except ConnectionClosed:
            return None

    def closed_with(ws: websockets.ClientConnection) -> tuple[int, str]:
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""

    async def run() -> None:
        running = await join(first, "therapist")
        assert (await first_message(running) or {}).get("type") == "welcome"
        # a second session waits: close 4429 with the reason the room page shows
        refused = await join(second, "therapist")
        assert await first_message(refused) is None
        code, reason = closed_with(refused)
        assert code == 4429 and "at most 1 session at once" in reason
        # the running session still takes its other participant
        client = await join(first, "client")
        assert (await first_message(client) or {}).get("type") == "welcome"
        await client.close()
        await running.close()
        for _ in range(50):  # the room notices its participants left
            retry = await join(second, "therapist")
            message = await first_message(retry)
            if message is not None:
                assert message["type"] == "welcome"
                await retry.close()
                return
            await asyncio.sleep(0.2)
        raise AssertionError("the second session was never admitted")

    asyncio.run(run())
