"""Benchmark: do the speech guards keep short real turns and drop what Whisper makes of sounds?

    .venv/bin/python bench/short_turns.py

Two sets, each through Whisper (bundled tiny.en) as the live room reads a turn (a 10 s window)
and read alone on Whisper's full 30 s window, then through the guards
(`assistant/speech/guards.py`):
- short real turns: "Okay.", "Thank you.", "Oh." ... spoken by eight espeak-ng voices;
- sounds that can pass the VAD: breaths, hum, a tone, clicks, tremolo noise, a cough, knocks
  (sox), each at three levels.
Prints, per set and way of reading, how many came out with text and how many the guards kept,
with the range of Whisper's no-speech probability and log-probability, then every sound's text.

Then each sound between two sentences of one speaker (two voices), read together as `attune
analyze` reads a recording (`recognise_recording`: the joint read, its word split, the guards):
how often the sound's segment ends up with words or a turn beside it loses words (a word
taken by the sound), and every such case.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.speech import guards  # noqa: E402
from assistant.speech.asr import LIVE_WINDOW_S, AsrOptions, WhisperTranscriber  # noqa: E402
from assistant.speech.audio_in import SAMPLE_RATE, decode_file  # noqa: E402
from assistant.speech.chain import SpeechJob, recognise_recording  # noqa: E402
from assistant.testing.synth import speak  # noqa: E402

VOICES = ["en-us+m3", "en+f3", "en-us", "en+m1", "en+f2", "en-gb", "en-us+f4", "en+m7"]
WORDS = ["Okay.", "Oh.", "So.", "Hmm.", "Thank you.", "Thanks.", "Bye.", "Um.", "Okay, so.", "Uh."]
SOUNDS: dict[str, list[str]] = {
    "breath": [
        "0.8", "pinknoise", "vol", "0.2", "fade", "q", "0.3", "0.8", "0.4", "highpass", "300",
    ],
    "soft breath": ["0.8", "pinknoise", "vol", "0.05", "fade", "q", "0.3", "0.8", "0.4"],
    "hum": ["1.0", "sine", "120", "vol", "0.2"],
    "tone": ["0.6", "sine", "440", "vol", "0.3"],
    "click": ["0.03", "square", "1000", "vol", "0.5", "pad", "0.3", "0.3"],
    "tremolo": ["1.2", "brownnoise", "vol", "0.4", "tremolo", "4", "80"],
    "cough": [
        "0.35", "whitenoise", "vol", "0.6", "fade", "q", "0.02", "0.35", "0.25",
        "lowpass", "1500", "pad", "0.2", "0.2",
    ],
    "knock": [
        "0.08", "brownnoise", "vol", "0.9", "fade", "q", "0.005", "0.08", "0.07",
        "repeat", "2", "pad", "0.2", "0.3",
    ],
}  # fmt: skip
GAINS = (0.3, 1.0, 2.0)
PAD = np.zeros(SAMPLE_RATE * 150 // 1000, dtype=np.float32)  # the VAD's 150 ms padding


@dataclass
class Read:
    name: str
    text: str
    no_speech: float
    logprob: float
    kept: bool


def read(transcriber: WhisperTranscriber, name: str, audio: np.ndarray) -> Read:
    audio = np.concatenate([PAD, audio, PAD])
    result = transcriber.transcribe(audio, final=True)
    kept = bool(guards.clean(result, audio))
    return Read(name, result.text.strip(), result.no_speech_prob, result.avg_logprob, kept)


def sounds(out_dir: Path) -> dict[str, np.ndarray]:
    made: dict[str, np.ndarray] = {}
    for name, spec in SOUNDS.items():
        path = out_dir / f"{name.replace(' ', '-')}.wav"
        argv = ["sox", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(path), "synth"]
        subprocess.run([*argv, *spec], check=True)
        clip = decode_file(path)
        for gain in GAINS:
            made[f"{name} x{gain}"] = np.clip(clip * gain, -1.0, 1.0).astype(np.float32)
    return made


def summary(label: str, reads: list[Read]) -> None:
    heard = [r for r in reads if r.text]
    kept = sum(r.kept for r in reads)
    line = f"{label:52s} {len(reads):3d} read, {len(heard):3d} with text, {kept:3d} kept"
    if heard:
        ns = [r.no_speech for r in heard]
        lp = [r.logprob for r in heard]
        line += f"; no-speech {min(ns):.2f}-{max(ns):.2f}, log-prob {min(lp):.2f}-{max(lp):.2f}"
    print(line)


BEFORE = [
    "I guess I have been drinking more since the move.",
    "It was a hard week at work, honestly.",
    "My daughter worries about me a lot.",
]
AFTER = [
    "So I thought I should talk to someone about it.",
    "And then I just sit there and feel bad.",
    "Well, I want to be around for her.",
]


def between_turns(transcriber: WhisperTranscriber, noises: dict[str, np.ndarray]) -> None:
    """Each sound as a segment between two real turns, read as a recording is."""
    given: list[str] = []
    count = 0
    for voice in VOICES[:2]:
        spoken = [(speak(a, voice), speak(b, voice)) for a, b in zip(BEFORE, AFTER, strict=True)]
        for k, (name, sound) in enumerate(noises.items()):
            before, after = spoken[k % len(spoken)]
            jobs = [
                SpeechJob("client", str(i), 0.0, 1.0, np.concatenate([PAD, clip, PAD]), True)
                for i, clip in enumerate((before, sound, after))
            ]
            heard = [u.text for u in recognise_recording(jobs, transcriber)]
            count += 1
            said = (BEFORE[k % len(BEFORE)], AFTER[k % len(AFTER)])
            # a word misheard is the recogniser's; more than one missing is the split's
            short = any(
                len(h.split()) < len(s.split()) - 1
                for h, s in zip((heard[0], heard[2]), said, strict=True)
            )
            if heard[1] or short:
                given.append(f"  {voice:9s} {name:16s} {heard!r}")
    print(
        f"\nsounds between two turns, read as a recording: {len(given)} of {count} where the "
        "sound was given words or a turn lost them"
    )
    print("\n".join(given))


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ways = {
        "live (10 s window)": WhisperTranscriber(AsrOptions(segment_window_s=LIVE_WINDOW_S)),
        "alone, full 30 s window": WhisperTranscriber(),
    }
    spoken = {f"{voice}: {word}": speak(word, voice) for voice in VOICES for word in WORDS}
    with tempfile.TemporaryDirectory() as tmp:
        noises = sounds(Path(tmp))
    details: list[tuple[str, Read]] = []
    for way, transcriber in ways.items():
        turns = [read(transcriber, name, audio) for name, audio in spoken.items()]
        made_up = [read(transcriber, name, audio) for name, audio in noises.items()]
        summary(f"{way}, short real turns", turns)
        summary(f"{way}, sounds", made_up)
        details += [(way, r) for r in made_up + [t for t in turns if not t.kept]]
    print("\nsounds, and real turns the guards dropped:")
    for way, r in details:
        print(
            f"  {way:34s} {r.name:22s} {r.text[:28]!r:32s} no-speech {r.no_speech:.2f} "
            f"log-prob {r.logprob:6.2f} {'kept' if r.kept else 'dropped'}"
        )
    between_turns(ways["alone, full 30 s window"], noises)


if __name__ == "__main__":
    main()
