"""One participant's chain: 16 kHz mono samples -> VAD -> speech jobs -> ASR -> utterances.

``SpeechDetector`` is synchronous and cheap (VAD only): it turns pushed audio into
``SpeechJob``s, an interim job every ``interim_interval_s`` while a turn goes on (live only)
and one final job when it ends. ``recognise`` runs the recogniser and the guards on one job.
The live room runs ``recognise`` behind a bounded queue; `attune analyze` calls it in line.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.events import Speaker, Utterance
from assistant.speech import guards
from assistant.speech.asr import Transcriber, Transcription
from assistant.speech.audio_in import SAMPLE_RATE
from assistant.speech.vad import WINDOW, Segmenter, SileroVad, SpeechEnded, VadOptions


@dataclass(frozen=True)
class SpeechJob:
    """Audio of one utterance (or of its beginning, when not final) to be transcribed."""

    speaker: Speaker
    utterance_id: str
    start: float
    end: float
    audio: np.ndarray
    final: bool
    speculative: bool = False
    """An interim job cut where a pause began: if the pause turns out to end the turn, the
    final job has the same audio and its transcript can be reused."""


class SpeechDetector:
    """VAD stage of one participant: push samples, get speech jobs."""

    def __init__(
        self,
        speaker: Speaker,
        options: VadOptions | None = None,
        *,
        interim_interval_s: float | None = None,
        speculate_after_ms: int | None = None,
        offset_s: float = 0.0,
        vad: SileroVad | None = None,
        numbers: Iterator[int] | None = None,
    ) -> None:
        self.speaker = speaker
        self.options = options or VadOptions()
        self.offset_s = offset_s
        self._vad = vad or SileroVad()
        self._segmenter = Segmenter(self.options)
        self._pad = self.options.speech_pad_ms * SAMPLE_RATE // 1000
        self._interim_every = int(interim_interval_s * SAMPLE_RATE) if interim_interval_s else None
        self._speculate = (
            speculate_after_ms * SAMPLE_RATE // 1000 if speculate_after_ms is not None else None
        )
        self._speculated: int | None = None
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # sample index of self._buf[0]
        self._received = 0
        self._numbers = numbers if numbers is not None else itertools.count(1)
        self._last_interim = 0
        self._current_id: str | None = None

    @property
    def received_s(self) -> float:
        """Session time up to which audio has been pushed."""
        return self.offset_s + self._received / SAMPLE_RATE

    @property
    def in_speech(self) -> bool:
        return self._segmenter.in_speech

    def push(self, samples: np.ndarray) -> list[SpeechJob]:
        self._buf = np.concatenate([self._buf, samples.astype(np.float32, copy=False)])
        self._received += len(samples)
        jobs: list[SpeechJob] = []
        for event in self._segmenter.push(self._vad.push(samples)):
            if isinstance(event, SpeechEnded):
                jobs.append(self._job(event.start, event.end, final=True))
            else:
                self._current_id = self._next_id()
                self._last_interim = event.start
        position = self._segmenter.position
        pause = self._segmenter.silence_since
        if (
            self._speculate is not None
            and self._segmenter.in_speech
            and pause is not None
            and pause != self._speculated
            and position - pause >= self._speculate
        ):
            self._speculated = pause
            start = self._segmenter.open_start
            assert start is not None
            jobs.append(self._job(start, pause, final=False, speculative=True))
        elif (
            self._interim_every
            and self._segmenter.in_speech
            and self._current_id is not None
            and position - self._last_interim >= self._interim_every
        ):
            self._last_interim = position
            start = self._segmenter.open_start
            assert start is not None
            jobs.append(self._job(start, position, final=False))
        self._trim()
        return jobs

    def flush(self) -> list[SpeechJob]:
        """End of this participant's audio: finish the open turn, if any."""
        jobs: list[SpeechJob] = []
        for event in self._segmenter.flush():
            if isinstance(event, SpeechEnded):
                jobs.append(self._job(event.start, event.end, final=True))
            else:
                self._current_id = self._next_id()
        return jobs

    def _next_id(self) -> str:
        return f"{self.speaker[0]}{next(self._numbers)}"

    def _job(self, start: int, end: int, *, final: bool, speculative: bool = False) -> SpeechJob:
        if self._current_id is None:
            self._current_id = self._next_id()
        lo = max(start - self._pad - self._buf_start, 0)
        hi = min(end + self._pad, self._received) - self._buf_start
        job = SpeechJob(
            speaker=self.speaker,
            utterance_id=self._current_id,
            start=self.offset_s + start / SAMPLE_RATE,
            end=self.offset_s + end / SAMPLE_RATE,
            audio=self._buf[lo:hi].copy(),
            final=final,
            speculative=speculative,
        )
        if final:
            self._current_id = None
        return job

    def _trim(self) -> None:
        open_start = self._segmenter.open_start
        keep_from = open_start if open_start is not None else self._segmenter.position
        keep_from -= self._pad + WINDOW
        drop = keep_from - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop


def _utterance(job: SpeechJob, result: Transcription) -> Utterance:
    return Utterance(
        id=job.utterance_id,
        speaker=job.speaker,
        start=job.start,
        end=job.end,
        text=guards.clean(result, job.audio),
        final=job.final,
    )


def recognise(job: SpeechJob, transcriber: Transcriber) -> Utterance:
    """Transcribe one job; the text is '' when the guards judged it invented. A speculative
    job is decoded as a final, since its transcript may become one."""
    result = transcriber.transcribe(job.audio, final=job.final or job.speculative)
    return _utterance(job, result)


def recognise_recording(jobs: Sequence[SpeechJob], transcriber: Transcriber) -> list[Utterance]:
    """Transcribe all final jobs of one speaker's recording together (for accuracy and speed);
    one utterance per job, text '' where the guards judged it invented.

    A joint read's no-speech probability is its 30 s window's, not a segment's: a short turn
    such as "Yeah." at the start of a window can come with 0.96. So where the guards would drop
    a jointly read segment, it is read again on its own and judged as a live segment is."""
    results = transcriber.transcribe_many([job.audio for job in jobs])
    utterances: list[Utterance] = []
    for job, result in zip(jobs, results, strict=True):
        utterance = _utterance(job, result)
        if result.joint and result.text.strip() and not utterance.text:
            utterance = recognise(job, transcriber)
        utterances.append(utterance)
    return utterances
