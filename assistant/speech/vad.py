"""VAD: Silero speech probabilities (bundled with faster-whisper) and a streaming segmenter.

``SileroVad`` turns pushed samples into one speech probability per 32 ms window, carrying the
model's state between calls, so streaming a file in chunks gives the same probabilities as
one call on the whole file. ``Segmenter`` is a pure state machine over those probabilities
that reports where speech starts and ends; the live room and `attune analyze` share both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.speech.audio_in import SAMPLE_RATE

WINDOW = 512  # samples per Silero window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the model sees


@dataclass(frozen=True)
class VadOptions:
    """Options of the speech segmenter."""

    threshold: float = 0.5
    """A window with speech probability at or above this is speech."""
    neg_threshold: float | None = None
    """Below this a window is silence (default: ``threshold - 0.15``); between the two it
    continues whatever state the segmenter is in."""
    min_speech_ms: int = 250
    """Speech shorter than this is dropped (clicks, coughs)."""
    min_silence_ms: int = 400
    """Silence this long ends a segment. Silero's 2000 ms default merges turns."""
    speech_pad_ms: int = 150
    """Audio kept around each segment for the recogniser (its reported times stay unpadded)."""
    max_speech_s: float = 25.0
    """A longer stretch of speech is cut here (Whisper reads 30 s at most)."""

    @property
    def silence_threshold(self) -> float:
        if self.neg_threshold is not None:
            return self.neg_threshold
        return max(self.threshold - 0.15, 0.01)


class SileroVad:
    """Streaming Silero VAD: ``push(samples)`` returns the probabilities of every window
    completed by those samples."""

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._session = get_vad_model().session
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        audio = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        n = len(audio) // WINDOW
        self._pending = audio[n * WINDOW :]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        windows = audio[: n * WINDOW].reshape(n, WINDOW)
        contexts = np.empty((n, CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        contexts[1:] = windows[:-1, -CONTEXT:]
        self._context = windows[-1, -CONTEXT:].copy()
        batch = np.concatenate([contexts, windows], axis=1)
        out, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        return np.asarray(out, dtype=np.float32).reshape(-1)


@dataclass(frozen=True)
class SpeechStarted:
    start: int
    """Sample index where speech began."""


@dataclass(frozen=True)
class SpeechEnded:
    start: int
    end: int
    """Sample indices of the segment's speech (without padding)."""


SegmentEvent = SpeechStarted | SpeechEnded


class Segmenter:
    """Pure state machine: window probabilities in, speech start / end events out."""

    def __init__(self, options: VadOptions) -> None:
        self.options = options
        self._min_speech = options.min_speech_ms * SAMPLE_RATE // 1000
        self._min_silence = options.min_silence_ms * SAMPLE_RATE // 1000
        self._max_speech = int(options.max_speech_s * SAMPLE_RATE) // WINDOW * WINDOW
        self._window_index = 0
        self._start: int | None = None  # speech candidate start
        self._announced = False
        self._silence_since: int | None = None
        self._last_short_silence: int | None = None

    @property
    def in_speech(self) -> bool:
        return self._announced

    @property
    def open_start(self) -> int | None:
        """Start sample of the speech being heard now, if any."""
        return self._start

    @property
    def silence_since(self) -> int | None:
        """Sample where the silence now ending the current speech began, if any."""
        return self._silence_since if self._start is not None else None

    @property
    def position(self) -> int:
        """Samples consumed so far."""
        return self._window_index * WINDOW

    def push(self, probabilities: np.ndarray) -> list[SegmentEvent]:
        events: list[SegmentEvent] = []
        opts = self.options
        low = opts.silence_threshold
        for p in probabilities.tolist():
            now = self._window_index * WINDOW
            self._window_index += 1
            if self._start is None:
                if p >= opts.threshold:
                    self._start = now
                    self._silence_since = None
                continue
            if p >= opts.threshold:
                if self._silence_since is not None and now - self._silence_since > 3 * WINDOW:
                    self._last_short_silence = self._silence_since
                self._silence_since = None
            elif p < low and self._silence_since is None:
                self._silence_since = now
            speech_end = self._silence_since if self._silence_since is not None else now
            if not self._announced and speech_end - self._start >= self._min_speech:
                self._announced = True
                events.append(SpeechStarted(self._start))
            if self._silence_since is not None and now + WINDOW - self._silence_since >= (
                self._min_silence
            ):
                events.extend(self._close(self._silence_since))
            elif now + WINDOW - self._start >= self._max_speech:
                cut = self._last_short_silence or now + WINDOW
                events.extend(self._close(cut))
                if cut < now + WINDOW:
                    self._start = cut
        return events

    def flush(self) -> list[SegmentEvent]:
        """End of audio: close any open segment."""
        if self._start is None:
            return []
        end = self._silence_since if self._silence_since is not None else self.position
        return self._close(end)

    def _close(self, end: int) -> list[SegmentEvent]:
        start = self._start
        assert start is not None
        self._start = None
        self._silence_since = None
        self._last_short_silence = None
        announced, self._announced = self._announced, False
        if end - start < self._min_speech:
            return []
        events: list[SegmentEvent] = [] if announced else [SpeechStarted(start)]
        events.append(SpeechEnded(start, end))
        return events
