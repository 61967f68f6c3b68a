"""Guards against Whisper's known failures on a transcribed segment.

- text on silence or noise ("Thanks for watching", "you"): the VAD keeps most of it out; what
  still comes through is caught by Whisper's own confidence (no-speech probability with a low
  log-probability) and a list of phrases Whisper is known to invent;
- repeated text ("I'm sorry. I'm sorry. I'm sorry. ..."): runs of the same words are collapsed;
- stretched times: avoided upstream by transcribing each VAD segment on its own and taking the
  segment's times from the VAD, never from Whisper.
"""

from __future__ import annotations

import re

import numpy as np

from assistant.speech.transcription import Transcription

# Phrases Whisper emits on silence, music and noise (from its YouTube-subtitle training data).
# Never plausible as the whole of a therapy turn: always dropped.
_INVENTED = re.compile(
    r"^(thanks? (you )?for watching|please subscribe|(like and )?subscribe( to (my|the) channel)?"
    r"|subtitles? by.*|transcri(bed|ption) by.*|captions? by.*|see you (in the )?next (time|video)"
    r"|thank you for (watching|listening)|amara\.org.*|www\..*|\[?(music|applause|silence)\]?)$"
)
# Plausible as a short real turn, invented on noise too: dropped when Whisper thinks the
# segment more likely not speech (or it is near silence), whatever its log-probability.
_WEAK = re.compile(r"^(you|thank you|thanks|bye|okay|oh|so|hmm|uh|um|the end|i'm sorry)$")

NO_SPEECH_PROB = 0.6
"""Measured 2026-11-28 with tiny.en (`bench/short_turns.py`): what Whisper made of breaths, hum,
a tone, clicks, coughs and knocks on the live room's 10 s window came with a no-speech
probability of 0.61-0.97 (0.79 and above where it was one of the phrases above); short real
turns ("Okay.", "Thank you.", "Oh.", "So." in eight espeak-ng voices) with 0.08-0.58 and
log-probabilities down to -2.6, so the log-probability does not tell them apart."""
LOW_LOGPROB = -1.0
QUIET_RMS = 0.003  # about -50 dBFS


def normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9' .]+", " ", text.lower()).strip(" .").replace("  ", " ")


def collapse_repeats(text: str, max_repeats: int = 2) -> str:
    """Keep at most ``max_repeats`` consecutive copies of any run of 1-8 words."""
    words = text.split()
    if len(words) < 3:
        return text
    changed = True
    while changed:
        changed = False
        for n in range(1, 9):
            i = 0
            out: list[str] = []
            while i < len(words):
                gram = [w.lower().strip(".,!?") for w in words[i : i + n]]
                count = 1
                while (
                    len(gram) == n
                    and [
                        w.lower().strip(".,!?") for w in words[i + count * n : i + (count + 1) * n]
                    ]
                    == gram
                ):
                    count += 1
                if count > max_repeats:
                    out.extend(words[i : i + n * max_repeats])
                    i += n * count
                    changed = True
                else:
                    out.append(words[i])
                    i += 1
            words = out
    return " ".join(words)


def clean(result: Transcription, audio: np.ndarray) -> str:
    """The text worth showing for one segment, or '' when it is likely invented."""
    text = result.text.strip()
    if not text:
        return ""
    unsure = result.no_speech_prob > NO_SPEECH_PROB and result.avg_logprob < LOW_LOGPROB
    if unsure:
        return ""
    norm = normalise(text)
    if not re.search(r"[a-z0-9]", norm):
        return ""
    if _INVENTED.match(norm):
        return ""
    rms = float(np.sqrt(np.mean(np.square(audio)))) if audio.size else 0.0
    weak = result.no_speech_prob > NO_SPEECH_PROB or rms < QUIET_RMS
    if _WEAK.match(norm) and weak:
        return ""
    return collapse_repeats(text)
