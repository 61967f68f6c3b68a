"""`attune analyze`: the speech pipeline and dialogue stages on recordings or written dialogues.

Recordings: one file per speaker, aligned in time (both start at the session's start).
Each file goes through its own chain (decode -> VAD -> ASR), the utterances merge in time
order, and the dialogue stages run on the merged stream, exactly as in the live room.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from tqdm import tqdm

from assistant.dialogue import DialogueStages, in_time_order
from assistant.errors import InputError
from assistant.events import SPEAKERS, Event, Speaker, Utterance, notice_event
from assistant.files import write_atomically
from assistant.speech.asr import Transcriber
from assistant.speech.audio_in import SAMPLE_RATE, TooLong, decode_file
from assistant.speech.chain import SpeechDetector, SpeechJob, recognise_recording
from assistant.speech.vad import VadOptions
from assistant.transcript_input import read_transcript

MAX_LENGTH_MISMATCH_S = 1.0
MAX_AUDIO_HOURS = 4.0
"""Recordings longer than this are refused before they are decoded (``--max-hours``): a
decoded hour holds 230 MB of samples, and a session is never this long."""
CHUNK_S = 30.0
GROUP_SPEECH_S = 90.0  # speech read together by the recogniser (one progress step)


def _progress(total: float, unit: str, desc: str, enabled: bool) -> tqdm[Any]:
    return tqdm(
        total=total,
        unit=unit,
        desc=desc,
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        leave=False,
    )


def analyze_transcript(
    path: Path,
    session: str,
    stages: DialogueStages,
    *,
    progress: bool = True,
    planned_minutes: float | None = None,
) -> list[Event]:
    dialogues = read_transcript(path, session)
    events: list[Event] = []
    total = sum(len(d.utterances) for d in dialogues)
    with _progress(total, "utt", "coding", progress) as bar:
        for written in dialogues:
            dialogue = stages.dialogue(
                written.session,
                times_estimated=written.times_estimated,
                planned_minutes=planned_minutes,
            )
            events.extend(dialogue.process_all(written.utterances))
            bar.update(len(written.utterances))
            events.extend(dialogue.finish())
    return events


def audio_seconds(path: Path, limit_s: float) -> float | None:
    """How long a recording lasts, from its container (or, when the container does not say,
    by decoding it without keeping the samples, stopping once past ``limit_s``); None when
    it cannot be read (decode_file then says why)."""
    import av

    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return float(container.duration) / av.time_base
            seconds = 0.0
            for frame in container.decode(stream):
                seconds += frame.samples / (frame.sample_rate or SAMPLE_RATE)
                if seconds > limit_s:
                    break
            return seconds
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError):
        return None


def check_length(path: Path, seconds: float | None, max_hours: float) -> None:
    if seconds is not None and seconds > max_hours * 3600:
        s = round(seconds)
        raise InputError(
            path,
            f"lasts {s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}, longer than the limit of "
            f"{max_hours:g} hours (raise it with --max-hours)",
        )


def load_tracks(
    therapist: Path, client: Path, max_hours: float = MAX_AUDIO_HOURS
) -> dict[Speaker, np.ndarray]:
    for path in (therapist, client):
        check_length(path, audio_seconds(path, max_hours * 3600), max_hours)
    tracks: dict[Speaker, np.ndarray] = {}
    files: tuple[tuple[Speaker, Path], ...] = (("therapist", therapist), ("client", client))
    for speaker, path in files:
        try:  # a container can understate its length: decoding stops just past the limit
            tracks[speaker] = decode_file(path, max_seconds=max_hours * 3600)
        except TooLong as exc:
            check_length(path, exc.seconds, max_hours)
            raise
    lengths = {s: len(a) / SAMPLE_RATE for s, a in tracks.items()}
    if abs(lengths["therapist"] - lengths["client"]) > MAX_LENGTH_MISMATCH_S:
        raise InputError(
            client,
            f"lasts {lengths['client']:.2f} s but the therapist's file {therapist} lasts "
            f"{lengths['therapist']:.2f} s; the two recordings must be aligned and of the same "
            f"length (within {MAX_LENGTH_MISMATCH_S:.0f} s)",
        )
    return tracks


def detect_speech(speaker: Speaker, audio: np.ndarray, vad: VadOptions) -> list[SpeechJob]:
    detector = SpeechDetector(speaker, vad)
    jobs: list[SpeechJob] = []
    step = int(CHUNK_S * SAMPLE_RATE)
    for i in range(0, len(audio), step):
        jobs.extend(detector.push(audio[i : i + step]))
    jobs.extend(detector.flush())
    return jobs


def _groups(jobs: list[SpeechJob], speech_s: float) -> list[list[SpeechJob]]:
    """Consecutive jobs holding about ``speech_s`` seconds of speech each."""
    groups: list[list[SpeechJob]] = [[]]
    held = 0.0
    for job in jobs:
        if held >= speech_s:
            groups.append([])
            held = 0.0
        groups[-1].append(job)
        held += job.end - job.start
    return [g for g in groups if g]


def analyze_audio(
    therapist: Path,
    client: Path,
    session: str,
    transcriber: Transcriber,
    stages: DialogueStages,
    *,
    vad: VadOptions | None = None,
    progress: bool = True,
    planned_minutes: float | None = None,
    max_hours: float = MAX_AUDIO_HOURS,
) -> list[Event]:
    tracks = load_tracks(therapist, client, max_hours)
    duration = max(len(a) for a in tracks.values()) / SAMPLE_RATE
    vad = vad or VadOptions()
    jobs = {speaker: detect_speech(speaker, tracks[speaker], vad) for speaker in SPEAKERS}
    heard: list[Utterance] = []
    speech_s = sum(j.end - j.start for js in jobs.values() for j in js)
    with _progress(round(speech_s), "s", "transcribing", progress) as bar:
        for speaker_jobs in jobs.values():
            for group in _groups(speaker_jobs, GROUP_SPEECH_S):
                for utterance in recognise_recording(group, transcriber):
                    if utterance.text:
                        heard.append(utterance)
                bar.update(round(sum(j.end - j.start for j in group)))
    dialogue = stages.dialogue(session, times_estimated=False, planned_minutes=planned_minutes)
    events: list[Event] = []
    for speaker, path in (("therapist", therapist), ("client", client)):
        if not jobs[speaker]:  # type: ignore[index]
            events.append(
                notice_event(
                    session,
                    0.0,
                    "no_speech",
                    f"no speech was found in the {speaker}'s recording {path}",
                    speaker=speaker,
                )
            )
    events += dialogue.process_all(in_time_order(heard))
    return events + dialogue.finish(duration)


def write_events(events: Iterable[Event], out: Path | None, stdout: TextIO = sys.stdout) -> None:
    """Write JSON lines; to a file atomically (a partial file never looks complete)."""
    import json

    lines = [json.dumps(e, ensure_ascii=False) + "\n" for e in events]
    if out is None:
        stdout.writelines(lines)
        stdout.flush()
        return
    try:
        write_atomically(out, "".join(lines).encode("utf-8"))
    except FileNotFoundError as exc:
        raise InputError(out, str(exc)) from exc
