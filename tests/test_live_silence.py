"""Silence, then background noise, on both participants' live tracks: no transcript words.

Whisper's known failure is to invent text on silence and noise ("Thanks for watching", "you").
tests/test_analyze.py covers recordings; this is the live path: real aiortc peers streaming
through a real `attune serve` (Opus, 48 kHz, resampled, the live VAD settings, the shared
recogniser, the guards) to the therapist's panel, with both people consenting.

CI streams 60 s of silence then 60 s of noise (pink on the therapist's track, brown on the
client's, sox ``vol 0.3``): the live path runs in real time, so 5 + 5 minutes would take
10 minutes of CI alone; VAD and recogniser state carry over turns, not minutes, so a minute of
each exercises the same code. The full 5 + 5 minutes is ``bench/live_silence.py`` (figures in
docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.loadtest import run_quiet

pytestmark = pytest.mark.model


def test_silence_then_noise_on_live_tracks_shows_no_words(tmp_path: Path, sox: str) -> None:
    run = run_quiet(tmp_path, silence_s=60, noise_s=60, nice=-10)
    shown = [e for e in run.utterances if str(e.get("text", "")).strip()]
    assert shown == [], f"words invented on silence or noise: {shown}"
    assert run.words == 0
    assert run.health["status"] == "ok"
    assert "transcription_started" in run.notices  # consent held: transcription was on
