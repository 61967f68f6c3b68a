"""Benchmark: speech end -> final transcript on the therapist's panel, through the live path.

    .venv/bin/python bench/live_latency.py --minutes 10

Starts a real `attune serve`, joins a session with two real aiortc peers that stream the
two-speaker dialogue of bench/dialogue.py (espeak-ng, one file per speaker, repeated to the
requested length) in real time, and listens on the panel with a websockets client. For each
spoken turn, latency = arrival of its final event on the panel - the moment its speech ended
(first microphone frame sent + the turn's end in the file). Reports p50/p95 overall and per
window (flat over the session?), turns missed, server CPU and memory (psutil).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.testing.live import create_session, live_server, token_of  # noqa: E402
from assistant.testing.peer import PanelListener, PeerParticipant, start_call  # noqa: E402
from assistant.testing.scoring import word_error_rate  # noqa: E402
from assistant.testing.synth import Turn, synth_dialogue  # noqa: E402
from bench.dialogue import TURNS  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def session(
    base: str,
    cookie: str,
    tokens: dict[str, str],
    wavs: dict[str, Path],
    seconds: float,
    process: psutil.Process,
) -> tuple[PanelListener, dict[str, float], list[tuple[float, float, float]]]:
    samples: list[tuple[float, float, float]] = []  # (t, cpu %, rss MB)
    async with (
        PanelListener(base, tokens["therapist"], cookie=cookie) as panel,
        PeerParticipant(base, tokens["therapist"], wavs["therapist"], cookie=cookie) as therapist,
        PeerParticipant(base, tokens["client"], wavs["client"]) as client,
    ):
        await start_call(therapist, client)
        process.cpu_percent()
        t0 = time.time()
        while time.time() - t0 < seconds:
            await asyncio.sleep(5)
            samples.append(
                (time.time() - t0, process.cpu_percent(), process.memory_info().rss / 2**20)
            )
            print(
                f"\r{time.time() - t0:5.0f}/{seconds:.0f} s, {len(panel.finals())} finals",
                end="",
                file=sys.stderr,
                flush=True,
            )
        print(file=sys.stderr)
        await asyncio.sleep(3)
        assert therapist.started_at and client.started_at
        starts = {"therapist": therapist.started_at, "client": client.started_at}
    return panel, starts, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--windows", type=int, default=5, help="windows for the flatness check")
    parser.add_argument("--no-cues", action="store_true", help="serve without the cue coder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        one_pass = synth_dialogue(TURNS, tmp / "probe")[2]
        repeats = max(1, round(args.minutes * 60 / (one_pass[-1].end + 1.0)))
        therapist_wav, client_wav, reference = synth_dialogue(TURNS * repeats, tmp / "audio")
        seconds = reference[-1].end + 2.0
        with live_server(tmp, *(["--no-cues"] if args.no_cues else [])) as server:
            process = psutil.Process(server.process.pid)
            created = create_session(server, planned_minutes=max(5, int(args.minutes) + 5))
            tokens = {r: token_of(created[f"{r}_url"]) for r in ("therapist", "client")}
            base = server.base_url.replace("http://", "ws://")
            panel, starts, samples = asyncio.run(
                session(
                    base,
                    server.therapist_cookie(),
                    tokens,
                    {"therapist": therapist_wav, "client": client_wav},
                    seconds,
                    process,
                )
            )
    latencies: list[tuple[float, float]] = []  # (turn end in session, latency)
    missed: list[Turn] = []
    arrivals = [
        (t, e) for t, e in panel.events if e["type"] == "utterance" and e["final"] and e["text"]
    ]
    used: set[int] = set()
    for turn in reference:
        end_wall = starts[turn.speaker] + turn.end
        match = None
        for i, (t, e) in enumerate(arrivals):
            if i in used or e["speaker"] != turn.speaker or not end_wall - 1 < t < end_wall + 8:
                continue
            if word_error_rate(turn.text, e["text"]) < 0.6:
                match = i
                break
        if match is None:
            missed.append(turn)
            continue
        used.add(match)
        latencies.append((turn.end, arrivals[match][0] - end_wall))
    values = [lat for _, lat in latencies]
    print(
        f"live session: {seconds / 60:.1f} min, {len(reference)} turns, "
        f"{len(values)} matched, {len(missed)} missed, "
        f"{len(arrivals) - len(used)} extra finals"
    )
    print(
        f"speech end -> final on panel: p50 {statistics.median(values):.2f} s, "
        f"p95 {percentile(values, 0.95):.2f} s, max {max(values):.2f} s "
        "(target p50 <= 0.8, p95 <= 1.5)"
    )
    span = seconds / args.windows
    for w in range(args.windows):
        part = [lat for end, lat in latencies if w * span <= end < (w + 1) * span]
        mem = [m for t, _, m in samples if w * span <= t < (w + 1) * span]
        if part:
            print(
                f"  window {w + 1}: p50 {statistics.median(part):.2f} s, "
                f"p95 {percentile(part, 0.95):.2f} s, n={len(part)}, "
                f"server RSS {max(mem) if mem else float('nan'):.0f} MB"
            )
    cpu = [c for _, c, _ in samples]
    print(
        f"server CPU: mean {statistics.mean(cpu):.0f}% of one core, max {max(cpu):.0f}%; "
        f"RSS {samples[0][2]:.0f} MB -> {samples[-1][2]:.0f} MB"
    )


if __name__ == "__main__":
    main()
