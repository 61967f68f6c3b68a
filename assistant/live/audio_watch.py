"""The therapist's panel says when a participant's audio stops reaching the server, and when
it is back, rather than just going quiet (a network outage, a browser that stopped sending).

A pure stage: ``check`` takes the time and the participants' health records and returns the
notices to publish.
"""

from __future__ import annotations

from collections.abc import Mapping

from assistant.events import Event, notice_event
from assistant.live.health import ParticipantHealth
from assistant.live.sessions import Role

BACK_WITHIN_S = 1.0  # audio counts as back when a frame arrived this recently


class AudioWatch:
    def __init__(self, session_id: str, lost_after_s: float) -> None:
        self.session_id = session_id
        self.lost_after_s = lost_after_s
        self._lost_since: dict[Role, float] = {}

    def check(self, now: float, people: Mapping[Role, ParticipantHealth]) -> list[Event]:
        out: list[Event] = []
        for role, health in people.items():
            gap = health.audio_gap(now)  # None while their media is not up
            if gap is None:
                continue
            whose = "your" if role == "therapist" else "the client's"
            if gap >= self.lost_after_s and role not in self._lost_since:
                self._lost_since[role] = now - gap
                message = (
                    f"No audio is arriving from {whose} microphone: what is said now is not "
                    "heard or transcribed."
                )
                out.append(notice_event(self.session_id, now, "audio_lost", message, role=role))
            elif gap < BACK_WITHIN_S and role in self._lost_since:
                lost = now - self._lost_since.pop(role)
                message = f"Audio from {whose} microphone is back after {lost:.0f} s."
                out.append(
                    notice_event(
                        self.session_id,
                        now,
                        "audio_restored",
                        message,
                        role=role,
                        lost_s=round(lost, 1),
                    )
                )
        return out
