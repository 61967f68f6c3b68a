"""Synthetic two-speaker dialogues made with espeak-ng (one voice per speaker).

Each speaker gets a file of the dialogue's full length holding only their own turns (silence
while the other talks), as a per-participant recording would.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.events import Speaker
from assistant.speech.audio_in import SAMPLE_RATE, decode_file

VOICES: dict[Speaker, str] = {"therapist": "en-us+m3", "client": "en+f3"}


@dataclass(frozen=True)
class Turn:
    speaker: Speaker
    text: str
    start: float = 0.0
    end: float = 0.0


def require_espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    return exe


def speak(text: str, voice: str, rate: int = 165) -> np.ndarray:
    """16 kHz mono float32 speech of ``text``."""
    exe = require_espeak()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        # text on stdin: a line such as "-and then..." must not read as an option
        subprocess.run(
            [exe, "-v", voice, "-s", str(rate), "-w", str(raw), "--stdin"],
            input=text.encode("utf-8"),
            check=True,
        )
        return decode_file(raw)


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def looping_lines(
    lines: dict[Speaker, str],
    out_dir: Path,
    periods_s: dict[Speaker, float],
    *,
    lead_s: float = 0.5,
    voices: dict[Speaker, str] | None = None,
) -> dict[Speaker, Path]:
    """Write ``<speaker>.wav`` for a browser's fake microphone, which loops its file: the
    speaker's line after ``lead_s``, then silence up to the speaker's own period.

    Each browser starts its loop when it opens the microphone, so two loops of one length
    would keep whatever overlap they start with. Periods of different lengths drift against
    each other, so some repetitions do not overlap: overlapping speech is double talk, which
    the browsers' echo cancellation (on in the room, by design) may partly suppress."""
    voices = voices or VOICES
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[Speaker, Path] = {}
    for speaker, text in lines.items():
        clip = speak(text, voices[speaker])
        start = int(lead_s * SAMPLE_RATE)
        track = np.zeros(max(int(periods_s[speaker] * SAMPLE_RATE), start + len(clip)), np.float32)
        track[start : start + len(clip)] = clip
        paths[speaker] = out_dir / f"{speaker}.wav"
        write_wav(paths[speaker], track)
    return paths


def synth_dialogue(
    turns: list[tuple[Speaker, str]],
    out_dir: Path,
    *,
    gap_s: float = 0.8,
    lead_s: float = 0.5,
    tail_s: float = 1.0,
    voices: dict[Speaker, str] | None = None,
) -> tuple[Path, Path, list[Turn]]:
    """Write ``therapist.wav`` and ``client.wav`` into ``out_dir``; return them and the turns
    with their true times (speech from espeak-ng's first to last non-silent sample)."""
    voices = voices or VOICES
    clips = [(speaker, text, speak(text, voices[speaker])) for speaker, text in turns]
    therapist, client, placed, _ = place_clips(
        clips, out_dir, gap_s=gap_s, lead_s=lead_s, tail_s=tail_s, voices=voices
    )
    return therapist, client, placed


def place_clips(
    clips: list[tuple[Speaker, str, np.ndarray]],
    out_dir: Path,
    *,
    gap_s: float,
    lead_s: float,
    tail_s: float,
    voices: dict[Speaker, str] | None = None,
) -> tuple[Path, Path, list[Turn], float]:
    """Lay spoken clips one after another on two tracks and write ``therapist.wav`` and
    ``client.wav``; return them, the turns with their true times and the length (s)."""
    voices = voices or VOICES
    total = lead_s + sum(len(c) / SAMPLE_RATE for _, _, c in clips) + gap_s * len(clips) + tail_s
    tracks = {s: np.zeros(int(total * SAMPLE_RATE) + 1, dtype=np.float32) for s in voices}
    placed: list[Turn] = []
    t = lead_s
    for speaker, text, clip in clips:
        i = int(t * SAMPLE_RATE)
        tracks[speaker][i : i + len(clip)] = clip
        voiced = np.flatnonzero(np.abs(clip) > 0.01)
        first = voiced[0] if voiced.size else 0
        last = voiced[-1] if voiced.size else len(clip)
        placed.append(Turn(speaker, text, t + first / SAMPLE_RATE, t + last / SAMPLE_RATE))
        t += len(clip) / SAMPLE_RATE + gap_s
    out_dir.mkdir(parents=True, exist_ok=True)
    therapist, client = out_dir / "therapist.wav", out_dir / "client.wav"
    write_wav(therapist, tracks["therapist"])
    write_wav(client, tracks["client"])
    return therapist, client, placed, total
