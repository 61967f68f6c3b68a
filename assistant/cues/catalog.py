"""The cue kinds, in priority order (highest first), with their default messages.

docs/cues.md documents each: what it means, the evidence behind it, exactly when it fires.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS: tuple[str, ...] = (
    "missed_reflection",
    "judgmental_language",
    "advice_without_permission",
    "interruption",
    "time_check",
    "closed_question",
    "question_streak",
    "low_reflection_ratio",
    "talk_time",
    "affirmation",
)
PRIORITY = {kind: rank for rank, kind in enumerate(KINDS)}


@dataclass(frozen=True)
class CueOptions:
    """How gentle the panel is, and the thresholds of the time-based cues."""

    min_interval_s: float = 20.0
    """At most one shown cue in this many seconds."""
    disabled: frozenset[str] = field(default_factory=frozenset)
    """Kinds the therapist switched off: still raised (for trainers), never shown."""
    planned_minutes: float | None = None
    """The agreed session length, for ``time_check``."""
    time_check_before_s: float = 300.0
    """``time_check`` fires this long before the agreed end (a tenth of a short session)."""
    ratio_window_s: float = 300.0
    ratio_min_questions: int = 4
    """``low_reflection_ratio`` needs this many questions in the window, and fewer than one
    reflection per question, not counting the question just asked."""
    ratio_cooldown_s: float = 300.0
    talk_window_s: float = 300.0
    talk_min_speech_s: float = 90.0
    talk_share_above: float = 0.65
    talk_cooldown_s: float = 300.0
    affirmation_cooldown_s: float = 120.0
    interruption_min_overlap_s: float = 0.6
