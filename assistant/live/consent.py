"""Consent to transcription: both people agree on their own page, either can withdraw at any
moment. Transcription (and so cues) runs only while both agree; the call goes on regardless.
Every change is kept with its time (the store records it durably)."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.live.sessions import ROLES, Role

DEFAULT_CONSENT_TEXT = (
    "With your agreement, this session is transcribed on the clinic's own computer, so that "
    "your therapist can see a private transcript and listening cues while you talk. Nothing "
    "leaves the clinic's computer, and the transcript is never shown to anyone else in the "
    "session. Audio is not recorded unless the session is set to record and you both agree. "
    "You can withdraw your agreement at any moment: transcription stops at once and the call "
    "goes on."
)


@dataclass(frozen=True)
class ConsentChange:
    role: Role
    agreed: bool
    at: float
    """Session clock."""


@dataclass
class Consent:
    agreed: dict[Role, bool] = field(default_factory=lambda: dict.fromkeys(ROLES, False))
    history: list[ConsentChange] = field(default_factory=list)

    @property
    def both(self) -> bool:
        return all(self.agreed.values())

    def set(self, role: Role, agreed: bool, at: float) -> bool:
        """Record a decision; True when it changed anything."""
        if self.agreed[role] == agreed:
            return False
        self.agreed[role] = agreed
        self.history.append(ConsentChange(role, agreed, at))
        return True
