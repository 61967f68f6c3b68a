"""One live session: two participants' peer connections, media relay, speech chains and the
therapist's private panel.

Media: each browser sends camera and microphone; the room forwards each participant's audio
and video to the other (``MediaFanOut``, one ``ForwardTrack`` per kind and direction, so joins
and rejoins need no renegotiation) and taps each participant's audio into its speech chain.
Speech: chain -> ``TranscriptionService`` (shared, bounded) -> the dialogue stages -> panel.
Only the therapist's panel connections ever receive transcript, label or cue events.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from assistant.cues.rules import CueEngine
from assistant.dialogue import DialogueStages
from assistant.events import Event, Speaker, Utterance, notice_event
from assistant.live import jitter, rtc_tuning
from assistant.live.audio_watch import AudioWatch
from assistant.live.consent import DEFAULT_CONSENT_TEXT, Consent
from assistant.live.crosstalk import BleedFilter
from assistant.live.fanout import MediaFanOut, Subscription
from assistant.live.forward import ForwardTrack
from assistant.live.health import ParticipantHealth, Thresholds, level_db
from assistant.live.metrics import LiveMetrics
from assistant.live.recorder import SessionRecordings
from assistant.live.sessions import Role
from assistant.live.transcription import TranscriptionService
from assistant.speech.audio_in import SAMPLE_RATE
from assistant.speech.chain import SpeechDetector, SpeechJob
from assistant.speech.vad import VadOptions
from assistant.store import SessionRecord, Store
from assistant.store.records import FeedbackValue

log = logging.getLogger("attune.room")

Send = Callable[[dict[str, Any]], Awaitable[None]]
LAG_NOTICE_S = 2.0
LAG_NOTICE_EVERY_S = 30.0
FRAME_S = 0.020
"""Browsers send (and aiortc decodes) Opus in 20 ms frames."""
TAP_BACKLOG_FRAMES = 250
"""A speech tap more than 5 s behind its participant (an overloaded server) drops its oldest
audio, which it hears as silence, rather than falling further behind."""
FORWARD_AUDIO_BACKLOG_FRAMES = 25
"""Forwarded audio more than half a second behind drops its oldest frames."""
TICK_S = 5.0
RESTART_AFTER_LOST_S = 1.0
"""A longer gap in a participant's audio (an outage) restarts their speech chain at the
current time rather than filling the gap with silence."""


@dataclass(frozen=True)
class LiveOptions:
    """Options of the live path."""

    ice_servers: tuple[RTCIceServer, ...] = ()
    """STUN/TURN servers for the server's and the browsers' peer connections (none by
    default: no public STUN server is ever used unless configured)."""
    vad: VadOptions = field(default_factory=lambda: VadOptions(min_silence_ms=350))
    interim_interval_s: float = 1.5
    """Interim text of a turn still going on, this often."""
    speculate_after_ms: int = 160
    """Start transcribing this far into a pause (at least the VAD's speech padding), in case
    the pause ends the turn."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    """When the monitor raises its alerts and the panel says a participant's audio is lost."""


def _lost_before(frame: av.AudioFrame, expected: int | None) -> tuple[float, int | None]:
    """Seconds of audio missing before ``frame`` (packets the network lost: its timestamp
    is ahead of where the previous frame ended), and where this frame ends."""
    if frame.pts is None or frame.time_base is None or not frame.sample_rate:
        return 0.0, None
    end = frame.pts + round(frame.samples / frame.sample_rate / frame.time_base)
    if expected is None or frame.pts <= expected:
        return 0.0, end
    return float((frame.pts - expected) * frame.time_base), end


def other(role: Role) -> Role:
    return "client" if role == "therapist" else "therapist"


@dataclass
class Participant:
    role: Role
    send: Send | None = None
    connection_id: int = 0
    pc: RTCPeerConnection | None = None
    forward: dict[str, ForwardTrack] = field(default_factory=dict)
    incoming: dict[str, MediaStreamTrack] = field(default_factory=dict)
    tap: asyncio.Task[None] | None = None
    tap_feed: Subscription | None = None
    admitted: bool = False
    health: ParticipantHealth = field(init=False)

    def __post_init__(self) -> None:
        self.health = ParticipantHealth(self.role, waiting=not self.admitted)


class Room:
    def __init__(
        self,
        session: SessionRecord,
        service: TranscriptionService,
        stages: DialogueStages,
        options: LiveOptions,
        store: Store,
        *,
        consent_text: str = DEFAULT_CONSENT_TEXT,
        audio_dir: Path | None = None,
        metrics: LiveMetrics | None = None,
    ) -> None:
        self.session = session
        self.metrics = metrics
        self.store = store
        self.consent_text = consent_text
        self.recordings = (
            SessionRecordings(session.id, store, audio_dir) if audio_dir is not None else None
        )
        self.service = service
        self.options = options
        self.t0 = time.monotonic()
        self.participants: dict[Role, Participant] = {
            "therapist": Participant("therapist", admitted=True),
            "client": Participant("client"),
        }
        self.fanout = MediaFanOut()
        self.dialogue = stages.dialogue(
            session.id, times_estimated=False, planned_minutes=session.planned_minutes
        )
        self.history: list[Event] = []  # final events (stored), replayed to a new panel
        self.panel: Send | None = None
        self._panel_id = 0
        self._numbers: dict[Role, itertools.count[int]] = {
            "therapist": itertools.count(1),
            "client": itertools.count(1),
        }
        self._interims_shown: dict[str, Speaker] = {}  # growing turns the panel shows
        self._finished: collections.deque[str] = collections.deque(maxlen=64)
        self._bleed = BleedFilter()
        self._last_lag_notice = -LAG_NOTICE_EVERY_S
        self._last_store_notice = -LAG_NOTICE_EVERY_S
        self._last_overload_notice = -LAG_NOTICE_EVERY_S
        self._strained_at: float | None = None  # monotonic time a tap last dropped audio
        self._connection_ids = itertools.count(1)
        self._dialogue_lock = asyncio.Lock()
        self.consent = Consent()
        self._transcribing_since: float | None = None  # session time both last agreed
        self.closed = False
        self._pending_finals: dict[str, float] = {}  # final jobs queued, by utterance: when
        self._audio_watch = AudioWatch(session.id, options.thresholds.audio_lost_s)
        loop = asyncio.get_running_loop()
        self._ticker = loop.create_task(self._tick(), name=f"cue-clock-{session.id}")
        self._watcher = loop.create_task(self._watch_media(), name=f"media-watch-{session.id}")

    async def restore(self) -> None:
        """Reopen a session the server already knew (after a restart or a crash): its stored
        events, the utterance numbering, the consent in force, the dialogue's context."""
        self.history = await asyncio.to_thread(self.store.events, self.session.id)
        consents = await asyncio.to_thread(self.store.current_consent, self.session.id)
        for role, last in consents.items():
            if last is not None:
                self.consent.agreed[role] = last.agreed
        used = {"t": 0, "c": 0}
        for event in self.history:
            if event["type"] != "utterance":
                continue
            uid = str(event["id"])
            if uid[:1] in used and uid[1:].isdigit():
                used[uid[0]] = max(used[uid[0]], int(uid[1:]))
            self.dialogue.history.append(
                Utterance(
                    event["id"],
                    event["speaker"],
                    event["start"],
                    event["end"],
                    event["text"],
                    labels=event.get("labels"),
                )
            )
        self._numbers = {
            "therapist": itertools.count(used["t"] + 1),
            "client": itertools.count(used["c"] + 1),
        }
        times = [float(e.get("end") or e.get("at") or 0.0) for e in self.history]
        self.t0 -= max(times, default=0.0)  # the session clock goes on from where it stopped
        if self.consent.both:
            self._transcribing_since = self.now()
        if self.recordings is not None:
            await asyncio.to_thread(self.recordings.seal_leftovers)

    # -- session clock -------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.t0

    # -- control connections ---------------------------------------------------------------
    async def attach(self, role: Role, send: Send, *, browser: str | None = None) -> int:
        """A participant's control connection arrived (replacing any older one); returns its
        id."""
        p = self.participants[role]
        p.send = send
        p.connection_id = next(self._connection_ids)
        await self._close_peer(p)
        p.health.connected(self.now(), browser=browser)
        if role == "client" and not p.admitted:
            await self._send("therapist", {"type": "peer", "role": "client", "state": "waiting"})
        return p.connection_id

    async def detach(self, role: Role, connection_id: int) -> None:
        p = self.participants[role]
        if p.connection_id != connection_id:
            return  # an older, replaced connection
        p.send = None
        await self._close_peer(p)
        p.health.disconnected(self.now())
        await self._send(other(role), {"type": "peer", "role": role, "state": "left"})

    async def admit(self) -> None:
        client = self.participants["client"]
        client.admitted = True
        client.health.waiting = False
        await self._send("client", {"type": "admitted"})

    async def nudge(self, role: Role, text: str) -> bool:
        """Show a setup message from the virtual assistant on a participant's page; False
        when that participant is not connected."""
        if self.participants[role].send is None:
            return False
        await self._send(role, {"type": "nudge", "text": text})
        return True

    def transcription_lag(self) -> float:
        """How far transcription is behind: the longer of how long the oldest final job has
        waited for the recogniser and how much audio a speech tap has still to read."""
        waited = 0.0
        if self._pending_finals:
            waited = max(0.0, self.now() - min(self._pending_finals.values()))
        return max(waited, *(self.tap_behind_s(role) for role in self.participants))

    @property
    def active(self) -> bool:
        """Someone is connected to the session's control channel."""
        return any(p.send is not None for p in self.participants.values())

    def strained_within(self, seconds: float) -> bool:
        """A speech tap fell 5 s behind and dropped audio in the last ``seconds`` (admission
        keeps new sessions out of a server that cannot keep up)."""
        return self._strained_at is not None and time.monotonic() - self._strained_at < seconds

    def tap_behind_s(self, role: Role) -> float:
        """Seconds of a participant's audio received and not yet read by their speech tap."""
        feed = self.participants[role].tap_feed
        return feed.waiting * FRAME_S if feed is not None else 0.0

    def state(self, role: Role) -> str:
        return "admitted" if self.participants[role].admitted else "waiting"

    # -- consent ------------------------------------------------------------------------------
    @property
    def transcribing(self) -> bool:
        return self._transcribing_since is not None

    def consent_state(self, role: Role) -> dict[str, Any]:
        """What a participant's page shows: their own choice, the other's, and the result."""
        return {
            "type": "consent_state",
            "you": self.consent.agreed[role],
            "other": self.consent.agreed[other(role)],
            "transcribing": self.transcribing,
        }

    async def set_consent(self, role: Role, agreed: bool) -> None:
        if self.consent.agreed[role] == agreed:
            return
        await asyncio.to_thread(
            self.store.record_consent, self.session.id, role, agreed, self.consent_text
        )
        self.consent.set(role, agreed, self.now())
        was = self.transcribing
        self._transcribing_since = self.now() if self.consent.both else None
        for r in self.participants:
            await self._send(r, self.consent_state(r))
        who = "you" if role == "therapist" else "your client"
        if self.transcribing:
            await self.publish(
                notice_event(
                    self.session.id,
                    self.now(),
                    "transcription_started",
                    "You have both agreed: transcription and cues are on.",
                )
            )
        elif was:
            # close the turns the panel saw growing: every utterance ends with one final event
            for uid, speaker in sorted(self._interims_shown.items()):
                closing = Utterance(uid, speaker, self.now(), self.now(), "")
                await self.publish(closing.event(self.session.id))
            self._interims_shown.clear()
            await self.publish(
                notice_event(
                    self.session.id,
                    self.now(),
                    "transcription_stopped",
                    f"Transcription and cues stopped: {who} withdrew consent. The call goes on.",
                )
            )

    # -- media -----------------------------------------------------------------------------
    async def answer(self, role: Role, connection_id: int, sdp: str) -> str:
        """Answer a participant's offer; raises ValueError on an unusable offer."""
        p = self.participants[role]
        await self._close_peer(p)
        rtc_tuning.install()  # what a busy relay needs from aiortc/aioice (rtc_tuning.py)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self.options.ice_servers)))
        p.pc = pc
        p.forward = {"audio": ForwardTrack("audio"), "video": ForwardTrack("video")}

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if p.pc is not pc or track.kind not in ("audio", "video"):
                return
            p.incoming[track.kind] = track
            if track.kind == "audio":
                p.tap_feed = self.fanout.subscribe(track, TAP_BACKLOG_FRAMES)
                p.tap = asyncio.get_running_loop().create_task(
                    self._tap(p, p.tap_feed),
                    name=f"tap-{self.session.id}-{role}",
                )
            self._wire()

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("session %s %s peer %s", self.session.id, role, pc.connectionState)
            if p.pc is pc:
                p.health.media(self.now(), pc.connectionState)
            await self._send(
                other(role), {"type": "peer", "role": role, "state": f"media-{pc.connectionState}"}
            )

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            jitter.install(pc)  # aiortc's own audio buffer turns 5 % packet loss into 30 %
            kinds = {t.kind for t in pc.getTransceivers()}
            if "audio" not in kinds:
                raise ValueError("it offers no audio (a microphone is needed)")
            for kind, forward in p.forward.items():
                if kind in kinds:
                    pc.addTrack(forward)
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except Exception as exc:  # aiortc raises many types on bad SDP
            await self._close_peer(p)
            raise ValueError(f"the offer could not be used: {exc}") from exc
        if p.connection_id != connection_id:
            await self._close_peer(p)
            raise ValueError("the connection was replaced")
        self._wire()
        return pc.localDescription.sdp

    def _wire(self) -> None:
        """Point each participant's outgoing tracks at the other's incoming media."""
        for role, p in self.participants.items():
            source = self.participants[other(role)]
            for kind, forward in p.forward.items():
                track = source.incoming.get(kind)
                if track is None or track.readyState != "live":
                    continue
                current = forward.source
                if isinstance(current, Subscription) and current.source is track:
                    continue
                # audio keeps half a second (a burst after a network hiccup is played, not
                # dropped; a relay that falls further behind drops rather than delays); video
                # keeps only the newest picture
                backlog = FORWARD_AUDIO_BACKLOG_FRAMES if kind == "audio" else 1
                forward.set_source(self.fanout.subscribe(track, backlog))
                if current is not None:
                    current.stop()

    async def _close_peer(self, p: Participant) -> None:
        pc, p.pc = p.pc, None
        if pc is not None:
            p.health.media(self.now(), "closed")
        tap, p.tap = p.tap, None
        for track in p.forward.values():
            track.stop()
        p.forward = {}
        p.incoming = {}
        if tap is not None:
            tap.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await tap
        if pc is not None:
            try:
                await pc.close()
            except Exception:  # aiortc fails to close a connection an unusable offer half-built
                log.debug("closing a peer connection failed", exc_info=True)

    async def _tap(self, p: Participant, track: Subscription) -> None:
        """The participant's chain: audio in -> 16 kHz mono -> VAD -> queued speech jobs."""
        role: Speaker = p.role
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        detector: SpeechDetector | None = None
        expected_pts: int | None = None  # where the next frame starts if the network lost none
        dropped = 0
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    break
                if not isinstance(frame, av.AudioFrame):
                    continue
                if track.dropped > dropped:  # the server fell 5 s behind: audio was dropped
                    await self._overloaded(role, (track.dropped - dropped) * FRAME_S)
                    dropped = track.dropped
                lost_s, expected_pts = _lost_before(frame, expected_pts)
                # every 8th sample is plenty for a level (the meter was 14 % of the tap's time)
                p.health.audio(self.now(), level_db(frame.to_ndarray()[..., ::8]))
                if not self.transcribing:
                    detector = None  # no consent: nothing is heard, a turn in progress is dropped
                    continue
                if detector is not None and lost_s > RESTART_AFTER_LOST_S:
                    for job in detector.flush():  # an outage ends the turn it cut off
                        self._submit(job)
                    detector, lost_s = None, 0.0  # the chain restarts on the session clock
                if detector is None:
                    detector = SpeechDetector(
                        role,
                        self.options.vad,
                        interim_interval_s=self.options.interim_interval_s,
                        speculate_after_ms=self.options.speculate_after_ms,
                        offset_s=self.now(),
                        numbers=self._numbers[role],
                    )
                pieces = [
                    out.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
                    for out in resampler.resample(frame)
                ]
                if lost_s > 0:  # silence where packets were lost keeps the turn times true
                    pieces.insert(0, np.zeros(round(lost_s * SAMPLE_RATE), np.float32))
                for samples in pieces:
                    self._bleed.record(role, detector.received_s, samples)
                    if self.session.record_audio and self.recordings is not None:
                        # kept for replay: the session records and both agreed
                        await self.recordings.write(role, detector.received_s, samples)
                    for job in detector.push(samples):
                        if job.final and self._bleed.is_bleed(job):
                            log.info(
                                "dropped %s: the other speaker's voice leaking in", job.utterance_id
                            )
                            if job.utterance_id in self._interims_shown:
                                await self._deliver(
                                    Utterance(job.utterance_id, role, job.start, job.end, ""), 0.0
                                )
                            continue
                        if job.final or job.speculative:
                            log.debug(
                                "%s %s submitted %.2f s after its end; tap behind by %.2f s",
                                "final" if job.final else "speculative",
                                job.utterance_id,
                                self.now() - job.end,
                                self.now() - detector.received_s,
                            )
                        self._submit(job)
        finally:
            if detector is not None:
                for job in detector.flush():
                    self._submit(job)
            track.stop()

    async def _overloaded(self, role: Role, dropped_s: float) -> None:
        """A speech tap dropped audio because the server could not keep up: tell the
        therapist (at most once in 30 s) and count it."""
        self._strained_at = time.monotonic()
        if self.metrics is not None:
            self.metrics.audio_dropped.labels(role).inc(dropped_s)
        log.warning(
            "session %s: the %s's speech tap fell %.0f s behind and dropped %.2f s of audio",
            self.session.id,
            role,
            TAP_BACKLOG_FRAMES * FRAME_S,
            dropped_s,
        )
        if self.now() - self._last_overload_notice < LAG_NOTICE_EVERY_S:
            return
        self._last_overload_notice = self.now()
        await self.publish(
            notice_event(
                self.session.id,
                self.now(),
                "server_overloaded",
                f"The server is overloaded: some of the {role}'s speech could not be "
                "transcribed, so cues may be missing. Ask your administrator to run fewer "
                "sessions at once on this machine.",
                role=role,
            )
        )

    def _submit(self, job: SpeechJob) -> None:
        if job.final:
            self._pending_finals.setdefault(job.utterance_id, self.now())
        self.service.submit(job, self._deliver)

    # -- transcripts to the panel ---------------------------------------------------------------
    async def _deliver(self, utterance: Utterance, waited: float) -> None:
        if utterance.final:
            self._pending_finals.pop(str(utterance.id), None)
        since = self._transcribing_since
        if self.closed or since is None or utterance.start < since - 0.5:
            return  # nothing heard before consent, or after its withdrawal, reaches anyone
        uid = str(utterance.id)
        # behind: waiting for the recogniser, or audio not yet read by the speaker's tap
        behind = max(waited, self.tap_behind_s(utterance.speaker))
        if behind > LAG_NOTICE_S and self.now() - self._last_lag_notice > LAG_NOTICE_EVERY_S:
            self._last_lag_notice = self.now()
            await self.publish(
                notice_event(
                    self.session.id,
                    self.now(),
                    "transcription_lagging",
                    f"Transcription is running {behind:.0f} s behind; text will catch up.",
                )
            )
        if not utterance.final:
            if utterance.text and uid not in self._finished:
                self._interims_shown[uid] = utterance.speaker
                await self.publish(utterance.event(self.session.id))
            return
        shown = uid in self._interims_shown
        self._interims_shown.pop(uid, None)
        self._finished.append(uid)
        if not utterance.text:
            if shown:  # every utterance the panel saw ends with one final event
                await self.publish(utterance.event(self.session.id))
            return
        log.debug(
            "session %s: %s final %.2f s after its speech ended (waited %.2f s)",
            self.session.id,
            uid,
            self.now() - utterance.end,
            waited,
        )
        arrived = time.monotonic()
        async with self._dialogue_lock:  # coding runs off the event loop, one turn at a time
            events = await asyncio.to_thread(self.dialogue.process, utterance)
        if self.metrics is not None:
            self.metrics.coding.observe(time.monotonic() - arrived)
        for event in events:
            await self.publish(event)
            if self.metrics is None:
                continue
            if event["type"] == "utterance":
                self.metrics.speech_to_transcript.observe(self.now() - utterance.end)
            elif event["type"] == "cue":
                self.metrics.transcript_to_cue.observe(time.monotonic() - arrived)

    async def _tick(self) -> None:
        """The session clock moves on between turns (time-based cues)."""
        while not self.closed:
            await asyncio.sleep(TICK_S)
            if not self.transcribing:
                continue
            async with self._dialogue_lock:
                events = self.dialogue.tick(self.now())
            for event in events:
                await self.publish(event)

    async def _watch_media(self) -> None:
        """Once a second: notices when a participant's audio stops arriving, and returns."""
        while not self.closed:
            await asyncio.sleep(1.0)
            people = {role: p.health for role, p in self.participants.items()}
            for event in self._audio_watch.check(self.now(), people):
                await self.publish(event)

    @property
    def cues(self) -> CueEngine | None:
        return next((o for o in self.dialogue.observers if isinstance(o, CueEngine)), None)

    def set_cues_off(self, kinds: frozenset[str]) -> None:
        engine = self.cues
        if engine is not None:
            engine.set_disabled(kinds)

    async def cue_feedback(self, cue_id: str, value: FeedbackValue) -> bool:
        """Record the therapist's dismissal or rating of a cue they were shown."""
        known = any(e["type"] == "cue" and e["id"] == cue_id for e in self.history)
        if known:
            await asyncio.to_thread(self.store.record_cue_feedback, self.session.id, cue_id, value)
        return known

    async def publish(self, event: Event) -> None:
        """Send an event to the therapist's panel. A final event is stored first: if the
        server dies right after, nothing the therapist saw is lost."""
        if event["type"] != "utterance" or event.get("final"):
            try:
                await asyncio.to_thread(self.store.append_event, self.session.id, event)
            except Exception:
                log.exception("session %s: an event could not be stored", self.session.id)
                if self.metrics is not None:
                    self.metrics.store_failures.inc()
                await self._store_failed()
                return
            self.history.append(event)
            if self.metrics is not None:
                self.metrics.events_stored.labels(event["type"]).inc()
                if event["type"] == "notice":
                    self.metrics.notices.labels(event["code"]).inc()
        if self.panel is not None:
            try:
                await self.panel(event)
            except Exception:
                log.debug("panel send failed", exc_info=True)

    async def _store_failed(self) -> None:
        """Tell the therapist that records are not being kept (this notice itself is not)."""
        if self.panel is None or self.now() - self._last_store_notice < LAG_NOTICE_EVERY_S:
            return
        self._last_store_notice = self.now()
        with contextlib.suppress(Exception):
            await self.panel(
                notice_event(
                    self.session.id,
                    self.now(),
                    "store_failed",
                    "The session record could not be saved: what follows is not kept. "
                    "Ask your administrator to check the server's disk and database.",
                )
            )

    def attach_panel(self, send: Send) -> int:
        self.panel = send
        self._panel_id += 1
        return self._panel_id

    def detach_panel(self, panel_id: int) -> None:
        if panel_id == self._panel_id:
            self.panel = None

    async def _send(self, role: Role, message: dict[str, Any]) -> None:
        send = self.participants[role].send
        if send is not None:
            try:
                await send(message)
            except Exception:
                log.debug("control send to %s failed", role, exc_info=True)

    async def _release_media(self) -> None:
        """Close both peer connections, the media fan-out and the recordings."""
        for p in self.participants.values():
            await self._close_peer(p)
        await self.fanout.close()  # readers of tracks that never reported their end
        if self.recordings is not None:
            await self.recordings.close()

    async def shutdown(self) -> None:
        """The server stops: media closes, the session stays open for a restart."""
        self.closed = True
        self._ticker.cancel()
        self._watcher.cancel()
        await self._release_media()

    async def end(self) -> None:
        """End the session: summary to the panel, media closed."""
        if self.closed:
            return
        self.closed = True
        self._ticker.cancel()
        self._watcher.cancel()
        async with self._dialogue_lock:
            events = self.dialogue.finish(self.now())
        for event in events:
            await self.publish(event)
        for role in ("therapist", "client"):
            await self._send(role, {"type": "ended"})
        await self._release_media()
