"""Benchmark: SIGKILL the server at random moments under load; nothing the panels saw is lost.

    .venv/bin/python bench/crash.py --kills 20 --sessions 2

Each cycle starts a real `attune serve` on the same data folder, rejoins every session with
two real aiortc peers (the therapist admits the client again; consent stays as recorded)
streaming a two-speaker espeak-ng dialogue in real time, and a websockets client on each
therapist panel recording every event it receives. At a random moment (uniform in
[--min-s, --max-s] after the server answered its health check: some kills land while peers
join, most while turns are transcribed and stored) the server is killed with SIGKILL. Then,
with the server dead: every final event any panel ever received must be in the store
(compared by type, id, text, kind, code and time), and SQLite's integrity check must pass.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.store import open_store  # noqa: E402
from assistant.testing.live import LiveServer, create_session, live_server, token_of  # noqa: E402
from assistant.testing.peer import PanelListener, PeerParticipant  # noqa: E402
from assistant.testing.synth import synth_dialogue  # noqa: E402
from bench.dialogue import TURNS  # noqa: E402

STORED_TYPES = {"utterance", "cue", "notice", "summary"}


def key(event: dict[str, Any]) -> tuple[object, ...]:
    return tuple(event.get(k) for k in ("type", "id", "text", "kind", "code", "at"))


def must_be_stored(event: dict[str, Any]) -> bool:
    """A final event: stored before the panel is sent it (interim text is not stored)."""
    if event.get("type") not in STORED_TYPES:
        return False
    return event["type"] != "utterance" or bool(event.get("final"))


@dataclass
class Cycle:
    kill_at_s: float
    """When the kill came, after the server was up."""
    start_s: float
    """How long the server took to answer its health check."""
    joined: int
    """Sessions whose peers had both started media when the kill came."""
    received: int
    """Final events the panels received in this cycle (their backlog included)."""
    new_finals: int
    """Final utterances first seen in this cycle."""
    missing: list[dict[str, Any]]
    integrity: list[str]
    store_failed: int


@dataclass
class Report:
    cycles: list[Cycle] = field(default_factory=list)
    slow_starts: list[str] = field(default_factory=list)
    """Server logs of starts that did not answer in 60 s (retried)."""

    @property
    def lost(self) -> int:
        return sum(len(c.missing) for c in self.cycles)

    @property
    def integrity_failures(self) -> int:
        return sum(1 for c in self.cycles if c.integrity)

    def summary(self) -> dict[str, Any]:
        starts = [c.start_s for c in self.cycles]
        return {
            "kills": len(self.cycles),
            "kills_with_media_flowing": sum(1 for c in self.cycles if c.joined),
            "finals_seen": sum(c.new_finals for c in self.cycles),
            "events_checked": sum(c.received for c in self.cycles),
            "lost": self.lost,
            "integrity_failures": self.integrity_failures,
            "store_failed_notices": sum(c.store_failed for c in self.cycles),
            "restart_s_median": round(statistics.median(starts), 1) if starts else None,
            "restart_s_max": round(max(starts), 1) if starts else None,
            "starts_retried": len(self.slow_starts),
        }


async def _rejoin(
    base: str, session: dict[str, Any], cookie: str, wavs: tuple[Path, Path], streaming: list[int]
) -> bool:
    """Both participants rejoin, start media (noted in ``streaming``) and stream."""
    t_token, c_token = token_of(session["therapist_url"]), token_of(session["client_url"])
    async with (
        PeerParticipant(base, t_token, wavs[0], loop=True, cookie=cookie) as therapist,
        PeerParticipant(base, c_token, wavs[1], loop=True) as client,
    ):
        if client.welcome["state"] != "admitted":
            await therapist.send({"type": "admit"})
            await client.expect("admitted")
        for peer in (therapist, client):
            if not peer.welcome["you"]:
                await peer.consent(True)
        await asyncio.gather(therapist.start_media(), client.start_media())
        streaming.append(1)
        await asyncio.Event().wait()  # stream until the server dies under us
    return True


async def _cycle(
    server: LiveServer,
    sessions: list[dict[str, Any]],
    wavs: tuple[Path, Path],
    kill_at: float,
    up_at: float,
) -> tuple[list[list[dict[str, Any]]], int]:
    base = server.base_url.replace("http://", "ws://")
    cookie = server.therapist_cookie()
    panels: list[PanelListener] = []
    tasks: list[asyncio.Task[bool]] = []
    streaming: list[int] = []
    async with contextlib.AsyncExitStack() as stack:
        for session in sessions:
            panel = await stack.enter_async_context(
                PanelListener(base, token_of(session["therapist_url"]), cookie=cookie)
            )
            panels.append(panel)
            tasks.append(asyncio.create_task(_rejoin(base, session, cookie, wavs, streaming)))
        await asyncio.sleep(max(0.0, kill_at - (time.monotonic() - up_at)))
        os.kill(server.process.pid, signal.SIGKILL)
        await asyncio.sleep(0.5)  # whatever was in flight to the panels has arrived
        received = [[e for _, e in panel.events] for panel in panels]
        joined = len(streaming)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
    return received, joined


@contextlib.contextmanager
def _start(workdir: Path, report: Report) -> Iterator[LiveServer]:
    """`attune serve` on the data folder; a start that does not answer its health check in
    60 s (a busy machine) is retried twice and counted."""
    for attempt in range(3):
        try:
            server_cm = live_server(workdir)
            server = server_cm.__enter__()
        except RuntimeError as exc:
            report.slow_starts.append(str(exc)[-2000:])
            if attempt == 2:
                raise
            continue
        try:
            yield server
        finally:
            server_cm.__exit__(None, None, None)
        return


def run(
    workdir: Path,
    *,
    kills: int,
    sessions: int = 2,
    min_s: float = 2.0,
    max_s: float = 25.0,
    seed: int = 7,
    turns: int = 8,
    log: Any = None,
) -> Report:
    """Kill the server ``kills`` times; see the module's docstring."""
    rng = random.Random(seed)
    t_wav, c_wav, _ = synth_dialogue(TURNS[:turns], workdir / "audio", tail_s=1.0)
    report = Report()
    made: list[dict[str, Any]] = []
    seen: set[tuple[object, ...]] = set()
    for i in range(kills):
        kill_at = rng.uniform(min_s, max_s)
        began = time.monotonic()
        with _start(workdir, report) as server:
            up_at = time.monotonic()
            start_s = up_at - began
            if not made:
                made = [create_session(server, label=f"crash-{n}") for n in range(sessions)]
            received, joined = asyncio.run(_cycle(server, made, (t_wav, c_wav), kill_at, up_at))
            server.process.wait(10)
        store = open_store(workdir / "data")
        try:
            integrity = store.integrity_check()
            stored = [{key(e) for e in store.events(s["id"])} for s in made]
        finally:
            store.close()
        missing: list[dict[str, Any]] = []
        new_finals = store_failed = count = 0
        for n, events in enumerate(received):
            for event in events:
                if event.get("type") == "notice" and event.get("code") == "store_failed":
                    store_failed += 1
                if not must_be_stored(event):
                    continue
                count += 1
                if key(event) not in stored[n]:
                    missing.append(event)
                if event["type"] == "utterance" and key(event) not in seen:
                    seen.add(key(event))
                    new_finals += 1
        cycle = Cycle(
            round(kill_at, 2),
            round(start_s, 2),
            joined,
            count,
            new_finals,
            missing,
            integrity,
            store_failed,
        )
        report.cycles.append(cycle)
        if log is not None:
            print(
                f"kill {i + 1}/{kills} at {kill_at:5.1f} s: sessions streaming {joined}, "
                f"new finals {new_finals}, events checked {count}, missing {len(missing)}, "
                f"integrity {'ok' if not integrity else integrity}",
                file=log,
                flush=True,
            )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--min-s", type=float, default=2.0)
    parser.add_argument("--max-s", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the report here too")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="attune-crash-") as tmp:
        report = run(
            Path(tmp),
            kills=args.kills,
            sessions=args.sessions,
            min_s=args.min_s,
            max_s=args.max_s,
            seed=args.seed,
            log=sys.stdout,
        )
    summary = report.summary()
    print(json.dumps(summary, indent=2))
    for cycle in report.cycles:
        for event in cycle.missing:
            print("MISSING", json.dumps(event)[:300])
    if args.json:
        args.json.write_text(
            json.dumps(
                {"summary": summary, "cycles": [c.__dict__ for c in report.cycles]}, indent=1
            )
        )
    sys.exit(1 if report.lost or report.integrity_failures else 0)


if __name__ == "__main__":
    main()
