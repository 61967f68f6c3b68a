"""`attune loadtest`: N synthetic live sessions at once, through a real `attune serve`.

Each session is what a clinic's session is to the server: a therapist account, a session
created through the API, two real aiortc peers (therapist and client) joining through
``/ws/control``, admitted, both consenting, each streaming its side of a two-speaker espeak-ng
dialogue as its microphone in real time (and a test-pattern camera), and a websockets client
on the therapist's panel (``/ws/panel``) recording when each event arrives. The server runs in
its own process (cue coder on, the default), fresh for each N.

Measured per N:

- speech end -> final transcript on the panel: arrival of a turn's final event - the moment
  its speech ended (the peer's first microphone frame + the turn's end in its file);
- transcript -> cue: arrival of a cue event - arrival of the final utterance it names;
- server CPU (% of one core) and RSS (psutil on the server's pid), the transcription queue
  depth and the recogniser's busy time (``/healthz``), the load average, the generator's CPU;
- dropped or late events: turns of the script with no final, extra finals (a turn split in
  two), finals later than 1.5 s, ``transcription_lagging`` notices, sessions that failed.

The soak (``bench/soak.py``, ``tests/test_soak.py``) is one session run for long with
per-window figures (:func:`windows`), including repetition checks on the transcript.

The generator shares the machine with the server (its peers encode and decode video too): its
own CPU is reported so that a limit can be told apart from the generator's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant import eventloop
from assistant.events import Speaker
from assistant.speech.guards import collapse_repeats
from assistant.testing.live import THERAPIST, LiveServer, add_user, api, live_server, token_of
from assistant.testing.peer import PanelListener, PeerParticipant, start_call
from assistant.testing.scoring import normalise_words, word_error_rate
from assistant.testing.synth import VOICES, Turn, place_clips, speak

Line = tuple[Speaker, str]
TARGET_P95_S = 1.5
PASSWORD = "load-test-password-123"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# -- scripts -----------------------------------------------------------------------------------
@dataclass
class Script:
    """One session's audio: a file per speaker (silence while the other talks) and its turns
    with their true times in the files."""

    therapist_wav: Path
    client_wav: Path
    turns: list[Turn]
    seconds: float

    def wav(self, speaker: Speaker) -> Path:
        return self.therapist_wav if speaker == "therapist" else self.client_wav


def compose(
    lines: Sequence[Line],
    out_dir: Path,
    *,
    cache: dict[Line, np.ndarray] | None = None,
    gap_s: float = 0.8,
    lead_s: float = 0.5,
    tail_s: float = 1.0,
) -> Script:
    """Like ``synth_dialogue``, but each distinct line is spoken once (``cache``), so that an
    hour of a repeated dialogue takes seconds to make."""
    cache = {} if cache is None else cache
    clips = []
    for line in lines:
        if line not in cache:
            cache[line] = speak(line[1], VOICES[line[0]])
        clips.append((line[0], line[1], cache[line]))
    therapist, client, turns, total = place_clips(
        clips, out_dir, gap_s=gap_s, lead_s=lead_s, tail_s=tail_s
    )
    return Script(therapist, client, turns, total)


def make_scripts(
    lines: Sequence[Line],
    sessions: int,
    seconds: float,
    out_dir: Path,
    cache: dict[Line, np.ndarray] | None = None,
) -> list[Script]:
    """One script per session, each at least ``seconds`` long: the dialogue repeated, and
    rotated by a different number of turns per session so that the sessions do not speak
    in step."""
    cache = {} if cache is None else cache
    one = compose(lines, out_dir / "probe", cache=cache)
    repeats = max(1, int(np.ceil(seconds / one.seconds)))
    scripts = []
    for i in range(sessions):
        shift = (i * len(lines)) // max(1, sessions)
        rotated = list(lines[shift:]) + list(lines[:shift])
        scripts.append(compose(rotated * repeats, out_dir / f"session-{i}", cache=cache))
    return scripts


def read_dialogue(path: Path) -> list[Line]:
    """JSON lines ``{"speaker": "therapist"|"client", "text": ...}``."""
    lines: list[Line] = []
    for n, raw in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        item = json.loads(raw)
        speaker = item.get("speaker")
        if speaker not in ("therapist", "client") or not str(item.get("text", "")).strip():
            raise ValueError(f"{path}:{n}: needs a speaker (therapist or client) and text")
        lines.append((speaker, str(item["text"])))
    if not any(s == "therapist" for s, _ in lines) or not any(s == "client" for s, _ in lines):
        raise ValueError(f"{path}: the dialogue needs both speakers")
    return lines


# -- running sessions --------------------------------------------------------------------------
@dataclass
class Sample:
    """One poll of the server (and of this process)."""

    t: float
    """Seconds since the run started."""
    cpu: float
    """Server CPU since the previous sample, % of one core."""
    rss_mb: float
    queue: int
    rooms: int
    model_busy_s: float
    load1: float
    generator_cpu: float
    health_ms: float
    """How long ``/healthz`` took to answer: the server's event loop lag, roughly."""
    udp_rcvbuf_errors: int
    """The machine's count of UDP datagrams dropped for a full socket buffer (-1: unknown)."""
    generator_lag_ms: float
    """How late this process's event loop woke from the monitor's sleep (the peers' lag)."""


@dataclass
class SessionRun:
    index: int
    script: Script
    starts: dict[str, float] = field(default_factory=dict)
    """Wall time of each speaker's first microphone frame."""
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    error: str | None = None
    ended_early: float | None = None
    """Wall time the call dropped, if it did (turns after it are not counted as missed)."""


@dataclass
class RunResult:
    sessions: list[SessionRun]
    samples: list[Sample]
    t0: float
    """Wall time the run started (``Sample.t`` counts from it)."""
    seconds: float
    load_before: float
    """The 1-minute load average just before the server started (the machine's other work)."""


def _udp_rcvbuf_errors() -> int:
    try:
        lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines()]
    except OSError:
        return -1
    udp = [ln for ln in lines if ln and ln[0] == "Udp:"]
    if len(udp) < 2 or "RcvbufErrors" not in udp[0]:
        return -1
    return int(udp[1][udp[0].index("RcvbufErrors")])


def _healthz(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


async def _monitor(
    server: LiveServer,
    t0: float,
    samples: list[Sample],
    progress: Callable[[Sample], None],
    interval: float,
) -> None:
    import psutil

    proc = psutil.Process(server.process.pid)
    me = psutil.Process()
    proc.cpu_percent()
    me.cpu_percent()
    while True:
        slept = time.monotonic()
        await asyncio.sleep(interval)
        asked = time.monotonic()
        lag_ms = (asked - slept - interval) * 1000
        try:
            health = await asyncio.to_thread(_healthz, server.base_url)
        except Exception:
            health = {}
        health_ms = (time.monotonic() - asked) * 1000
        stats = health.get("transcription", {})
        sample = Sample(
            t=time.time() - t0,
            cpu=proc.cpu_percent(),
            rss_mb=proc.memory_info().rss / 2**20,
            queue=int(health.get("transcription_queue", -1)),
            rooms=int(health.get("rooms", -1)),
            model_busy_s=float(stats.get("model_busy_s", float("nan"))),
            load1=os.getloadavg()[0],
            generator_cpu=me.cpu_percent(),
            health_ms=round(health_ms, 1),
            udp_rcvbuf_errors=_udp_rcvbuf_errors(),
            generator_lag_ms=round(lag_ms, 1),
        )
        samples.append(sample)
        progress(sample)


async def _session(
    run: SessionRun,
    server: LiveServer,
    account: tuple[str, str],
    delay: float,
    settle_s: float,
) -> None:
    """One session, bounded in time: a peer whose call dropped can hang in its teardown
    (closing a peer connection to an unresponsive end), which must not stall the run."""
    limit = delay + run.script.seconds + settle_s + 90.0
    try:
        await asyncio.wait_for(_session_body(run, server, account, delay, settle_s), limit)
    except TimeoutError:
        run.error = (run.error or "") + f" (still open {limit:.0f} s after its start: abandoned)"
        run.ended_early = run.ended_early or time.time()


async def _session_body(
    run: SessionRun,
    server: LiveServer,
    account: tuple[str, str],
    delay: float,
    settle_s: float,
) -> None:
    await asyncio.sleep(delay)
    ws_base = server.base_url.replace("http://", "ws://")
    try:
        status, created = await asyncio.to_thread(
            api,
            server,
            "POST",
            "/api/sessions",
            {"planned_minutes": max(10, int(run.script.seconds / 60) + 10), "label": "load"},
            account,
        )
        if status != 201:
            raise RuntimeError(f"creating a session failed: {status} {created}")
        cookie = await asyncio.to_thread(server.cookie, *account)
        tokens = {r: token_of(created[f"{r}_url"]) for r in ("therapist", "client")}
        async with (
            PanelListener(ws_base, tokens["therapist"], cookie=cookie) as panel,
            PeerParticipant(
                ws_base, tokens["therapist"], run.script.therapist_wav, cookie=cookie
            ) as therapist,
            PeerParticipant(ws_base, tokens["client"], run.script.client_wav) as client,
        ):
            run.events = panel.events  # filled while the session runs
            await start_call(therapist, client)
            for _ in range(400):  # the first microphone frames go out once ICE connects
                if therapist.started_at is not None and client.started_at is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("no microphone frame was sent within 20 s")
            assert therapist.started_at is not None and client.started_at is not None
            run.starts = {"therapist": therapist.started_at, "client": client.started_at}
            end = max(run.starts.values()) + run.script.seconds + settle_s
            while (left := end - time.time()) > 0:
                await asyncio.sleep(min(1.0, left))
                for peer in (therapist, client):
                    dropped = [(t, s) for t, s in peer.media_states if s in ("failed", "closed")]
                    if dropped:  # the call dropped: stop here, with what was measured
                        run.ended_early = dropped[0][0]
                        role = "therapist" if peer is therapist else "client"
                        raise RuntimeError(
                            f"the {role}'s peer connection went {dropped[0][1]} "
                            f"{dropped[0][0] - run.starts[role]:.0f} s into the session"
                        )
    except Exception as exc:  # one failed session is a figure of the run, not its end
        run.error = f"{type(exc).__name__}: {exc}"


def _progress_printer(
    label: str, seconds: float, runs: list[SessionRun]
) -> Callable[[Sample], None]:
    tty = sys.stderr.isatty()
    last = [0.0]

    def show(s: Sample) -> None:
        finals = sum(
            1 for r in runs for _, e in r.events if e["type"] == "utterance" and e.get("final")
        )
        line = (
            f"{label}: {s.t:5.0f}/{seconds:.0f} s, {finals} finals, queue {s.queue}, "
            f"server CPU {s.cpu:3.0f}% RSS {s.rss_mb:4.0f} MB, load {s.load1:.2f}, "
            f"lag: server {s.health_ms:.0f} ms, peers {s.generator_lag_ms:.0f} ms"
        )
        if tty:
            print(f"\r{line}   ", end="", file=sys.stderr, flush=True)
        elif s.t - last[0] >= 30:
            last[0] = s.t
            print(line, file=sys.stderr, flush=True)

    return show


def run_load(
    scripts: Sequence[Script],
    tmp: Path,
    *,
    serve_args: Sequence[str] = (),
    stagger_s: float = 2.0,
    settle_s: float = 4.0,
    interval_s: float = 1.0,
    label: str = "load",
    nice: int | None = None,
) -> RunResult:
    """Run one session per script at once (session i joins ``i * stagger_s`` after the first)
    through a fresh `attune serve`; returns every panel event with its arrival time and the
    server's samples.

    ``nice`` (root only for a negative value) runs the server and this process's peers at
    that scheduling priority, ahead of other work on a shared machine: a server starved of CPU
    falls behind its sockets, the kernel drops incoming packets (ICE consent responses among
    them) and after 6 missed checks in a row (30 s) aioice drops the call. That is what a
    dedicated server is spared; the figures of a run say which priority it had."""
    data = tmp / "data"
    accounts = [(f"load{i}", PASSWORD) for i in range(len(scripts))]
    for name, password in accounts:  # one therapist per session, as in a clinic
        add_user(data, name, "therapist", password)
    runs = [SessionRun(i, s) for i, s in enumerate(scripts)]
    seconds = max(s.seconds for s in scripts) + stagger_s * (len(scripts) - 1) + settle_s
    load_before = os.getloadavg()[0]
    with live_server(tmp, *serve_args) as server, _priority(nice, server.process.pid):

        async def main() -> RunResult:
            samples: list[Sample] = []
            t0 = time.time()
            monitor = asyncio.create_task(
                _monitor(server, t0, samples, _progress_printer(label, seconds, runs), interval_s)
            )
            try:
                await asyncio.gather(
                    *(
                        _session(run, server, accounts[run.index], run.index * stagger_s, settle_s)
                        for run in runs
                    )
                )
            finally:
                monitor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await monitor
            if sys.stderr.isatty():
                print(file=sys.stderr)
            return RunResult(runs, samples, t0, time.time() - t0, load_before)

        return eventloop.run(main())


def run_soak(
    lines: Sequence[Line],
    seconds: float,
    tmp: Path,
    *,
    serve_args: Sequence[str] = (),
    nice: int | None = None,
    settle_s: float = 4.0,
    label: str = "soak",
) -> RunResult:
    """One live session for ``seconds`` through a fresh server. If the call drops (on a
    starved, shared machine aioice can end it), the soak goes on with a new session on the
    same server for the time left, as a clinic would; each session is one ``SessionRun``
    (``error`` says why it ended early), so memory is measured over the whole time."""
    data = tmp / "data"
    account = ("soak", PASSWORD)
    add_user(data, account[0], "therapist", account[1])
    cache: dict[Line, np.ndarray] = {}
    runs: list[SessionRun] = []
    with live_server(tmp, *serve_args) as server, _priority(nice, server.process.pid):

        async def main() -> RunResult:
            samples: list[Sample] = []
            t0 = time.time()
            deadline = t0 + seconds
            monitor = asyncio.create_task(
                _monitor(server, t0, samples, _progress_printer(label, seconds, runs), 1.0)
            )
            try:
                while deadline - time.time() > 60:
                    left = deadline - time.time()
                    script = await asyncio.to_thread(
                        _script_for, lines, left, tmp / f"audio-{len(runs)}", cache
                    )
                    run = SessionRun(len(runs), script)
                    runs.append(run)
                    await _session(run, server, account, 0.0, settle_s)
                    if run.error is None:
                        break
                    print(f"{label}: session {run.index} ended: {run.error}", file=sys.stderr)
            finally:
                monitor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await monitor
            return RunResult(runs, samples, t0, time.time() - t0, load_before)

        load_before = os.getloadavg()[0]
        return eventloop.run(main())


def _script_for(
    lines: Sequence[Line], seconds: float, out_dir: Path, cache: dict[Line, np.ndarray]
) -> Script:
    """The dialogue repeated, then cut to the last whole turn that ends within ``seconds``."""
    one = compose(lines, out_dir / "probe", cache=cache)
    per_turn = one.seconds / len(lines)
    repeats = list(lines) * int(np.ceil(seconds / one.seconds))
    script = compose(repeats[: max(2, int(seconds / per_turn))], out_dir, cache=cache)
    while script.seconds > seconds and len(script.turns) > 2:
        cut = max(2, len(script.turns) - max(1, int((script.seconds - seconds) / per_turn)))
        script = compose(repeats[:cut], out_dir, cache=cache)
    return script


def _renice(pid: int, nice: int) -> None:
    """Every thread of process ``pid`` at scheduling priority ``nice`` (Linux: per thread;
    threads started later inherit their creator's)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, int(tid), nice)


@contextlib.contextmanager
def _priority(nice: int | None, server_pid: int) -> Iterator[None]:
    """The server and this process (the peers) at priority ``nice``; this process back to
    its own priority afterwards."""
    if nice is None:
        yield
        return
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        _renice(server_pid, nice)
        _renice(os.getpid(), nice)
    except PermissionError:
        print(f"loadtest: cannot set priority {nice}; running at {before}", file=sys.stderr)
    try:
        yield
    finally:
        with contextlib.suppress(PermissionError):
            _renice(os.getpid(), before)


# -- analysis ----------------------------------------------------------------------------------
@dataclass
class Match:
    turn: Turn
    arrival: float
    latency: float
    text: str
    event_id: str


@dataclass
class SessionFigures:
    turns: int
    """Turns of the script spoken while the call was up."""
    matched: list[Match]
    missed: list[Turn]
    extra_finals: int
    cue_latencies: list[float]
    cues: int
    lag_notices: int
    finals: list[tuple[float, str]]
    """Every non-empty final (arrival, text), in arrival order."""


def analyse_session(run: SessionRun, within_s: float = 30.0) -> SessionFigures:
    """Match each turn of the script to one final on the panel (same speaker, arriving up to
    ``within_s`` after its speech ended, WER < 0.6); times of cues against the finals they
    name."""
    arrivals = [
        (t, e)
        for t, e in run.events
        if e["type"] == "utterance" and e.get("final") and str(e.get("text", "")).strip()
    ]
    used: set[int] = set()
    matched: list[Match] = []
    missed: list[Turn] = []
    turns = 0
    for turn in run.script.turns:
        if turn.speaker not in run.starts:
            missed.append(turn)
            turns += 1
            continue
        end_wall = run.starts[turn.speaker] + turn.end
        if run.ended_early is not None and end_wall > run.ended_early:
            continue  # spoken after the call dropped: reported as a failed session instead
        turns += 1
        found = None
        for i, (t, e) in enumerate(arrivals):
            if (
                i in used
                or e["speaker"] != turn.speaker
                or not end_wall - 1 < t < end_wall + within_s
            ):
                continue
            if word_error_rate(turn.text, e["text"]) < 0.6:
                found = i
                break
        if found is None:
            missed.append(turn)
            continue
        used.add(found)
        t, e = arrivals[found]
        matched.append(Match(turn, t, t - end_wall, str(e["text"]), str(e["id"])))
    final_at = {str(e["id"]): t for t, e in arrivals}
    cue_latencies = [
        t - final_at[str(e["utterance_id"])]
        for t, e in run.events
        if e["type"] == "cue" and str(e.get("utterance_id")) in final_at
    ]
    return SessionFigures(
        turns=turns,
        matched=matched,
        missed=missed,
        extra_finals=len(arrivals) - len(used),
        cue_latencies=cue_latencies,
        cues=sum(1 for _, e in run.events if e["type"] == "cue"),
        lag_notices=sum(
            1
            for _, e in run.events
            if e["type"] == "notice" and e.get("code") == "transcription_lagging"
        ),
        finals=[(t, str(e["text"])) for t, e in arrivals],
    )


@dataclass
class LoadReport:
    sessions: int
    seconds: float
    turns: int
    matched: int
    missed: int
    extra_finals: int
    late_finals: int
    """Finals later than 1.5 s after their speech ended."""
    lag_notices: int
    failed_sessions: list[str]
    latency_s: dict[str, float]
    cue_latency_s: dict[str, float]
    cues: int
    server_cpu_pct: dict[str, float]
    server_rss_mb: dict[str, float]
    queue_depth: dict[str, float]
    model_share: float
    """Share of the wall time the single recogniser worker was busy (1.0: saturated)."""
    load_avg: dict[str, float]
    """1-minute load average during the run (this run's own processes included) and
    ``before``: just before its server started."""
    generator_cpu_pct: float

    @property
    def holds(self) -> bool:
        return (
            not self.failed_sessions
            and self.latency_s["p95"] <= TARGET_P95_S
            and self.missed <= 0.1 * self.turns
        )


def _quantiles(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.5), 3),
        "p95": round(percentile(values, 0.95), 3),
        "p99": round(percentile(values, 0.99), 3),
        "max": round(max(values), 3) if values else float("nan"),
        "n": len(values),
    }


def _busy_share(samples: Sequence[Sample]) -> float:
    busy = [(s.t, s.model_busy_s) for s in samples if s.model_busy_s == s.model_busy_s]
    if len(busy) < 2 or busy[-1][0] <= busy[0][0]:
        return float("nan")
    return (busy[-1][1] - busy[0][1]) / (busy[-1][0] - busy[0][0])


def report(result: RunResult) -> LoadReport:
    figures = [analyse_session(run) for run in result.sessions]
    latencies = [m.latency for f in figures for m in f.matched]
    cue_latencies = [c for f in figures for c in f.cue_latencies]
    # server figures while every session is up (not the joins and the last session's tail)
    steady = [s for s in result.samples if s.rooms == len(result.sessions)] or result.samples
    cpu = [s.cpu for s in steady]
    rss = [s.rss_mb for s in result.samples]
    queue = [float(s.queue) for s in steady if s.queue >= 0]
    load = [s.load1 for s in result.samples]
    return LoadReport(
        sessions=len(result.sessions),
        seconds=round(result.seconds, 1),
        turns=sum(f.turns for f in figures),
        matched=len(latencies),
        missed=sum(len(f.missed) for f in figures),
        extra_finals=sum(f.extra_finals for f in figures),
        late_finals=sum(1 for v in latencies if v > TARGET_P95_S),
        lag_notices=sum(f.lag_notices for f in figures),
        failed_sessions=[f"session {r.index}: {r.error}" for r in result.sessions if r.error],
        latency_s=_quantiles(latencies),
        cue_latency_s=_quantiles(cue_latencies),
        cues=sum(f.cues for f in figures),
        server_cpu_pct={
            "mean": round(statistics.mean(cpu), 1) if cpu else float("nan"),
            "max": round(max(cpu), 1) if cpu else float("nan"),
        },
        server_rss_mb={
            "start": round(rss[0], 1) if rss else float("nan"),
            "max": round(max(rss), 1) if rss else float("nan"),
            "end": round(rss[-1], 1) if rss else float("nan"),
        },
        queue_depth={
            "mean": round(statistics.mean(queue), 2) if queue else float("nan"),
            "max": max(queue) if queue else float("nan"),
        },
        model_share=round(_busy_share(steady), 3),
        load_avg={
            "before": round(result.load_before, 2),
            "mean": round(statistics.mean(load), 2) if load else float("nan"),
            "max": round(max(load), 2) if load else float("nan"),
        },
        generator_cpu_pct=round(statistics.mean(s.generator_cpu for s in steady), 1)
        if steady
        else float("nan"),
    )


def _doubled(text: str) -> bool:
    """A run of words said twice in a row ("I feel I feel")."""
    return collapse_repeats(text, max_repeats=1).split() != text.split()


def repeated_finals(texts: Sequence[str], k: int = 10) -> int:
    """How many texts equal one of the ``k`` texts before them (normalised words)."""
    norm = [" ".join(normalise_words(t)) for t in texts]
    return sum(1 for i, t in enumerate(norm) if t and t in norm[max(0, i - k) : i])


@dataclass
class Window:
    index: int
    start_s: float
    end_s: float
    turns: int
    matched: int
    latency_s: dict[str, float]
    wer: float
    """Word error rate of the matched finals against their turns."""
    words_ratio: float
    """Words in the matched finals / words of their turns: grows if text repeats itself."""
    repeated_finals: int
    """Finals identical to one of the previous 10, beyond the script's own repeats."""
    doubled_finals: int
    """Finals with a run of words said twice in a row where their turn has none."""
    doubled_texts: list[str]
    """Those finals' text, to look at."""
    rss_mb_end: float
    cpu_pct_mean: float
    load_avg_mean: float
    model_share: float


def windows(result: RunResult, window_s: float, k: int = 10) -> list[Window]:
    """Per-window figures of a soak (one session at a time; several when a call dropped and
    the soak went on with a new one): a turn belongs to the window its speech ends in, a
    sample to the window of its time; times count from the first microphone frame."""
    origin = _origin(result)
    turns_at: list[tuple[float, Turn, Match | None]] = []
    finals_at: list[tuple[float, str]] = []
    for run in result.sessions:
        if not run.starts:
            continue
        figures = analyse_session(run)
        by_turn = {id(m.turn): m for m in figures.matched}
        for turn in run.script.turns:
            end_wall = run.starts[turn.speaker] + turn.end
            if run.ended_early is not None and end_wall > run.ended_early:
                continue
            turns_at.append((end_wall - origin, turn, by_turn.get(id(turn))))
        finals_at += [(at - origin, text) for at, text in figures.finals]
    span = max((t for t, _, _ in turns_at), default=window_s)
    count = max(1, int(np.ceil(span / window_s)))
    out = []
    for w in range(count):
        lo, hi = w * window_s, (w + 1) * window_s
        turns = [turn for t, turn, _ in turns_at if lo <= t < hi]
        matches = [m for t, _, m in turns_at if lo <= t < hi and m is not None]
        finals = [text for t, text in finals_at if lo <= t < hi]
        script_repeats = repeated_finals([t.text for t in turns], k)
        ref_words = sum(len(normalise_words(m.turn.text)) for m in matches)
        hyp_words = sum(len(normalise_words(m.text)) for m in matches)
        errors = sum(
            word_error_rate(m.turn.text, m.text) * len(normalise_words(m.turn.text))
            for m in matches
        )
        samples = [s for s in result.samples if lo <= s.t + result.t0 - origin < hi]
        doubled = [m for m in matches if _doubled(m.text) and not _doubled(m.turn.text)]
        out.append(
            Window(
                index=w + 1,
                start_s=lo,
                end_s=min(hi, span),
                turns=len(turns),
                matched=len(matches),
                latency_s=_quantiles([m.latency for m in matches]),
                wer=round(errors / ref_words, 3) if ref_words else float("nan"),
                words_ratio=round(hyp_words / ref_words, 3) if ref_words else float("nan"),
                repeated_finals=max(0, repeated_finals(finals, k) - script_repeats),
                doubled_finals=len(doubled),
                doubled_texts=[m.text for m in doubled],
                rss_mb_end=round(samples[-1].rss_mb, 1) if samples else float("nan"),
                cpu_pct_mean=round(statistics.mean(s.cpu for s in samples), 1)
                if samples
                else float("nan"),
                load_avg_mean=round(statistics.mean(s.load1 for s in samples), 2)
                if samples
                else float("nan"),
                model_share=round(_busy_share(samples), 3),
            )
        )
    return out


def _origin(result: RunResult) -> float:
    starts = [min(r.starts.values()) for r in result.sessions if r.starts]
    return min(starts) if starts else result.t0


def rss_at(result: RunResult, seconds: float) -> float:
    """Server RSS (MB) at the sample nearest ``seconds`` after the first microphone frame."""
    origin = _origin(result)
    return min(result.samples, key=lambda s: abs(s.t + result.t0 - origin - seconds)).rss_mb


# -- printing ----------------------------------------------------------------------------------
def format_report(r: LoadReport) -> str:
    lat, cue = r.latency_s, r.cue_latency_s
    return "\n".join(
        [
            f"N={r.sessions}: {r.seconds:.0f} s, {r.turns} turns, {r.matched} matched, "
            f"{r.missed} missed, {r.extra_finals} extra finals, {r.late_finals} finals > 1.5 s, "
            f"{r.lag_notices} lag notices"
            + (f", FAILED: {'; '.join(r.failed_sessions)}" if r.failed_sessions else ""),
            f"  speech end -> final: p50 {lat['p50']:.2f} s, p95 {lat['p95']:.2f} s, "
            f"p99 {lat['p99']:.2f} s, max {lat['max']:.2f} s",
            f"  final -> cue ({r.cues} cues): p50 {cue['p50'] * 1000:.0f} ms, "
            f"p95 {cue['p95'] * 1000:.0f} ms, p99 {cue['p99'] * 1000:.0f} ms",
            f"  server CPU mean {r.server_cpu_pct['mean']:.0f}%"
            f" (max {r.server_cpu_pct['max']:.0f}%)"
            f" of one core, RSS {r.server_rss_mb['start']:.0f} -> {r.server_rss_mb['max']:.0f} MB"
            f", queue depth mean {r.queue_depth['mean']:.2f} (max {r.queue_depth['max']:.0f})"
            f", recogniser busy {r.model_share:.0%} of the time",
            f"  generator CPU {r.generator_cpu_pct:.0f}%, load average {r.load_avg['before']:.2f}"
            f" before, mean {r.load_avg['mean']:.2f} (max {r.load_avg['max']:.2f}) during"
            f" -> {'holds' if r.holds else 'does NOT hold'} p95 <= {TARGET_P95_S} s",
        ]
    )


def format_curve(reports: Sequence[LoadReport]) -> str:
    head = (
        "| N | turns (missed, extra) | final p50 / p95 / p99 (s) | cue p50 / p95 (ms) | "
        "server CPU mean (max) | RSS max (MB) | queue mean (max) | recogniser busy | "
        "late > 1.5 s | lag notices | load avg before / during |\n|" + "---|" * 11
    )
    rows = [
        f"| {r.sessions} | {r.turns} ({r.missed}, {r.extra_finals}) | "
        f"{r.latency_s['p50']:.2f} / {r.latency_s['p95']:.2f} / {r.latency_s['p99']:.2f} | "
        f"{r.cue_latency_s['p50'] * 1000:.0f} / {r.cue_latency_s['p95'] * 1000:.0f} | "
        f"{r.server_cpu_pct['mean']:.0f}% ({r.server_cpu_pct['max']:.0f}%) | "
        f"{r.server_rss_mb['max']:.0f} | "
        f"{r.queue_depth['mean']:.2f} ({r.queue_depth['max']:.0f}) | "
        f"{r.model_share:.0%} | {r.late_finals} | {r.lag_notices} | "
        f"{r.load_avg['before']:.2f} / {r.load_avg['mean']:.2f} |"
        for r in reports
    ]
    return "\n".join([head, *rows])


def format_windows(ws: Sequence[Window]) -> str:
    head = (
        "| window (min) | turns (matched) | final p50 / p95 / max (s) | WER | words ratio | "
        "repeated | doubled | RSS end (MB) | CPU mean | recogniser busy | load avg |\n|"
        + "---|"
        * 11
    )
    rows = [
        f"| {w.start_s / 60:.0f}-{w.end_s / 60:.0f} | {w.turns} ({w.matched}) | "
        f"{w.latency_s['p50']:.2f} / {w.latency_s['p95']:.2f} / {w.latency_s['max']:.2f} | "
        f"{w.wer:.3f} | {w.words_ratio:.2f} | {w.repeated_finals} | {w.doubled_finals} | "
        f"{w.rss_mb_end:.0f} | {w.cpu_pct_mean:.0f}% | {w.model_share:.0%} | "
        f"{w.load_avg_mean:.2f} |"
        for w in ws
    ]
    return "\n".join([head, *rows])


# -- command line ------------------------------------------------------------------------------
def quiet_webrtc_logs() -> None:
    """aioice logs every ICE check at INFO: hundreds of lines per session."""
    import logging

    for name in ("aioice", "aiortc"):
        logging.getLogger(name).setLevel(logging.WARNING)


def sample_lines() -> list[Line]:
    from assistant.cli import sample_dialogue

    return read_dialogue(sample_dialogue())


def run_curve(
    lines: Sequence[Line],
    counts: Sequence[int],
    minutes: float,
    *,
    serve_args: Sequence[str] = (),
    stagger_s: float = 2.0,
    keep: Path | None = None,
    nice: int | None = None,
) -> list[LoadReport]:
    """Run the load for each N in ``counts`` (a fresh server each), print each report."""
    reports = []
    cache: dict[Line, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="attune-load-") as tmp_name:
        tmp = Path(tmp_name)
        for n in counts:
            work = tmp / f"n{n}"
            scripts = make_scripts(lines, n, minutes * 60, work / "audio", cache)
            result = run_load(
                scripts,
                work,
                serve_args=serve_args,
                stagger_s=stagger_s,
                label=f"N={n}",
                nice=nice,
            )
            r = report(result)
            reports.append(r)
            print(format_report(r), flush=True)
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"server-n{n}.log").write_text((work / "server.log").read_text("utf-8"))
    return reports


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "loadtest",
        help="N synthetic live sessions at once through a real `attune serve`: latency, CPU, "
        "memory, queue depth",
        description=(__doc__ or "").split("\n\n")[0],
    )
    p.add_argument(
        "--sessions",
        default="1,2,4",
        help="comma-separated numbers of simultaneous sessions, one run each (default 1,2,4)",
    )
    p.add_argument(
        "--minutes", type=float, default=2.0, help="length of each session's dialogue (default 2)"
    )
    p.add_argument(
        "--dialogue",
        type=Path,
        help="JSON lines {speaker, text} spoken by espeak-ng (default: the bundled sample)",
    )
    p.add_argument("--stagger", type=float, default=2.0, help="seconds between session joins")
    p.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an argument passed on to `attune serve` (repeatable: --serve-arg=--no-cues)",
    )
    p.add_argument("--json", type=Path, help="also write the reports here as JSON")
    p.add_argument(
        "--nice",
        type=int,
        help="run the server and the synthetic peers at this scheduling priority, e.g. -10 "
        "(root): on a shared machine, figures of this run rather than of other work",
    )


def main_args(args: argparse.Namespace) -> int:
    try:
        counts = [int(n) for n in str(args.sessions).split(",") if n.strip()]
    except ValueError:
        print("attune: error: --sessions takes numbers such as 1,2,4", file=sys.stderr)
        return 2
    if not counts or min(counts) < 1 or args.minutes <= 0:
        print("attune: error: --sessions and --minutes must be positive", file=sys.stderr)
        return 2
    try:
        import psutil  # noqa: F401
    except ImportError:
        print("attune: error: attune loadtest needs psutil (pip install psutil)", file=sys.stderr)
        return 2
    quiet_webrtc_logs()
    try:
        lines = read_dialogue(args.dialogue) if args.dialogue else sample_lines()
    except (OSError, ValueError) as exc:
        print(f"attune: error: {exc}", file=sys.stderr)
        return 2
    reports = run_curve(
        lines,
        counts,
        args.minutes,
        serve_args=args.serve_arg,
        stagger_s=args.stagger,
        nice=args.nice,
    )
    print(format_curve(reports))
    holding = [r.sessions for r in reports if r.holds]
    print(
        f"largest N holding p95 <= {TARGET_P95_S} s: {max(holding) if holding else 'none'}",
        flush=True,
    )
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=1))
    return 0


# -- silence and noise on a live track ---------------------------------------------------------
def quiet_wav(path: Path, silence_s: float, noise_s: float, colour: str, vol: float = 0.3) -> Path:
    """``silence_s`` of digital silence, then ``noise_s`` of sox's ``colour`` noise
    (brownnoise, pinknoise, whitenoise) at ``vol``: 48 kHz mono 16-bit, as a microphone."""
    import shutil
    import subprocess

    sox = shutil.which("sox")
    if sox is None:
        raise RuntimeError("sox is not installed (apt-get install sox)")
    fmt = ["-r", "48000", "-c", "1", "-b", "16"]
    silent, noisy = path.with_suffix(".silence.wav"), path.with_suffix(".noise.wav")
    subprocess.run([sox, "-n", *fmt, str(silent), "trim", "0", str(silence_s)], check=True)
    subprocess.run(
        [sox, "-n", *fmt, str(noisy), "synth", str(noise_s), colour, "vol", str(vol)], check=True
    )
    subprocess.run([sox, str(silent), str(noisy), str(path)], check=True)
    silent.unlink()
    noisy.unlink()
    return path


@dataclass
class QuietRun:
    """What the panel received while both participants streamed silence, then noise."""

    seconds: float
    utterances: list[dict[str, Any]]
    """Every utterance event (interim or final) the panel received: must be none with text."""
    words: int
    health: dict[str, Any]
    """``/healthz`` at the end: how many speech jobs reached the recogniser at all."""
    server_cpu_pct: float
    notices: list[str]


def run_quiet(
    tmp: Path,
    silence_s: float,
    noise_s: float,
    *,
    colours: tuple[str, str] = ("pinknoise", "brownnoise"),
    vol: float = 0.3,
    serve_args: Sequence[str] = (),
    nice: int | None = None,
) -> QuietRun:
    """One live session whose therapist and client microphones carry ``silence_s`` of
    silence, then ``noise_s`` of noise (``colours``: therapist's, client's), through a real
    `attune serve` with transcription consented; returns what the panel showed."""
    import psutil

    wavs = {
        "therapist": quiet_wav(tmp / "therapist.wav", silence_s, noise_s, colours[0], vol),
        "client": quiet_wav(tmp / "client.wav", silence_s, noise_s, colours[1], vol),
    }
    seconds = silence_s + noise_s
    with live_server(tmp, *serve_args) as server, _priority(nice, server.process.pid):
        created = api(
            server,
            "POST",
            "/api/sessions",
            {"planned_minutes": int(seconds / 60) + 10, "label": "quiet"},
            THERAPIST,
        )[1]
        tokens = {r: token_of(created[f"{r}_url"]) for r in ("therapist", "client")}
        ws_base = server.base_url.replace("http://", "ws://")
        cookie = server.therapist_cookie()
        proc = psutil.Process(server.process.pid)

        async def main() -> list[tuple[float, dict[str, Any]]]:
            async with (
                PanelListener(ws_base, tokens["therapist"], cookie=cookie) as panel,
                PeerParticipant(ws_base, tokens["therapist"], wavs["therapist"], cookie) as t,
                PeerParticipant(ws_base, tokens["client"], wavs["client"]) as c,
            ):
                await start_call(t, c)
                proc.cpu_percent()
                t0 = time.time()
                while time.time() - t0 < seconds + 3.0:
                    await asyncio.sleep(min(10.0, seconds + 3.0 - (time.time() - t0)))
                    shown = sum(1 for _, e in panel.events if e["type"] == "utterance")
                    print(
                        f"quiet track: {time.time() - t0:4.0f}/{seconds:.0f} s, "
                        f"{shown} utterance events",
                        file=sys.stderr,
                        flush=True,
                    )
                return list(panel.events)

        events = eventloop.run(main())
        cpu = proc.cpu_percent()
        health = _healthz(server.base_url)
    utterances = [e for _, e in events if e["type"] == "utterance"]
    return QuietRun(
        seconds=seconds,
        utterances=utterances,
        words=sum(len(str(e.get("text", "")).split()) for e in utterances),
        health=health,
        server_cpu_pct=round(cpu, 1),
        notices=[str(e.get("code")) for _, e in events if e["type"] == "notice"],
    )
