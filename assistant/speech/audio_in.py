"""Audio in: decode files or frames into 16 kHz mono float32 samples in [-1, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.errors import InputError

SAMPLE_RATE = 16_000


def decode_file(path: Path) -> np.ndarray:
    """Decode anything PyAV reads into 16 kHz mono float32; raise InputError on bad files."""
    import av

    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"not a readable audio file ({exc})") from exc
    chunks: list[np.ndarray] = []
    with container:
        if not container.streams.audio:
            raise InputError(path, "has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise InputError(path, f"audio could not be decoded ({exc})") from exc
    if not chunks:
        raise InputError(path, "holds no audio samples")
    samples = np.concatenate(chunks).astype(np.float32) / 32768.0
    if samples.size == 0:
        raise InputError(path, "holds no audio samples")
    return samples
