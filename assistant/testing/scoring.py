"""Scoring transcripts against reference text and turns (word error rate, turn matching)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.events import Utterance
from assistant.testing.synth import Turn

_NUMBERS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}


def normalise_words(text: str) -> list[str]:
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()
    return [_NUMBERS.get(w, w) for w in words]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words, divided by the reference's length."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if not ref:
        return float(len(hyp) > 0)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / len(ref)


@dataclass(frozen=True)
class TurnMatch:
    found: int
    total: int

    @property
    def rate(self) -> float:
        return self.found / self.total if self.total else 1.0


def match_turns(reference: Sequence[Turn], utterances: Sequence[Utterance]) -> TurnMatch:
    """A reference turn is found when exactly one utterance overlaps it in time, that
    utterance has the turn's speaker, and it overlaps no other turn."""

    def overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
        return min(a1, b1) - max(a0, b0) > 0

    found = 0
    for turn in reference:
        hits = [u for u in utterances if overlaps(turn.start, turn.end, u.start, u.end)]
        if len(hits) != 1 or hits[0].speaker != turn.speaker:
            continue
        u = hits[0]
        if sum(overlaps(t.start, t.end, u.start, u.end) for t in reference) == 1:
            found += 1
    return TurnMatch(found, len(reference))
