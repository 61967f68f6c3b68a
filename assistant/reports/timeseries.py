"""Listening figures over the session: after each final utterance, the therapist's share of
the speaking time so far and the reflection-to-question ratio so far (cumulative from the
session's start, so the last point equals the session's totals)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from assistant.reports.session import as_dict, seconds


@dataclass(frozen=True, slots=True)
class Point:
    at: float  # seconds: the end of the utterance
    talk_share: float | None  # therapist seconds / all seconds of speech so far
    reflection_to_question: float | None  # reflections / questions so far (None: no question)


def over_time(utterances: Iterable[Mapping[str, Any]]) -> list[Point]:
    """One point per final utterance, in the order of their ends."""
    spoken = {"therapist": 0.0, "client": 0.0}
    questions = reflections = 0
    points: list[Point] = []
    for u in sorted(utterances, key=lambda u: seconds(u.get("end"))):
        start, end = seconds(u.get("start")), seconds(u.get("end"))
        speaker = u.get("speaker")
        if speaker in spoken:
            spoken[str(speaker)] += max(0.0, end - start)
        labels = as_dict(u.get("labels"))
        if speaker == "therapist" and labels:
            questions += labels.get("question") in ("open", "closed")
            reflections += labels.get("reflection") in ("simple", "complex")
        total = spoken["therapist"] + spoken["client"]
        points.append(
            Point(
                at=end,
                talk_share=round(spoken["therapist"] / total, 3) if total > 0 else None,
                reflection_to_question=round(reflections / questions, 3) if questions else None,
            )
        )
    return points
