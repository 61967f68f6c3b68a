"""Hostile input: fuzz a real `attune serve` over HTTP (schemathesis, against /openapi.json)
and over its WebSockets (hypothesis), then check that nothing broke.

    .venv/bin/python bench/fuzz.py --http-cases 6000 --ws-cases 4000

Starts `attune serve` in a subprocess with its own data folder, seeded with an account of every
role (two therapists, a trainer, an assistant, an admin) and sessions holding content (a
transcript, labels, cues; each session's label and transcript carry a unique marker), plus a
live "bystander" session: its therapist's control and panel sockets and its client's control
socket stay connected through the whole run.

HTTP: every operation of the schema, positive and negative data, with no login, the login
cookie of each role, and a forged cookie; session ids of the owner's sessions (shared for
training and not), another therapist's, and generated ones; no Origin, the same origin, or a
foreign one. Each answer must be no 5xx, conform to the schema (status code, content type,
JSON body), carry no marker of a session the role may not read, and a change with a foreign
Origin must be refused.

WebSockets: scripts of frames on /ws/control and /ws/panel: a hello with the therapist's or
the client's join link, an ended session's link, a forged or malformed token, or no hello;
with each role's cookie or none, and the same, a foreign or no Origin; then every message
type with generated fields, garbage and enormous SDP offers (after the client is admitted),
invalid JSON, binary frames, oversized frames. Each connection must end with an application
close code (never 1011, an internal error), a failed hello must get no welcome, a client's
connection must never receive transcript, cues or the session's label, and nothing may carry
another session's markers.

After each part: the server process is alive, /healthz answers ok, its log holds no
traceback, and the bystander session's three sockets are still open (they answer a ping),
were never closed or replaced, and its client received nothing it must not see.

Prints cases tried, failures (with the first few), the answers' status counts, and the time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import secrets
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hypothesis.strategies as st  # noqa: E402
import schemathesis  # noqa: E402
import websockets  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from assistant.cues.catalog import KINDS  # noqa: E402
from assistant.live import health  # noqa: E402
from assistant.server.openapi import schema as openapi_schema  # noqa: E402
from assistant.store import open_store  # noqa: E402
from assistant.store.records import FEEDBACK_VALUES  # noqa: E402
from assistant.testing.live import THERAPIST, LiveServer, api, live_server, token_of  # noqa: E402
from tests.test_reports import TURNS, sample_events  # noqa: E402

PASSWORD = "fuzz-password-123"
USERS: dict[str, str] = {  # name -> role; THERAPIST owns the fuzzed sessions
    "kim": "therapist",
    "sam": "trainer",
    "ava": "assistant",
    "root": "admin",
}
HTTP_ROLES = ("anonymous", "owner", "other_therapist", "trainer", "assistant", "admin", "forged")
ROLE_USER = {
    "owner": THERAPIST[0],
    "other_therapist": "kim",
    "trainer": "sam",
    "assistant": "ava",
    "admin": "root",
}
CONTENT_TYPES = {"utterance", "cue", "summary", "labels", "cue_settings", "history"}
"""Event types of a session's content: only the therapist's panel may receive them."""
TRACEBACK = re.compile(r"Traceback|Exception in ASGI|ERROR", re.MULTILINE)
ALLOWED_CLOSE = {1000, 1001, 1005, 1008, 1009, 4400, 4401, 4403, 4408, 4409, 4410, 4429}


# -- the world: a seeded server -------------------------------------------------------------


@dataclass
class Seeded:
    """A stored session and the markers of its content."""

    id: str
    therapist: str
    shared: bool
    label: str
    said: str
    """In every utterance's text."""
    cue: str
    """In every cue's message."""

    @property
    def markers(self) -> tuple[str, str, str]:
        return self.label, self.said, self.cue


@dataclass
class Bystander:
    """A live session next to the fuzzed one: both people connected, the panel open, held by
    its own event loop in a thread for the whole run."""

    session: dict[str, Any]
    cookie: str
    ws_base: str
    problems: list[str] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError(f"the bystander session did not start: {self.problems}")
        if self.problems:
            raise RuntimeError(f"the bystander session did not start: {self.problems}")

    def finish(self) -> list[str]:
        """Stop, after checking that all three sockets still answer; returns the problems."""
        if self._loop is not None and self._stop is not None and not self._done.is_set():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._done.wait(60)
        return self.problems

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            therapist_token = token_of(self.session["therapist_url"])
            therapist = await _Socket.open(self.ws_base, "control", therapist_token, self.cookie)
            client = await _Socket.open(
                self.ws_base, "control", token_of(self.session["client_url"])
            )
            panel = await _Socket.open(self.ws_base, "panel", therapist_token, self.cookie)
            try:
                await therapist.expect("welcome")
                await client.expect("welcome")
                await therapist.send({"type": "admit"})
                await client.expect("admitted")
                for peer in (therapist, client):
                    await peer.send({"type": "consent", "agreed": True})
                await client.expect("consent_state")
                self._ready.set()
                await self._stop.wait()
                for who, peer in (("therapist", therapist), ("client", client), ("panel", panel)):
                    try:
                        await peer.send({"type": "ping"})
                        await peer.expect("pong")
                    except (TimeoutError, websockets.ConnectionClosed):
                        self.problems.append(f"the bystander's {who} socket stopped answering")
                    for m in peer.messages:
                        if m.get("type") in ("ended", "error"):
                            self.problems.append(f"the bystander's {who} got {m}")
                for m in client.messages:
                    if m.get("type") in CONTENT_TYPES or self.session["label"] in json.dumps(m):
                        self.problems.append(f"the bystander's client received content: {m}")
            finally:
                for peer in (therapist, client, panel):
                    await peer.ws.close()
        except Exception as exc:
            self.problems.append(f"the bystander session failed: {exc!r}")
        finally:
            self._ready.set()
            self._done.set()


@dataclass
class _Socket:
    """A plain websockets client of the bystander (no keepalive pings: those draw on the
    random module, which hypothesis watches in the fuzzing thread)."""

    ws: Any
    messages: list[dict[str, Any]]
    _seen: int = 0

    @classmethod
    async def open(cls, base: str, path: str, token: str, cookie: str | None = None) -> _Socket:
        headers = {"Cookie": cookie} if cookie else {}
        ws = await websockets.connect(
            f"{base}/ws/{path}", additional_headers=headers, ping_interval=None, max_size=2**22
        )
        await ws.send(json.dumps({"type": "hello", "token": token}))
        return cls(ws, [])

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def expect(self, kind: str, within: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            for m in self.messages[self._seen :]:
                self._seen += 1
                if m.get("type") == kind:
                    return m
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {kind}")
            self.messages.append(json.loads(await asyncio.wait_for(self.ws.recv(), remaining)))


@dataclass
class World:
    server: LiveServer
    seeded: dict[str, Seeded]
    cookies: dict[str, str]
    bystander: Bystander
    fuzzed: dict[str, Any]
    """The live session the WebSocket fuzzer talks to (replaced when a script ends it)."""
    ended_tokens: list[str] = field(default_factory=list)
    real_offer: str = ""

    @property
    def ws_base(self) -> str:
        return self.server.base_url.replace("http://", "ws://")

    def markers_of(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {sid: s.markers for sid, s in self.seeded.items()}
        out[self.bystander.session["id"]] = (self.bystander.session["label"],)
        out[self.fuzzed["id"]] = (self.fuzzed["label"],)
        return out

    def refresh_if_ended(self) -> None:
        """A script may have ended the fuzzed session without hearing so: ask the server."""
        status, body = api(self.server, "GET", "/api/sessions", login=THERAPIST)
        if status == 200:
            for s in body["sessions"]:
                if s["id"] == self.fuzzed["id"] and s["ended_at"] is not None:
                    self.new_fuzzed_session()

    def new_fuzzed_session(self) -> None:
        old = self.fuzzed
        self.ended_tokens += [token_of(old["therapist_url"]), token_of(old["client_url"])]
        self.fuzzed = _create(self.server, f"fuzzed{secrets.token_hex(8)}")


def _create(server: LiveServer, label: str) -> dict[str, Any]:
    status, body = api(
        server, "POST", "/api/sessions", {"planned_minutes": 50, "label": label}, login=THERAPIST
    )
    if status != 201:
        raise RuntimeError(f"creating a session failed: {status} {body}")
    return body


def seed(data_dir: Path) -> dict[str, Seeded]:
    """Accounts of every role and three stored sessions with content, before the server runs."""
    store = open_store(data_dir)
    try:
        ids = {THERAPIST[0]: store.add_user(THERAPIST[0], "therapist", THERAPIST[1]).id}
        for name, role in USERS.items():
            ids[name] = store.add_user(name, role, PASSWORD).id  # type: ignore[arg-type]
        store.assign_assistant(ids["ava"], ids[THERAPIST[0]])
        seeded: dict[str, Seeded] = {}
        for sid, owner, shared in (
            ("own-private", THERAPIST[0], False),
            ("own-shared", THERAPIST[0], True),
            ("kims-private", "kim", False),
        ):
            hexes = [secrets.token_hex(8) for _ in range(3)]
            s = Seeded(sid, owner, shared, f"label{hexes[0]}", f"said{hexes[1]}", f"cue{hexes[2]}")
            store.create_session(ids[owner], session_id=sid, label=s.label, planned_minutes=50)
            turns = [(t[0], t[1], t[2], f"{t[3]} {s.said}", t[4], t[5]) for t in TURNS]
            for event in sample_events(sid, turns):
                if event["type"] == "cue":
                    event["message"] += f" {s.cue}"
                store.append_event(sid, event)
            if shared:
                store.set_shared_for_training(sid, True)
            seeded[sid] = s
        return seeded
    finally:
        store.close()


async def _real_offer() -> str:
    from aiortc import RTCConfiguration, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="sendrecv")
    pc.addTransceiver("video", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


@contextlib.contextmanager
def fuzz_world(tmp: Path, *extra: str) -> Iterator[World]:
    """A seeded `attune serve`, logins of every role, the bystander session running."""
    seeded = seed(tmp / "data")
    # generous limits: the fuzzer sends far more than a person (the limits have their tests)
    with live_server(tmp, "--max-open-sessions", "0", "--api-rate", "60000", *extra) as server:
        cookies = {"owner": server.therapist_cookie()}
        for role, name in ROLE_USER.items():
            if role != "owner":
                cookies[role] = server.cookie(name, PASSWORD)
        cookies["forged"] = "attune_login=" + secrets.token_urlsafe(32)
        label = f"bystander{secrets.token_hex(8)}"
        bystander = Bystander(
            _create(server, label), cookies["owner"], server.base_url.replace("http", "ws", 1)
        )
        bystander.start()
        fuzzed = _create(server, f"fuzzed{secrets.token_hex(8)}")
        world = World(server, seeded, cookies, bystander, fuzzed)
        world.real_offer = asyncio.run(_real_offer())
        try:
            yield world
        finally:
            world.bystander.finish()


def server_problems(world: World) -> list[str]:
    """The server is alive, healthy, and logged no error."""
    problems = []
    if world.server.process.poll() is not None:
        problems.append(f"the server exited with {world.server.process.returncode}")
        return problems
    try:
        with urllib.request.urlopen(f"{world.server.base_url}/healthz", timeout=10) as response:
            if json.loads(response.read()).get("status") != "ok":
                problems.append("/healthz is not ok")
    except OSError as exc:
        problems.append(f"/healthz failed: {exc}")
    log = world.server.log()
    for match in TRACEBACK.finditer(log):
        start = max(0, match.start() - 200)
        problems.append(f"the server log has an error: ...{log[start : match.start() + 3000]}")
        break
    return problems


@dataclass
class Report:
    name: str
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        top = ", ".join(f"{k}: {v}" for k, v in self.outcomes.most_common())
        return (
            f"{self.name}: {self.cases} cases, {len(self.failures)} failures, "
            f"{self.server_errors} server errors (5xx or close 1011), {self.seconds:.1f} s; "
            f"outcomes {top}"
        )


def _settings(cases: int, seed: int | None) -> Callable[[Callable[..., None]], Any]:
    """Hypothesis settings of a run: reproducible without a seed (CI), else seeded."""
    chosen = settings(
        max_examples=cases,
        deadline=None,
        database=None,
        derandomize=seed is None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )

    def apply(test: Callable[..., None]) -> Any:
        test = chosen(test)
        return test if seed is None else hypothesis_seed(seed)(test)

    return apply


# -- HTTP -----------------------------------------------------------------------------------


def may_read(world: World, role: str, session_id: str, shared: dict[str, bool]) -> bool:
    s = world.seeded[session_id]
    if role in ("owner", "other_therapist"):
        return s.therapist == ROLE_USER[role]
    if role == "trainer":
        return shared[session_id]
    return False


def fuzz_http(world: World, cases: int, seed: int | None = None) -> Report:
    """``cases`` schemathesis cases against the real server; never raises on a failure."""
    report = Report("HTTP")
    schema = schemathesis.openapi.from_dict(openapi_schema())
    strategy = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE)
    )
    shared = {sid: s.shared for sid, s in world.seeded.items()}
    targets = [*world.seeded, "generated"]
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    host = world.server.base_url.split("//", 1)[1]
    origins = {"none": None, "same": f"http://{host}", "foreign": "https://evil.example"}
    started = time.monotonic()

    @_settings(cases, seed)
    @given(
        case=strategy,
        role=st.sampled_from(HTTP_ROLES),
        target=st.sampled_from(targets),
        origin=st.sampled_from(sorted(origins)),
    )
    def run(case: Any, role: str, target: str, origin: str) -> None:
        path = case.operation.path
        if path == "/logout" and role not in ("anonymous", "forged"):
            role = "forged"  # a real logout would end the fuzzer's login of that role
        if "session_id" in (case.path_parameters or {}) and target != "generated":
            case.path_parameters["session_id"] = target
        headers: dict[str, str] = {}
        if role in world.cookies:
            headers["Cookie"] = world.cookies[role]
        if origins[origin]:
            headers["Origin"] = str(origins[origin])
        report.cases += 1
        try:
            response = case.call(base_url=world.server.base_url, headers=headers, timeout=30)
        except Exception as exc:  # the server dropped the connection
            report.failures.append(f"{case.method} {case.formatted_path} as {role}: {exc!r}")
            return
        status = response.status_code
        report.outcomes[f"{status}"] += 1
        what = f"{case.method} {case.formatted_path} as {role} (origin {origin}) -> {status}"
        if status >= 500:
            report.server_errors += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as exc:
            report.failures.append(f"{what}: {str(exc)[:1500]}")
        body = response.content.decode("utf-8", "replace") + str(dict(response.headers))
        for sid, s in world.seeded.items():
            if may_read(world, role, sid, shared):
                continue
            for marker in s.markers:
                if marker in body:
                    report.failures.append(f"{what}: leaks content of {sid} ({marker})")
        for other in (world.bystander.session["label"], world.fuzzed["label"]):
            if other in body and not (role == "owner" and path == "/api/sessions"):
                report.failures.append(f"{what}: leaks a live session's label")
        changes = case.method in ("POST", "PUT", "PATCH", "DELETE")
        if changes and origin == "foreign" and 200 <= status < 300 and path != "/logout":
            report.failures.append(f"{what}: a cross-site change was accepted")
        if path.endswith("/share") and status == 200:
            answer = json.loads(response.content)
            if answer["id"] in shared:
                shared[answer["id"]] = answer["shared_for_training"]

    run()
    report.seconds = time.monotonic() - started
    report.failures += server_problems(world)
    return report


# -- WebSockets -----------------------------------------------------------------------------

Hello = Literal[
    "therapist", "client", "ended", "forged", "short", "not_string", "missing", "oversized",
    "not_json", "binary", "not_hello", "none",
]  # fmt: skip
HELLOS: tuple[str, ...] = Hello.__args__  # type: ignore[attr-defined]
COOKIES = ("none", "owner", "other_therapist", "trainer", "assistant", "admin", "forged")

STATS_FIELDS: tuple[str, ...] = (
    *getattr(health, "STAT_RANGES", {}),
    *getattr(health, "STAT_FLAGS", ()),
    *getattr(health, "CHECK_FIGURES", ()),
    "status",
    "problems",
)
"""Fields of the browsers' ``stats`` and ``check`` reports (values of any shape are sent)."""
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()  # NaN and Infinity too: Python's json module reads them
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)


@st.composite
def sdps(draw: st.DrawFn, real: str) -> Any:
    kinds = ["real", "real", "mutated", "mutated", "garbage", "enormous", "over", "not_str"]
    kind = draw(st.sampled_from(kinds))
    if kind == "real":
        return real
    if kind == "mutated":
        lines = real.split("\r\n")
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(lines) - 1))
            how = draw(st.sampled_from(["drop", "dup", "garble", "truncate"]))
            if how == "drop" and len(lines) > 1:
                del lines[at]
            elif how == "dup":
                lines[at:at] = [lines[at]] * draw(st.integers(1, 200))
            elif how == "garble":
                lines[at] = draw(st.text(max_size=80))
            else:
                lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
        return "\r\n".join(lines)[: 32 * 1024 - 1]
    if kind == "garbage":
        return "v=0" + draw(st.text(max_size=400))
    if kind == "enormous":  # just under the SDP limit: a parser's worst case
        line = draw(st.sampled_from(["a=candidate:1 1 udp 1 1.2.3.4 9 typ host\r\n", "m=\r\n"]))
        return ("v=0\r\n" + line * (32 * 1024 // len(line)))[: 32 * 1024 - 10]
    if kind == "over":
        return "v=0\r\n" + "a=x\r\n" * draw(st.integers(6600, 12000))
    return draw(json_values)


@st.composite
def frames(draw: st.DrawFn, real_offer: str) -> str | bytes:
    """One frame after the hello: a message of every type with generated fields, or junk."""
    kind = draw(
        st.sampled_from(
            [
                "ping", "offer", "offer", "consent", "admit", "end", "cue_feedback",
                "cue_settings", "hello", "stats", "check", "nudge", "unknown", "not_object",
                "not_json", "binary",
                "oversized", "no_type",
            ]
        )
    )  # fmt: skip
    extra = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3))
    message: dict[str, Any]
    if kind == "offer":
        message = {**extra, "type": "offer", "sdp": draw(sdps(real_offer))}
    elif kind == "consent":
        message = {**extra, "type": "consent", "agreed": draw(st.booleans() | json_values)}
    elif kind == "cue_feedback":
        message = {
            **extra,
            "type": "cue_feedback",
            "cue_id": draw(st.sampled_from(["cue-1", "cue-time"]) | json_values),
            "value": draw(st.sampled_from(FEEDBACK_VALUES) | json_values),
        }
    elif kind == "cue_settings":
        off = draw(
            st.lists(st.sampled_from(KINDS), max_size=4) | st.lists(json_values) | json_values
        )
        message = {**extra, "type": "cue_settings", "off": off}
    elif kind == "hello":
        message = {"type": "hello", "token": draw(st.text(max_size=60))}
    elif kind == "unknown":
        message = {**extra, "type": draw(st.text(max_size=30))}
    elif kind == "not_object":
        return json.dumps(draw(json_values))
    elif kind == "not_json":
        return draw(st.text(max_size=200))
    elif kind == "binary":
        return draw(st.binary(max_size=200))
    elif kind == "oversized":
        return json.dumps({"type": "ping", "pad": "x" * draw(st.integers(64 * 1024, 80 * 1024))})
    elif kind == "no_type":
        message = {**extra, "type": draw(json_values.filter(lambda v: not isinstance(v, str)))}
    elif kind == "nudge":  # the assistant's monitor: a setup message to a participant
        message = {
            **extra,
            "type": "nudge",
            "session": draw(st.sampled_from(["own-private", "kims-private"]) | json_values),
            "role": draw(st.sampled_from(["therapist", "client"]) | json_values),
            "text": draw(st.text(max_size=250) | json_values),
        }
    elif kind in ("stats", "check"):  # browser reports: fields of any shape
        message = {
            **draw(st.dictionaries(st.sampled_from(STATS_FIELDS), json_values, max_size=6)),
            **extra,
            "type": kind,
        }
    else:  # ping, admit, end
        message = {**extra, "type": kind}
    return json.dumps(message)


@dataclass
class Script:
    endpoint: Literal["control", "panel", "monitor", "check"]
    """``monitor`` (the assistant's, login cookie only) and ``check`` (the setup check's
    loopback, no login) take no hello: their frames are sent as they are."""
    hello: str
    cookie: str
    origin: str
    admitted: bool
    """The therapist lets the client in before the client's frames (so its offers are used)."""
    frames: list[str | bytes]


@st.composite
def scripts(draw: st.DrawFn, real_offer: str) -> Script:
    """Half the scripts open a real connection (the therapist's link with the owner's cookie,
    or the client's link) so that the frames after the hello reach the handlers."""
    endpoint: Literal["control", "panel", "monitor", "check"] = draw(
        st.sampled_from(["control", "control", "panel", "monitor", "check"])
    )
    if draw(st.booleans()):
        hello = draw(st.sampled_from(["therapist", "client"]))
        cookie = "owner" if hello == "therapist" else draw(st.sampled_from(COOKIES))
    else:
        hello, cookie = draw(st.sampled_from(HELLOS)), draw(st.sampled_from(COOKIES))
    return Script(
        endpoint,
        hello,
        cookie,
        origin=draw(st.sampled_from(["none", "none", "none", "same", "foreign"])),
        admitted=hello == "client" and draw(st.booleans()),
        frames=draw(st.lists(frames(real_offer), max_size=6)),
    )


@dataclass
class Outcome:
    received: list[dict[str, Any]]
    raw: list[str]
    close_code: int | None
    handshake_status: int | None = None


def _hello_frame(world: World, hello: str) -> str | bytes | None:
    session = world.fuzzed
    tokens = {
        "therapist": token_of(session["therapist_url"]),
        "client": token_of(session["client_url"]),
        "ended": (world.ended_tokens or [secrets.token_urlsafe(32)])[-1],
        "forged": secrets.token_urlsafe(32),
    }
    if hello in tokens:
        return json.dumps({"type": "hello", "token": tokens[hello]})
    return {
        "short": json.dumps({"type": "hello", "token": "abc"}),
        "not_string": json.dumps({"type": "hello", "token": [tokens["client"]]}),
        "missing": json.dumps({"type": "hello"}),
        "oversized": json.dumps({"type": "hello", "token": tokens["client"], "pad": "x" * 5000}),
        "not_json": "hello " + tokens["client"],
        "binary": tokens["client"].encode(),
        "not_hello": json.dumps({"type": "ping", "token": tokens["client"]}),
        "none": None,
    }[hello]


async def _admit(world: World) -> None:
    """The fuzzed session's therapist lets the client in (idempotent)."""
    headers = {"Cookie": world.cookies["owner"]}
    url = f"{world.ws_base}/ws/control"
    connecting = websockets.connect(
        url, additional_headers=headers, open_timeout=10, ping_interval=None
    )
    async with connecting as ws:
        token = token_of(world.fuzzed["therapist_url"])
        await ws.send(json.dumps({"type": "hello", "token": token}))
        try:
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except websockets.ConnectionClosed:  # the session has ended
            world.new_fuzzed_session()
            return await _admit(world)
        assert welcome["type"] == "welcome", welcome
        await ws.send(json.dumps({"type": "admit"}))
        await ws.send(json.dumps({"type": "ping"}))
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "pong":
            pass


async def run_script(world: World, script: Script) -> Outcome:
    headers: dict[str, str] = {}
    if script.cookie != "none":
        headers["Cookie"] = world.cookies[script.cookie]
    host = world.server.base_url.split("//", 1)[1]
    if script.origin != "none":
        headers["Origin"] = (
            f"http://{host}" if script.origin == "same" else "https://attacker.example"
        )
    if script.admitted:
        await _admit(world)
    hello = _hello_frame(world, script.hello)
    received: list[dict[str, Any]] = []
    raw: list[str] = []
    url = f"{world.ws_base}/ws/{script.endpoint}"
    try:
        ws = await websockets.connect(
            url,
            additional_headers=headers,
            max_size=2**22,
            open_timeout=10,
            close_timeout=2,
            ping_interval=None,
        )
    except websockets.InvalidStatus as exc:
        return Outcome([], [], None, exc.response.status_code)
    async with ws:

        async def read() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for message in ws:
                    text = message if isinstance(message, str) else message.decode("latin-1")
                    raw.append(text)
                    with contextlib.suppress(json.JSONDecodeError):
                        data = json.loads(text)
                        if isinstance(data, dict):
                            received.append(data)

        reader = asyncio.create_task(read())
        hello_less = script.endpoint in ("monitor", "check")
        with contextlib.suppress(websockets.ConnectionClosed):
            if hello_less:
                for frame in script.frames:
                    await ws.send(frame)
                if script.endpoint == "check":  # it answers an offer, nothing else
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(reader), 1.0)
                else:
                    await ws.send(json.dumps({"type": "ping"}))
                    deadline = time.monotonic() + 15
                    while time.monotonic() < deadline and not reader.done():
                        if any(m.get("type") == "pong" for m in received[-3:]):
                            break
                        await asyncio.sleep(0.01)
            elif hello is not None:
                await ws.send(hello)
                for frame in script.frames:
                    await ws.send(frame)
                await ws.send(json.dumps({"type": "ping"}))
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and not reader.done():
                    if any(m.get("type") == "pong" for m in received[-3:]):
                        break
                    await asyncio.sleep(0.01)
        if hello is None and not hello_less:
            with contextlib.suppress(TimeoutError):  # the server closes after HELLO_TIMEOUT_S
                await asyncio.wait_for(asyncio.shield(reader), 0.2)
        await ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader, 5)
    return Outcome(received, raw, ws.close_code)


def judge(world: World, script: Script, outcome: Outcome) -> list[str]:
    """What an outcome shows that must never happen."""
    problems: list[str] = []
    if outcome.handshake_status is not None:
        if outcome.handshake_status >= 500:
            problems.append(f"handshake answered {outcome.handshake_status}")
        if script.origin != "foreign":
            problems.append(f"a same-site handshake was refused ({outcome.handshake_status})")
        return problems
    if script.origin == "foreign":
        problems.append("a cross-site WebSocket handshake was accepted")
    code = outcome.close_code
    if code is not None and code not in ALLOWED_CLOSE:
        problems.append(f"closed with {code}")
    welcomed = any(m.get("type") == "welcome" for m in outcome.received)
    owner_cookie = script.cookie == "owner"
    opens = script.hello == "client" or (script.hello == "therapist" and owner_cookie)
    if welcomed and not (script.endpoint == "control" and opens):
        problems.append(f"a {script.hello} hello with the {script.cookie} cookie was welcomed")
    watched = any(m.get("type") == "sessions" for m in outcome.received)
    if watched and not (script.endpoint == "monitor" and script.cookie in ("assistant", "admin")):
        problems.append(f"the {script.cookie} cookie got the monitor's snapshots")
    content_ok = (
        script.endpoint in ("control", "panel") and script.hello == "therapist" and owner_cookie
    )
    if not content_ok:
        for m in outcome.received:
            if m.get("type") in CONTENT_TYPES:
                problems.append(f"received content it must not see: {str(m)[:200]}")
                break
    text = "\n".join(outcome.raw)
    markers = world.markers_of()
    own = world.fuzzed["id"]
    for sid, found in markers.items():
        may = sid == own and content_ok
        for marker in found:
            if marker in text and not may:
                problems.append(f"received {sid}'s marker {marker}")
    return problems


def _bytes(frame: str | bytes) -> bytes:
    return frame if isinstance(frame, bytes) else frame.encode("utf-8", "surrogatepass")


def fuzz_ws(world: World, cases: int, seed: int | None = None) -> Report:
    """``cases`` WebSocket scripts against the real server; never raises on a failure."""
    report = Report("WebSocket")
    started = time.monotonic()
    loop = asyncio.new_event_loop()

    @_settings(cases, seed)
    @given(script=scripts(world.real_offer))
    def run(script: Script) -> None:
        report.cases += 1
        report.outcomes["frames"] += len(script.frames) + 1
        try:
            outcome = loop.run_until_complete(asyncio.wait_for(run_script(world, script), 60))
        except Exception as exc:
            report.failures.append(f"{script.endpoint} {script.hello}: {exc!r}")
            return
        key = outcome.handshake_status or outcome.close_code
        report.outcomes[f"{script.endpoint}:{key}"] += 1
        for m in outcome.received:
            kind = m.get("type")
            report.outcomes[f"{kind}:{m['code']}" if kind == "error" else f"{kind}"] += 1
        if outcome.close_code == 1011 or (outcome.handshake_status or 0) >= 500:
            report.server_errors += 1
        for problem in judge(world, script, outcome):
            frames = [f[:120] for f in script.frames]
            report.failures.append(
                f"{problem}: {script.endpoint}, hello {script.hello}, cookie {script.cookie}, "
                f"origin {script.origin}, admitted {script.admitted}, frames {frames}"
            )
        if any(m.get("type") == "ended" for m in outcome.received):
            world.new_fuzzed_session()
        elif script.hello == "therapist" and any(b'"end"' in _bytes(f) for f in script.frames):
            world.refresh_if_ended()

    try:
        run()
    finally:
        loop.close()
    report.seconds = time.monotonic() - started
    report.failures += server_problems(world)
    return report


# -- the command ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http-cases", type=int, default=6000)
    parser.add_argument("--ws-cases", type=int, default=4000)
    parser.add_argument("--seed", type=int, help="random seed (default: a fresh one)")
    parser.add_argument("--keep", type=Path, help="keep the server's data and log in this folder")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}", flush=True)
    reports: list[Report] = []
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            tmp = args.keep
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        world = stack.enter_context(fuzz_world(tmp))
        if args.http_cases:
            reports.append(fuzz_http(world, args.http_cases, seed))
            print(reports[-1].line(), flush=True)
        if args.ws_cases:
            reports.append(fuzz_ws(world, args.ws_cases, seed))
            print(reports[-1].line(), flush=True)
        bystander = world.bystander.finish()
        alive = server_problems(world)
    failures = list(dict.fromkeys([f for r in reports for f in r.failures] + bystander + alive))
    total = sum(r.cases for r in reports)
    errors = sum(r.server_errors for r in reports)
    print(
        f"total: {total} cases, {len(failures)} failures, {errors} server errors, "
        f"{time.monotonic() - started:.1f} s (server and seeding included)"
    )
    print("bystander session: " + ("unaffected" if not bystander else "; ".join(bystander)))
    fine = "alive, /healthz ok, no error logged"
    print("server after the run: " + ("; ".join(alive)[:3000] if alive else fine))
    for failure in failures[:20]:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
