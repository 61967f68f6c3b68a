"""Recording a participant's audio as Ogg/Opus, for replay, only with consent.

Audio is written only while the session is set to record and both people agree; elsewhere
the file holds silence, so that its time is the session clock (the replay page seeks by it).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from pathlib import Path

import av
import numpy as np

from assistant.live.sessions import Role
from assistant.speech.audio_in import SAMPLE_RATE
from assistant.store import Store

log = logging.getLogger("attune.recorder")

MAX_GAP_S = 0.1  # a longer gap in the samples written is filled with silence


def audio_aad(session_id: str, role: str) -> str:
    """What a recording's encryption is bound to: this session, this speaker."""
    return f"audio|{session_id}|{role}"


class AudioRecorder:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._container = av.open(str(path), mode="w", format="ogg")
        self._stream = self._container.add_stream("libopus", rate=SAMPLE_RATE)
        self._stream.layout = "mono"
        self._written = 0  # samples, on the session clock from 0

    @property
    def seconds(self) -> float:
        return self._written / SAMPLE_RATE

    def write_at(self, at_s: float, samples: np.ndarray) -> None:
        """``samples`` (16 kHz mono float32) were heard at session time ``at_s``."""
        gap = int(at_s * SAMPLE_RATE) - self._written
        if gap > MAX_GAP_S * SAMPLE_RATE:
            self._encode(np.zeros(gap, dtype=np.float32))
        self._encode(samples)

    def _encode(self, samples: np.ndarray) -> None:
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._written
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._written += pcm.shape[1]

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()


class SessionRecordings:
    """A session's recordings: one ``AudioRecorder`` per speaker, opened on their first audio
    and listed in the store; encrypted at rest (like the transcript) when closed."""

    def __init__(self, session_id: str, store: Store, audio_dir: Path) -> None:
        self.session_id = session_id
        self.store = store
        self.audio_dir = audio_dir
        self._recorders: dict[Role, AudioRecorder] = {}

    async def write(self, role: Role, at: float, samples: np.ndarray) -> None:
        recorder = self._recorders.get(role)
        if recorder is None:
            path = self.audio_dir / self.session_id / f"{role}-{time.time_ns()}.ogg"
            recorder = self._recorders[role] = AudioRecorder(path)
            await asyncio.to_thread(self.store.add_audio_file, self.session_id, role, str(path))
        recorder.write_at(at, samples)

    def seal_leftovers(self) -> None:
        """Encrypt recordings a crash left unsealed (blocking: run it in a thread)."""
        for f in self.store.audio_files(self.session_id):
            if Path(f.path).is_file():
                self.store.seal_file(f.path, audio_aad(self.session_id, f.role))

    async def close(self) -> None:
        """Finish the recordings and encrypt them."""
        recorders, self._recorders = self._recorders, {}
        for role, recorder in recorders.items():
            try:
                recorder.close()
                await asyncio.to_thread(
                    self.store.seal_file, str(recorder.path), audio_aad(self.session_id, role)
                )
            except Exception:
                log.exception("finishing the recording %s failed", recorder.path)
