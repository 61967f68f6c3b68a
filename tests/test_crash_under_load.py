"""Crash safety under load: the server is SIGKILLed at random moments while a session streams
(real aiortc peers, the panel recording every event), then restarted on the same data folder.
After every kill, each final event the panel had received is in the store and SQLite's
integrity check passes. The full size (20 kills, two sessions) is bench/crash.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.crash import run

pytestmark = pytest.mark.model


def test_three_random_kills_under_load_lose_nothing_the_panel_saw(tmp_path: Path) -> None:
    report = run(tmp_path, kills=3, sessions=1, min_s=7.0, max_s=16.0, seed=3, turns=6)
    summary = report.summary()
    assert summary["kills"] == 3
    assert summary["finals_seen"] >= 2, f"the kills came while turns were transcribed: {summary}"
    assert summary["kills_with_media_flowing"] >= 1, summary
    missing = [e for c in report.cycles for e in c.missing]
    assert missing == [], "events the panel saw but the store lost"
    assert [c.integrity for c in report.cycles] == [[], [], []]
    assert summary["store_failed_notices"] == 0
