"""Guards against Whisper's invented and repeated text (unit tests with made-up results)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.speech.asr import Transcription
from assistant.speech.guards import clean, collapse_repeats

SPEECH = (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32)
QUIET = np.zeros(16000, dtype=np.float32)


@pytest.mark.parametrize(
    "text",
    [
        "Thanks for watching!",
        "Thank you for watching.",
        "Please subscribe.",
        "Subtitles by the Amara.org community",
        "[Music]",
        "...",
    ],
)
def test_invented_phrases_are_dropped(text: str) -> None:
    assert clean(Transcription(text=text, avg_logprob=-0.2), SPEECH) == ""


def test_weak_phrases_are_dropped_only_when_unsure() -> None:
    assert clean(Transcription(text="Thank you.", avg_logprob=-0.2), SPEECH) == "Thank you."
    assert clean(Transcription(text="Thank you.", avg_logprob=-0.2), QUIET) == ""
    assert clean(Transcription(text="you", no_speech_prob=0.7), SPEECH) == ""


def test_short_real_turns_pass_whatever_their_log_probability() -> None:
    """What tiny.en gave on the live room's 10 s window for espeak-ng speech (kept) and for
    sounds that passed the VAD (dropped), measured 2026-11-28."""
    spoken = [("Okay.", 0.23, -1.14), ("Thank you.", 0.53, -0.23), ("Oh.", 0.52, -1.43)]
    for text, no_speech, logprob in spoken:
        result = Transcription(text=text, no_speech_prob=no_speech, avg_logprob=logprob)
        assert clean(result, SPEECH) == text
    invented = [("Okay.", 0.91, -2.58), ("You", 0.82, -2.97), ("Yeah, yeah.", 0.89, -2.0)]
    for text, no_speech, logprob in invented:
        result = Transcription(text=text, no_speech_prob=no_speech, avg_logprob=logprob)
        assert clean(result, SPEECH) == ""


def test_unsure_text_is_dropped() -> None:
    result = Transcription(text="I went home", no_speech_prob=0.8, avg_logprob=-1.3)
    assert clean(result, SPEECH) == ""


def test_real_speech_passes() -> None:
    result = Transcription(text="I have been feeling low.", avg_logprob=-0.3)
    assert clean(result, SPEECH) == "I have been feeling low."


def test_repeats_are_collapsed() -> None:
    assert (
        collapse_repeats("I'm sorry. I'm sorry. I'm sorry. I'm sorry.") == "I'm sorry. I'm sorry."
    )
    assert collapse_repeats("no no no no no") == "no no"
    assert collapse_repeats("yes yes, I do") == "yes yes, I do"
    text = "and then and then and then and then we left"
    assert collapse_repeats(text) == "and then and then we left"
