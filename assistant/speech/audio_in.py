"""Audio in: decode files or frames into 16 kHz mono float32 samples in [-1, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.errors import InputError

SAMPLE_RATE = 16_000


class TooLong(InputError):
    """Decoding went past ``max_seconds``: a container that understated its length is stopped
    here, before the whole file is held in memory."""

    def __init__(self, path: Path, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(path, f"lasts more than {seconds:.0f} s")


def decode_file(path: Path, max_seconds: float | None = None) -> np.ndarray:
    """Decode anything PyAV reads into 16 kHz mono float32; raise InputError on bad files and
    :class:`TooLong` as soon as more than ``max_seconds`` have been decoded."""
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
        limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
        held = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    held += chunks[-1].size
                if limit is not None and held > limit:
                    raise TooLong(path, held / SAMPLE_RATE)
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
