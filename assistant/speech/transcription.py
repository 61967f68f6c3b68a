"""What the recogniser heard: a segment's text, its confidence and its timed words."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class Transcription:
    """What the recogniser heard in one segment (times relative to the segment)."""

    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    words: tuple[Word, ...] = field(default=())
    joint: bool = False
    """Read together with other segments (``Transcriber.transcribe_many``): the text is this
    segment's, but the no-speech and log-probabilities describe the joint read around it."""
