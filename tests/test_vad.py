"""VAD stage: the segmenter state machine (scripted probabilities) and streaming Silero."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.speech.vad import (
    WINDOW,
    Segmenter,
    SileroVad,
    SpeechEnded,
    SpeechStarted,
    VadOptions,
)
from assistant.testing.synth import speak

MS = 16  # samples per millisecond at 16 kHz


def windows(*spans: tuple[float, int]) -> np.ndarray:
    """Probabilities: (value, duration in ms) spans, one value per 32 ms window."""
    out: list[float] = []
    for value, ms in spans:
        out += [value] * (ms * MS // WINDOW)
    return np.array(out, dtype=np.float32)


def test_one_turn_gives_start_then_end() -> None:
    seg = Segmenter(VadOptions(min_silence_ms=400, min_speech_ms=250))
    events = seg.push(windows((0.0, 320), (0.9, 1600), (0.0, 640)))
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]
    end = events[1]
    assert isinstance(end, SpeechEnded)
    assert end.start == 320 * MS
    assert end.end == (320 + 1600) * MS


def test_short_pause_inside_a_turn_does_not_split_it() -> None:
    seg = Segmenter(VadOptions(min_silence_ms=400))
    events = seg.push(windows((0.9, 960), (0.0, 256), (0.9, 960), (0.0, 640)))
    assert sum(isinstance(e, SpeechEnded) for e in events) == 1


def test_pause_longer_than_min_silence_splits_turns() -> None:
    seg = Segmenter(VadOptions(min_silence_ms=400))
    events = seg.push(windows((0.9, 960), (0.0, 640), (0.9, 960), (0.0, 640)))
    assert sum(isinstance(e, SpeechEnded) for e in events) == 2


def test_blip_shorter_than_min_speech_is_dropped() -> None:
    seg = Segmenter(VadOptions(min_speech_ms=250))
    events = seg.push(windows((0.0, 320), (0.9, 96), (0.0, 960)))
    assert events == []


def test_between_thresholds_continues_the_current_state() -> None:
    seg = Segmenter(VadOptions(threshold=0.5, min_silence_ms=400))
    # 0.4 is above the silence threshold (0.35): speech goes on, silence stays silence.
    events = seg.push(windows((0.4, 640), (0.9, 640), (0.4, 960), (0.0, 640)))
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(ended) == 1
    assert ended[0].start == 640 * MS
    assert ended[0].end == (640 + 640 + 960) * MS


def test_long_speech_is_cut_at_max_length() -> None:
    seg = Segmenter(VadOptions(max_speech_s=2.0))
    events = seg.push(windows((0.9, 5000)))
    events += seg.flush()
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(ended) >= 2
    assert all(e.end - e.start <= 2 * 16000 for e in ended)


def test_flush_closes_an_open_turn() -> None:
    seg = Segmenter(VadOptions())
    assert [type(e) for e in seg.push(windows((0.9, 960)))] == [SpeechStarted]
    assert [type(e) for e in seg.flush()] == [SpeechEnded]
    assert seg.flush() == []


@pytest.mark.model
def test_streaming_silero_matches_one_call_on_the_whole_audio() -> None:
    from faster_whisper.vad import get_vad_model

    audio = np.concatenate([np.zeros(8000, np.float32), speak("How are you today?", "en-us")])
    padded = np.pad(audio, (0, WINDOW - len(audio) % WINDOW))
    whole = np.asarray(get_vad_model()(padded)).reshape(-1)
    vad = SileroVad()
    parts = [vad.push(padded[i : i + 960]) for i in range(0, len(padded), 960)]
    streamed = np.concatenate(parts)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-5)
    assert whole.max() > 0.8  # speech is seen
    assert whole[:10].max() < 0.2  # leading silence is not


@pytest.mark.model
def test_silero_hears_no_speech_in_a_pure_tone() -> None:
    t = np.arange(16000 * 3) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    probs = SileroVad().push(tone)
    assert Segmenter(VadOptions()).push(probs) == []
