"""Network namespaces for fault tests: a participant on its own impaired link.

``namespace()`` makes a network namespace joined to this machine by a veth pair (a /30 of
its own in 10.200.0.0/16); the server listens on an address the namespace reaches (``attune
serve --host 0.0.0.0``, then ``ws://{ns.host_addr}:PORT``). Inside the namespace, nftables
impairs the link with ``netdev`` ingress and egress chains on the namespace's end of the pair:
random loss (``numgen random mod 1000 < N drop``) or an outage (everything dropped). Dropping
at the device is silent for the sender, as a lossy network is (no EPERM on ``sendto``), and
every dropped packet is counted. ``link(False)`` takes the link down instead.

``NetnsPeer`` runs a scripted participant (``PeerParticipant``) inside a namespace, as a
separate process (``ip netns exec NS python -m assistant.testing.netns participant ...``);
it reports what it does and what it receives as JSON lines.

Names are unique (``attune-PID-HEX``) so parallel runs do not clash; a namespace is deleted
when its context exits, whatever happened inside, and namespaces left behind by a killed
process are swept the next time one is made. Needs root, iproute2 and nftables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import ipaddress
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.events import Speaker

PREFIX = "attune-"
POOL = ipaddress.ip_network("10.200.0.0/16")
TABLE = "attune_fault"
_NAME = re.compile(rf"^{PREFIX}(\d+)-[0-9a-f]+$")


FAULT_TURNS: list[tuple[Speaker, str]] = [
    ("therapist", "What would you like to talk about today?"),
    ("client", "I have been feeling tired and lonely since I moved to the city."),
    ("therapist", "Tell me more about the move."),
    ("client", "My new job keeps me busy and I have not made any friends yet."),
]
"""The dialogue of the fault test and bench (the client's lines are what a fault must not
garble)."""


def client_wer(text: str) -> float:
    """The word error rate of a client final against the closest of the client's lines."""
    from assistant.testing.scoring import word_error_rate

    return min(word_error_rate(line, text) for s, line in FAULT_TURNS if s == "client")


class NetnsError(RuntimeError):
    pass


def unavailable() -> str | None:
    """Why namespaces cannot be used here (None when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (scripts/setup --test installs nftables)"
    return None


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _run(argv: list[str], *, input: str | None = None, check: bool = True) -> str:
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


@contextmanager
def _allocation_lock() -> Iterator[None]:
    """Serialise address allocation between processes on this machine."""
    lock_dir = Path("/run/lock") if Path("/run/lock").is_dir() else Path(tempfile.gettempdir())
    with (lock_dir / "attune-netns.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _used_networks() -> set[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    used: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for line in _run([_tool("ip"), "-o", "-4", "addr", "show"]).splitlines():
        m = re.search(r"inet (\S+)", line)
        if m:
            used.add(ipaddress.ip_interface(m.group(1)).network)
    return used


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Delete namespaces (and their host links) made by processes that no longer run."""
    removed = []
    for line in _run([_tool("ip"), "netns", "list"], check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        m = _NAME.match(name)
        if m and not _alive(int(m.group(1))):
            _run([_tool("ip"), "netns", "delete", name], check=False)
            removed.append(name)
    for line in _run([_tool("ip"), "-o", "link", "show"], check=False).splitlines():
        m = re.match(r"\d+: (at(\d+)x[0-9a-f]+h)@", line)
        if m and not _alive(int(m.group(2))):
            _run([_tool("ip"), "link", "del", m.group(1)], check=False)
    return removed


@dataclass
class Namespace:
    name: str
    host_if: str
    ns_if: str
    host_addr: str
    """This machine's end of the link: what the namespace dials to reach the server."""
    ns_addr: str
    fault: str = "none"
    """What is applied now: "none", "loss N%", "outage" or "link down"."""
    log: list[tuple[float, str]] = field(default_factory=list)
    """(wall time, fault) each time the impairment changed."""
    dropped_total: dict[str, int] = field(default_factory=lambda: {"ingress": 0, "egress": 0})
    """Packets the impairments dropped so far, per direction (see ``dropped``)."""

    def argv(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return [_tool("ip"), "netns", "exec", self.name, *argv]

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(argv), **kwargs)

    def _nft(self, script: str) -> None:
        _run(self.argv([_tool("nft"), "-f", "-"]), input=script)

    def _set(self, rule: str | None, fault: str) -> None:
        """Replace the impairment atomically: one nft transaction."""
        chains = ""
        if rule is not None:
            for hook in ("ingress", "egress"):
                chains += (
                    f"  chain {hook} {{ type filter hook {hook} device {json.dumps(self.ns_if)} "
                    f"priority 0; policy accept; {rule}; }}\n"
                )
        for hook, count in self.dropped().items():  # the counters go with the old table
            self.dropped_total[hook] += count
        script = f"table netdev {TABLE}\ndelete table netdev {TABLE}\n"
        if chains:
            script += f"table netdev {TABLE} {{\n{chains}}}\n"
        self._nft(script)
        self.fault = fault
        self.log.append((time.time(), fault))

    def loss(self, percent: float) -> None:
        """Drop ``percent`` % of the packets, at random, each way."""
        per_mille = round(percent * 10)
        self._set(f"numgen random mod 1000 < {per_mille} counter drop", f"loss {percent:g}%")

    def outage(self) -> None:
        """Drop every packet each way (the link stays up: a dead network, not a cable pull)."""
        self._set("counter drop", "outage")

    def heal(self) -> None:
        """Remove the impairment (and bring the link back up if it was taken down)."""
        if self.fault == "link down":
            self.link(True)
        else:
            self._set(None, "none")

    def link(self, up: bool) -> None:
        """Take the namespace's end of the link down (routes go with it) or up again."""
        _run(self.argv([_tool("ip"), "link", "set", self.ns_if, "up" if up else "down"]))
        if up:
            _run(
                self.argv([_tool("ip"), "route", "replace", "default", "via", self.host_addr]),
            )
        self.fault = "none" if up else "link down"
        self.log.append((time.time(), self.fault))

    def dropped(self) -> dict[str, int]:
        """Packets dropped by the impairment in force, per direction (ingress: towards the
        namespace, egress: from it)."""
        out = _run(self.argv([_tool("nft"), "-j", "list", "ruleset"]), check=False)
        counts = {"ingress": 0, "egress": 0}
        with contextlib.suppress(ValueError):
            for item in json.loads(out or "{}").get("nftables", []):
                rule = item.get("rule")
                if rule is None or rule.get("table") != TABLE:
                    continue
                for expr in rule.get("expr", []):
                    if "counter" in expr:
                        counts[rule["chain"]] += int(expr["counter"]["packets"])
        return counts

    def destroy(self) -> None:
        _run([_tool("ip"), "netns", "delete", self.name], check=False)
        # the pair goes with the namespace, but asynchronously: delete our end now
        _run([_tool("ip"), "link", "del", self.host_if], check=False)


def create() -> Namespace:
    """A new namespace linked to this machine; see ``namespace()``."""
    reason = unavailable()
    if reason:
        raise NetnsError(reason)
    sweep_stale()
    pid = os.getpid()
    tag = secrets.token_hex(3)
    name = f"{PREFIX}{pid}-{tag}"
    # interface names are at most 15 characters; the pid lets sweep_stale find leftovers
    short = f"at{pid % 100000}x{tag[:4]}"
    host_if, ns_if = f"{short}h", f"{short}n"
    ip = _tool("ip")
    with _allocation_lock():
        used = _used_networks()
        subnets = POOL.num_addresses // 4
        for _ in range(1000):
            net = ipaddress.ip_network(
                (int(POOL.network_address) + 4 * random.randrange(subnets), 30)
            )
            if not any(net.overlaps(u) for u in used):
                break
        else:
            raise NetnsError(f"no free /30 left in {POOL}")
        host_addr, ns_addr = (str(a) for a in net.hosts())
        ns = Namespace(name, host_if, ns_if, host_addr, ns_addr)
        try:
            _run([ip, "netns", "add", name])
            _run([ip, "link", "add", host_if, "type", "veth", "peer", "name", ns_if])
            _run([ip, "link", "set", ns_if, "netns", name])
            _run([ip, "addr", "add", f"{host_addr}/30", "dev", host_if])
            _run([ip, "link", "set", host_if, "up"])
            _run([ip, "-n", name, "link", "set", "lo", "up"])
            _run([ip, "-n", name, "addr", "add", f"{ns_addr}/30", "dev", ns_if])
            _run([ip, "-n", name, "link", "set", ns_if, "up"])
            _run([ip, "-n", name, "route", "add", "default", "via", host_addr])
        except BaseException:
            ns.destroy()
            raise
    return ns


@contextmanager
def namespace() -> Iterator[Namespace]:
    """A network namespace linked to this machine by a veth pair, deleted afterwards."""
    ns = create()
    try:
        yield ns
    finally:
        ns.destroy()


# -- a participant inside a namespace -----------------------------------------------------------


@dataclass
class NetnsPeer:
    """A ``PeerParticipant`` running in its own process inside ``ns``: it joins, waits to be
    admitted, agrees to transcription, streams ``wav`` (looped) and reports JSON lines:
    ``joined``, ``admitted``, ``media``, ``state`` (peer connection states), ``stats`` (twice
    a second: audio frames sent and received), ``rejoined`` (after a lost control socket)."""

    ns: Namespace
    ws_base: str
    token: str
    wav: Path
    cookie: str | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)

    def __enter__(self) -> NetnsPeer:
        argv = [sys.executable, "-m", "assistant.testing.netns", "participant"]
        argv += ["--ws", self.ws_base, "--token", self.token, "--wav", str(self.wav)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.cookie:
            env["ATTUNE_PEER_COOKIE"] = self.cookie  # not on the command line
        self._stderr = tempfile.TemporaryFile()
        self.process = self.ns.popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with contextlib.suppress(ValueError):
                line = json.loads(raw)
                with self._lock:
                    self.lines.append(line)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()  # the participant leaves cleanly on end of input
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        self._stderr.close()

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def seen(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [line for line in self.lines if line.get("event") == event]

    def last_stats(self) -> dict[str, Any]:
        stats = self.seen("stats")
        return stats[-1] if stats else {"sent": 0, "received": 0, "loud": 0}

    async def wait_for(self, event: str, within: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while not self.seen(event):
            if self.process.poll() is not None:
                raise NetnsError(
                    f"the participant exited ({self.process.returncode}):\n{self.stderr()[-3000:]}"
                )
            if time.monotonic() > deadline:
                with self._lock:
                    reported = [line.get("event") for line in self.lines][-10:]
                raise TimeoutError(
                    f"no {event!r} from the participant in {within} s; it reported "
                    f"{reported}; its stderr:\n{self.stderr()[-3000:]}"
                )
            await asyncio.sleep(0.1)
        return self.seen(event)[0]


# -- a call with the client behind an impaired link ----------------------------------------------

Plan = list[tuple[str, float]]
"""Phases of a fault run: (fault, seconds); fault is "none", "loss N" (percent), "outage" or
"link-down"."""


@dataclass
class Sample:
    t: float
    client_sent: int
    client_received: int
    therapist_received: int
    client_loud: int = 0
    """Frames the client received that carry sound (not silence): the therapist's voice."""
    therapist_loud: int = 0


@dataclass
class FaultRun:
    """What happened during ``fault_call``: wall times throughout."""

    phases: list[tuple[str, float, float]]
    """(fault, start, end)."""
    events: list[tuple[float, dict[str, Any]]]
    """Everything the therapist's panel received, with its arrival time."""
    samples: list[Sample]
    client_states: list[dict[str, Any]]
    """The client's peer connection states (``at``: when)."""
    dropped: dict[str, int]

    def finals(self, speaker: str) -> list[tuple[float, dict[str, Any]]]:
        return [
            (at, e)
            for at, e in self.events
            if e["type"] == "utterance" and e["final"] and e["text"] and e["speaker"] == speaker
        ]

    def notices(self, code: str) -> list[tuple[float, dict[str, Any]]]:
        return [(at, e) for at, e in self.events if e["type"] == "notice" and e["code"] == code]

    def clock(self, wall: float) -> float:
        """The session clock at wall time ``wall``, from the transcription_started notice."""
        at, notice = self.notices("transcription_started")[0]
        return float(notice["at"]) + (wall - at)

    def rate(self, start: float, end: float, what: str) -> float:
        """Audio frames per second over [start, end] (``what``: a ``Sample`` counter)."""
        inside = [s for s in self.samples if start <= s.t <= end]
        if len(inside) < 2 or inside[-1].t <= inside[0].t:
            return 0.0
        first, last = inside[0], inside[-1]
        return (getattr(last, what) - getattr(first, what)) / (last.t - first.t)


def _apply(ns: Namespace, fault: str) -> None:
    if fault == "none":
        ns.heal()
    elif fault.startswith("loss "):
        ns.loss(float(fault.split()[1]))
    elif fault == "outage":
        ns.outage()
    elif fault == "link-down":
        ns.link(False)
    else:
        raise ValueError(f"unknown fault {fault!r}")


async def fault_call(
    server_url: str,
    ns: Namespace,
    therapist_token: str,
    client_token: str,
    cookie: str,
    therapist_wav: Path,
    client_wav: Path,
    plan: Plan,
    *,
    warm_up_finals: int = 1,
) -> FaultRun:
    """A call between a therapist (a ``PeerParticipant`` here) and a client (a ``NetnsPeer``
    inside ``ns``, dialling the server through the namespace's link), both agreeing to
    transcription and streaming their WAVs in a loop, the panel recorded. Once the client's
    first ``warm_up_finals`` finals are on the panel, the phases of ``plan`` run in turn."""
    from assistant.testing.peer import PanelListener, PeerParticipant

    base = server_url.replace("http://", "ws://")
    port = server_url.rsplit(":", 1)[1]
    samples: list[Sample] = []
    phases: list[tuple[str, float, float]] = []
    async with (
        PanelListener(base, therapist_token, cookie=cookie) as panel,
        PeerParticipant(base, therapist_token, therapist_wav, loop=True, cookie=cookie) as th,
    ):
        with NetnsPeer(ns, f"ws://{ns.host_addr}:{port}", client_token, client_wav) as client:
            # a fresh interpreter importing aiortc can take a minute on a loaded 2-core host;
            # waiting on the participant's own report also notices it dying, with its stderr
            await client.wait_for("joined", within=120)
            await th.expect("peer", within=30)
            await th.send({"type": "admit"})
            await client.wait_for("admitted", within=60)
            await th.consent()
            await th.start_media()
            await client.wait_for("media", within=60)

            def sample() -> None:
                stats = client.last_stats()
                samples.append(
                    Sample(
                        time.time(),
                        stats["sent"],
                        stats["received"],
                        th.received.audio_frames,
                        stats["loud"],
                        th.received.loud_audio_frames,
                    )
                )

            def client_finals() -> int:
                return len(
                    [
                        e
                        for _, e in panel.events
                        if e["type"] == "utterance"
                        and e["final"]
                        and e["text"]
                        and e["speaker"] == "client"
                    ]
                )

            deadline = time.monotonic() + 90
            while client_finals() < warm_up_finals:
                if time.monotonic() > deadline:
                    raise TimeoutError("no transcript of the client before any fault")
                sample()
                await asyncio.sleep(0.5)
            try:
                for fault, seconds in plan:
                    _apply(ns, fault)
                    start = time.time()
                    while time.time() - start < seconds:
                        sample()
                        await asyncio.sleep(0.5)
                    phases.append((fault, start, time.time()))
            finally:
                if ns.fault != "none":
                    ns.heal()
            sample()
            states = client.seen("state")
    return FaultRun(phases, list(panel.events), samples, states, dict(ns.dropped_total))


async def _participant(args: argparse.Namespace) -> None:
    from assistant.testing.peer import PeerParticipant

    def emit(event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)

    loop = asyncio.get_running_loop()
    leave = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, leave.set)

    def on_input() -> None:
        if not os.read(sys.stdin.fileno(), 4096):  # end of input: the test is done with us
            leave.set()

    loop.add_reader(sys.stdin.fileno(), on_input)

    peer = PeerParticipant(args.ws, args.token, Path(args.wav), loop=True, cookie=args.cookie)
    async with peer:
        emit("joined", state=peer.welcome["state"])
        if peer.welcome["state"] != "admitted":
            await peer.expect("admitted", within=120)
        emit("admitted")
        await peer.consent(True)
        await peer.start_media()
        emit("media")
        states = 0
        while not leave.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leave.wait(), 0.5)
            for at, state in peer.media_states[states:]:
                emit("state", state=state, at=at)
            states = len(peer.media_states)
            r = peer.received
            emit(
                "stats",
                sent=peer.sent_audio_frames,
                received=r.audio_frames,
                loud=r.loud_audio_frames,
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m assistant.testing.netns")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("participant", help="a scripted participant (run inside a namespace)")
    p.add_argument("--ws", required=True, help="ws://HOST:PORT of the server")
    p.add_argument("--token", required=True)
    p.add_argument("--wav", required=True)
    sub.add_parser("sweep", help="delete namespaces left behind by killed runs")
    args = parser.parse_args(argv)
    if args.command == "sweep":
        for name in sweep_stale():
            print(f"deleted {name}")
        return
    args.cookie = os.environ.get("ATTUNE_PEER_COOKIE")
    asyncio.run(_participant(args))


if __name__ == "__main__":
    main()
