"""Setup and connection health of a live session's participants: what the virtual assistant's
monitor shows, and never content.

Two sources feed it. The server itself sees whether a participant's control connection and
peer connection are up, and how loud the audio arriving from their microphone is (a level,
not the sound). The participant's browser reports what only it can measure (aiortc has no
candidate-pair statistics): round-trip time, jitter, packet loss, frame rates, whether the
camera and microphone are switched on, and the result of its setup check. Alerts are derived
from both by ``alerts``, a pure function of a snapshot and the time.
"""

from __future__ import annotations

import collections
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from assistant.live.sessions import Role

SOUND_DB = -55.0
"""Audio louder than this (RMS, dB full scale, one frame) counts as sound: speech is around
-30 to -20, a quiet room with noise suppression below -60, a muted microphone digital zero."""
SILENCE_FLOOR_DB = -90.0


@dataclass(frozen=True)
class Thresholds:
    """When an alert is raised (the defaults follow the issue and telehealth vendors)."""

    silent_mic_s: float = 30.0
    """A connected participant's microphone has carried no sound for this long."""
    audio_lost_s: float = 3.0
    """No audio packets at all have arrived for this long (network or browser trouble)."""
    loss_pct: float = 5.0
    transcription_behind_s: float = 5.0
    reconnect_window_s: float = 120.0
    """A participant who dropped is shown as reconnecting this long, then as having left."""


# What a browser may report, with the plausible range of each figure; anything else is refused.
STAT_RANGES: dict[str, tuple[float, float]] = {
    "rtt_ms": (0.0, 60_000.0),
    "jitter_ms": (0.0, 60_000.0),
    "loss_pct": (0.0, 100.0),
    "fps_sent": (0.0, 240.0),
    "fps_received": (0.0, 240.0),
    "mic_level": (0.0, 1.0),
}
STAT_FLAGS = ("camera_on", "mic_on")
CHECK_STATUSES = ("pass", "warn", "fail")
CHECK_FIGURES = ("rtt_ms", "jitter_ms", "loss_pct", "mos")


def parse_stats(message: dict[str, Any]) -> dict[str, float | bool | None] | str:
    """The figures of a browser's ``stats`` message, or what is wrong with it."""
    out: dict[str, float | bool | None] = {}
    for name, (low, high) in STAT_RANGES.items():
        value = message.get(name)
        if value is None:
            out[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name} must be a number"
        if not math.isfinite(value) or not low <= value <= high:
            return f"{name} must be between {low:g} and {high:g}"
        out[name] = float(value)
    for name in STAT_FLAGS:
        value = message.get(name)
        if value is not None and not isinstance(value, bool):
            return f"{name} must be true or false"
        out[name] = value
    return out


def parse_check(message: dict[str, Any]) -> dict[str, Any] | str:
    """The summary of a setup check a participant ran before joining, or what is wrong."""
    status = message.get("status")
    if status not in CHECK_STATUSES:
        return f"status must be one of {CHECK_STATUSES}"
    out: dict[str, Any] = {"status": status}
    for name in CHECK_FIGURES:
        value = message.get(name)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return f"{name} must be a number"
        out[name] = round(float(value), 2)
    problems = message.get("problems", [])
    if not isinstance(problems, list) or not all(
        isinstance(p, str) and re.fullmatch(r"[a-z_]{1,40}", p) for p in problems
    ):
        return "problems must be a list of problem codes"
    out["problems"] = problems[:20]
    return out


def browser_name(user_agent: str | None) -> str | None:
    """ "Chrome 156", "Firefox 133", "Safari 18": enough to advise, not a fingerprint."""
    if not user_agent:
        return None
    for pattern, name in (
        (r"Edg/(\d+)", "Edge"),
        (r"Firefox/(\d+)", "Firefox"),
        (r"Chrom(?:e|ium)/(\d+)", "Chrome"),
        (r"Version/(\d+)[.\d]* .*Safari/", "Safari"),
    ):
        found = re.search(pattern, user_agent)
        if found:
            return f"{name} {found.group(1)}"
    return "other"


def level_db(samples: np.ndarray) -> float:
    """RMS level of int16 or float samples in dB full scale."""
    if samples.size == 0:
        return SILENCE_FLOOR_DB
    x = samples.astype(np.float32)
    if samples.dtype == np.int16:
        x /= 32768.0
    rms = float(np.sqrt(np.mean(x * x)))
    return max(SILENCE_FLOOR_DB, 20.0 * math.log10(rms)) if rms > 0 else SILENCE_FLOOR_DB


@dataclass
class ParticipantHealth:
    """Everything the monitor knows about one participant (times are the room's monotonic
    clock, seconds)."""

    role: Role
    browser: str | None = None
    control_connected: bool = False
    waiting: bool = False
    dropped_at: float | None = None
    """When their control connection went away without the session ending."""
    media_state: str = "none"
    media_connected_at: float | None = None
    last_audio_at: float | None = None
    last_sound_at: float | None = None
    level: float = SILENCE_FLOOR_DB
    levels: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=60))
    """The loudest frame of each of the last 60 seconds (for the monitor's level strip)."""
    _second: int | None = None
    stats: dict[str, float | bool | None] = field(default_factory=dict)
    stats_at: float | None = None
    check: dict[str, Any] | None = None

    def connected(self, now: float, *, browser: str | None) -> None:
        self.control_connected = True
        self.dropped_at = None
        self.browser = browser or self.browser

    def disconnected(self, now: float) -> None:
        self.control_connected = False
        self.dropped_at = now
        self.media(now, "closed")

    def media(self, now: float, state: str) -> None:
        if state == "connected" and self.media_state != "connected":
            self.media_connected_at = now
            self.last_audio_at = now  # gaps count from (re)connection, not an older call
        self.media_state = state

    def audio(self, now: float, db: float) -> None:
        """One frame of their microphone arrived at the server, at this level."""
        self.last_audio_at = now
        self.level = db
        if db > SOUND_DB:
            self.last_sound_at = now
        second = int(now)
        if second != self._second:
            self._second = second
            self.levels.append(db)
        elif db > self.levels[-1]:
            self.levels[-1] = db

    def browser_stats(self, now: float, stats: dict[str, float | bool | None]) -> None:
        self.stats = stats
        self.stats_at = now

    @property
    def media_up(self) -> bool:
        return self.control_connected and self.media_state == "connected"

    def silent_for(self, now: float) -> float | None:
        """Seconds since their microphone last carried sound, while media is up."""
        if not self.media_up or self.media_connected_at is None:
            return None
        since = max(self.last_sound_at or 0.0, self.media_connected_at)
        return max(0.0, now - since)

    def audio_gap(self, now: float) -> float | None:
        """Seconds since any audio arrived, while media is up."""
        if not self.media_up or self.last_audio_at is None:
            return None
        return max(0.0, now - self.last_audio_at)

    def state(self, now: float, thresholds: Thresholds) -> str:
        if self.control_connected:
            if self.waiting:
                return "waiting"
            return {"connected": "connected", "failed": "reconnecting"}.get(
                self.media_state, "connecting"
            )
        if self.dropped_at is None:
            return "not_joined"
        if now - self.dropped_at < thresholds.reconnect_window_s:
            return "reconnecting"
        return "left"

    def snapshot(self, now: float, thresholds: Thresholds) -> dict[str, Any]:
        stats_fresh = self.stats_at is not None and now - self.stats_at < 10.0
        silent = self.silent_for(now)
        gap = self.audio_gap(now)
        return {
            "role": self.role,
            "state": self.state(now, thresholds),
            "browser": self.browser,
            "level_db": round(self.level, 1) if self.media_up else None,
            "levels": [round(x, 1) for x in self.levels] if self.media_up else [],
            "silent_s": round(silent, 1) if silent is not None else None,
            "audio_gap_s": round(gap, 1) if gap is not None else None,
            "network": dict(self.stats) if stats_fresh else {},
            "check": self.check,
        }


Severity = Literal["warn", "alert"]


@dataclass(frozen=True)
class Alert:
    kind: str
    role: Role | None
    severity: Severity
    message: str

    def json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "role": self.role,
            "severity": self.severity,
            "message": self.message,
        }


def _who(role: Role) -> str:
    return "The therapist" if role == "therapist" else "The client"


def alerts(people: dict[Role, dict[str, Any]], lag_s: float, thresholds: Thresholds) -> list[Alert]:
    """The alerts of one session from its participants' snapshots and transcription lag."""
    out: list[Alert] = []
    for role, p in people.items():
        who = _who(role)
        net = p["network"]
        if p["state"] == "reconnecting":
            out.append(Alert("reconnecting", role, "alert", f"{who} lost the connection."))
        if p["audio_gap_s"] is not None and p["audio_gap_s"] >= thresholds.audio_lost_s:
            out.append(
                Alert(
                    "audio_lost",
                    role,
                    "alert",
                    f"No audio from {who.lower()} for {p['audio_gap_s']:.0f} s.",
                )
            )
        elif p["silent_s"] is not None and p["silent_s"] >= thresholds.silent_mic_s:
            out.append(
                Alert(
                    "mic_silent",
                    role,
                    "alert",
                    f"{who}'s microphone has been silent for {p['silent_s']:.0f} s.",
                )
            )
        if p["state"] == "connected" and (
            net.get("camera_on") is False or net.get("fps_sent") == 0.0
        ):
            out.append(Alert("camera_off", role, "warn", f"{who}'s camera is off."))
        if p["state"] == "connected" and net.get("mic_on") is False:
            out.append(Alert("mic_muted", role, "warn", f"{who} has muted their microphone."))
        loss = net.get("loss_pct")
        if isinstance(loss, float) and loss > thresholds.loss_pct:
            out.append(
                Alert("packet_loss", role, "alert", f"{who} is losing {loss:.0f}% of packets.")
            )
    if lag_s >= thresholds.transcription_behind_s:
        out.append(
            Alert(
                "transcription_behind",
                None,
                "alert",
                f"Transcription is {lag_s:.0f} s behind the conversation.",
            )
        )
    return out
