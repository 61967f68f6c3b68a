"""Split the words of a joint read back into the segments they were spoken in.

A recording's turns of one speaker are read back to back (``WhisperTranscriber.
transcribe_many``), and each word, with its timestamp, must go back to its own turn. Two
things make that harder than looking up a word's time:

- Whisper times words late. On espeak-ng dialogues the first word of a segment starts a
  median 0.2-0.24 s after the segment's start, where the VAD's padding puts speech at 0.15 s,
  and a quarter of segments have their last word ending after the segment's end. A short
  turn ("Yeah.", "Okay.") lies so near the next turn's start that its word lands there:
  "Yeah, um, honestly..." for a turn that began "Um, honestly...", and an empty turn before
  it (16 and 18 of about 420 turns in two sets of twelve AnnoMI dialogues).
- So a segment left without words is read again on its own. If what the guards keep of
  that read is the first words of the next segment (or the last of the previous one), those
  words are moved back, so they are neither lost nor written twice; otherwise the read alone
  is the segment's text, judged by the guards as a live segment is.

Two simpler fixes were measured and rejected (``docs/benchmarks.md``): placing words by a
middle moved 0.1-0.2 s earlier, and moving the nearest words into every empty segment. Both
let a sound between two turns (a tone, a cough), which Whisper leaves without a word, take
the next turn's first word: 1 and 13-48 of 48 cases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from assistant.speech.transcription import Transcription, Word


def place(bounds: Sequence[float], words: Sequence[Word]) -> list[list[Word]]:
    """Each word (times in the joint read) into the segment holding its middle; ``bounds`` are
    the segments' edges in the joint read (one more than segments)."""
    edges = np.asarray(bounds, dtype=np.float64)
    count = len(edges) - 1
    placed: list[list[Word]] = [[] for _ in range(count)]
    for word in words:
        middle = (word.start + word.end) / 2
        i = int(np.clip(np.searchsorted(edges, middle, side="right") - 1, 0, count - 1))
        placed[i].append(word)
    return placed


def relative(words: Sequence[Word], start: float, end: float) -> tuple[Word, ...]:
    """A segment's words with times from its start, kept within it (a word moved from a
    neighbour was timed there: it is put at the edge)."""

    def within(t: float) -> float:
        return min(max(t - start, 0.0), end - start)

    return tuple(Word(within(w.start), within(w.end), w.text, w.probability) for w in words)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9']", "", text.lower())


def _matches(heard: list[str], words: Sequence[Word]) -> bool:
    return len(words) == len(heard) and [_norm(w.text) for w in words] == heard


def fill_empty(
    placed: list[list[Word]],
    read_alone: Callable[[int], Transcription],
    clean: Callable[[int, Transcription], str],
) -> dict[int, Transcription]:
    """Give each segment left without words what it holds, reading it alone (in order, so a
    segment emptied by a move is looked at in its turn). ``clean`` is the guards' judgement of
    a read alone, as for a live segment: only what they keep moves words (a faint tone read
    alone as "So." must not take the next turn's "So"). Moves words between ``placed``'s lists
    in place; returns the reads alone that become a segment's text as they are."""
    alone: dict[int, Transcription] = {}
    for i in range(len(placed)):
        if placed[i]:
            continue
        result = read_alone(i)
        heard = [n for n in (_norm(t) for t in clean(i, result).split()) if n]
        if not heard:
            continue
        k = len(heard)
        if i + 1 < len(placed) and _matches(heard, placed[i + 1][:k]):
            placed[i], placed[i + 1] = placed[i + 1][:k], placed[i + 1][k:]
        elif i > 0 and len(placed[i - 1]) > k and _matches(heard, placed[i - 1][-k:]):
            placed[i], placed[i - 1] = placed[i - 1][-k:], placed[i - 1][:-k]
        else:
            alone[i] = result
    return alone
