"""Running listening metrics (MITI 4.2 style) over labelled utterances, with their thresholds.

The same figures appear in the live panel (computed there from the events) and in the
``summary`` event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assistant.events import Utterance

# MITI 4.2 thresholds and AnnoMI's medians (see docs/cues.md)
RQ_FAIR, RQ_GOOD = 1.0, 2.0
COMPLEX_FAIR, COMPLEX_GOOD = 0.40, 0.50
TALK_SHARE_HIGH_QUALITY, TALK_SHARE_LOW_QUALITY = 0.54, 0.64


def listening_counts(utterances: Iterable[Utterance]) -> dict[str, Any]:
    open_q = closed_q = simple = complex_ = advice = 0
    talk = {"change": 0, "neutral": 0, "sustain": 0}
    for u in utterances:
        labels = u.labels or {}
        if u.speaker == "therapist":
            open_q += labels.get("question") == "open"
            closed_q += labels.get("question") == "closed"
            simple += labels.get("reflection") == "simple"
            complex_ += labels.get("reflection") == "complex"
            advice += labels.get("input") == "advice"
        elif labels.get("talk_type") in talk:
            talk[labels["talk_type"]] += 1
    questions, reflections = open_q + closed_q, simple + complex_
    return {
        "questions": {"open": open_q, "closed": closed_q},
        "reflections": {"simple": simple, "complex": complex_},
        "reflection_to_question": round(reflections / questions, 3) if questions else None,
        "complex_share": round(complex_ / reflections, 3) if reflections else None,
        "advice": advice,
        "client_talk": talk,
    }
