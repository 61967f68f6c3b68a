"""Crosstalk: the other speaker's voice leaking into a microphone must not become this
speaker's words.

Browsers cancel most echo, but a loudspeaker next to a microphone still leaks. Both tracks are
on one session clock, so the leak shows in their levels: while the leak is heard, the other
track carries the same speech much louder (the original) at about the same time (network and
playback delay only). A final job is judged bleed when, for most of its voiced 32 ms blocks,
the other track was at least ``margin_db`` louder within ``max_delay_s``.
"""

from __future__ import annotations

import collections

import numpy as np

from assistant.events import Speaker
from assistant.speech.audio_in import SAMPLE_RATE
from assistant.speech.chain import SpeechJob

BLOCK = 512
FLOOR_DB = -55.0


class BleedFilter:
    def __init__(
        self,
        margin_db: float = 12.0,
        max_delay_s: float = 0.4,
        share: float = 0.6,
        history_s: float = 90.0,
    ) -> None:
        self.margin_db = margin_db
        self.max_delay_s = max_delay_s
        self.share = share
        self._blocks = int(history_s * SAMPLE_RATE / BLOCK)
        self._levels: dict[Speaker, collections.deque[tuple[float, float]]] = {}
        self._pending: dict[Speaker, np.ndarray] = {}

    def record(self, speaker: Speaker, at: float, samples: np.ndarray) -> None:
        """Levels of ``samples``, which start at session time ``at``."""
        pending = self._pending.get(speaker, np.zeros(0, np.float32))
        start = at - len(pending) / SAMPLE_RATE
        audio = np.concatenate([pending, samples])
        n = len(audio) // BLOCK
        self._pending[speaker] = audio[n * BLOCK :]
        if n == 0:
            return
        blocks = audio[: n * BLOCK].reshape(n, BLOCK)
        rms = np.sqrt(np.mean(np.square(blocks), axis=1)) + 1e-9
        levels = self._levels.setdefault(speaker, collections.deque(maxlen=self._blocks))
        for i, db in enumerate(20 * np.log10(rms)):
            levels.append((start + i * BLOCK / SAMPLE_RATE, float(db)))

    def _span(self, speaker: Speaker, t0: float, t1: float) -> np.ndarray:
        levels = self._levels.get(speaker, ())
        return np.array([(t, db) for t, db in levels if t0 <= t <= t1], dtype=np.float64)

    def is_bleed(self, job: SpeechJob) -> bool:
        other: Speaker = "client" if job.speaker == "therapist" else "therapist"
        own = self._span(job.speaker, job.start, job.end)
        theirs = self._span(other, job.start - self.max_delay_s, job.end + self.max_delay_s)
        if own.size == 0 or theirs.size == 0:
            return False
        voiced = own[own[:, 1] > FLOOR_DB]
        if voiced.size == 0:
            return False
        louder = 0
        for t, db in voiced:
            # the leak follows the original by the playback and network delay; the two tracks'
            # clocks may also differ a little, so a little of the future counts too
            near = (theirs[:, 0] >= t - self.max_delay_s) & (
                theirs[:, 0] <= t + self.max_delay_s / 2
            )
            window = theirs[near]
            if window.size and window[:, 1].max() >= db + self.margin_db:
                louder += 1
        return louder >= self.share * len(voiced)
