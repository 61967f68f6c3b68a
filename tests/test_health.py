"""Unit tests of the monitor's health figures and alerts (assistant/live/health.py), and of
the structured log lines."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from assistant.live.health import (
    ParticipantHealth,
    Thresholds,
    alerts,
    browser_name,
    level_db,
    parse_check,
    parse_stats,
)
from assistant.logs import JsonFormatter

T = Thresholds()


def joined(role: str = "client", at: float = 0.0) -> ParticipantHealth:
    p = ParticipantHealth(role)  # type: ignore[arg-type]
    p.connected(at, browser="Chrome 156")
    p.media(at, "connected")
    return p


def kinds(people: dict[str, ParticipantHealth], now: float, lag: float = 0.0) -> set[str]:
    snaps = {r: p.snapshot(now, T) for r, p in people.items()}
    return {a.kind for a in alerts(snaps, lag, T)}  # type: ignore[arg-type]


def test_a_silent_microphone_alerts_after_30_seconds_of_no_sound() -> None:
    p = joined()
    for t in np.arange(0.0, 29.0, 0.02):
        p.audio(float(t), -90.0)  # digital silence keeps arriving: the track is up
    assert kinds({"client": p}, 29.0) == set()
    for t in np.arange(29.0, 31.0, 0.02):
        p.audio(float(t), -90.0)
    assert kinds({"client": p}, 31.0) == {"mic_silent"}
    p.audio(31.02, -25.0)  # the client speaks
    assert kinds({"client": p}, 31.1) == set()


def test_audio_that_stops_arriving_is_lost_not_silent() -> None:
    p = joined()
    p.audio(1.0, -25.0)
    assert kinds({"client": p}, 3.5) == set()
    assert kinds({"client": p}, 4.5) == {"audio_lost"}
    assert kinds({"client": p}, 40.0) == {"audio_lost"}  # not also "silent"


def test_a_rejoin_does_not_count_the_gap_while_away() -> None:
    p = joined()
    p.audio(1.0, -25.0)
    p.disconnected(2.0)
    assert p.snapshot(10.0, T)["state"] == "reconnecting"
    assert kinds({"client": p}, 10.0) == {"reconnecting"}
    assert p.snapshot(200.0, T)["state"] == "left"
    p.connected(200.0, browser=None)
    p.media(201.0, "connected")
    assert p.browser == "Chrome 156"
    assert kinds({"client": p}, 202.0) == set()


def test_network_figures_from_the_browser_raise_loss_and_camera_alerts() -> None:
    p = joined()
    p.audio(9.9, -20.0)
    stats = parse_stats({"loss_pct": 7.5, "rtt_ms": 80, "camera_on": False, "mic_on": True})
    assert not isinstance(stats, str)
    p.browser_stats(9.9, stats)
    assert kinds({"client": p}, 10.0) == {"packet_loss", "camera_off"}
    assert kinds({"client": p}, 30.0) - {"audio_lost"} == set()  # stale figures are dropped


def test_transcription_falling_behind_is_a_session_alert() -> None:
    assert kinds({"client": joined()}, 0.5, lag=6.0) == {"transcription_behind"}


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"rtt_ms": "fast"}, "rtt_ms must be a number"),
        ({"loss_pct": 101}, "loss_pct must be between 0 and 100"),
        ({"jitter_ms": float("nan")}, "jitter_ms must be between"),
        ({"camera_on": "yes"}, "camera_on must be true or false"),
        ({"fps_sent": True}, "fps_sent must be a number"),
    ],
)
def test_bad_stats_are_refused_with_the_reason(message: dict[str, object], problem: str) -> None:
    result = parse_stats(message)
    assert isinstance(result, str) and result.startswith(problem)


def test_check_summaries_carry_figures_and_problem_codes_only() -> None:
    ok = parse_check({"status": "warn", "rtt_ms": 40.123, "problems": ["high_jitter"]})
    assert ok == {"status": "warn", "rtt_ms": 40.12, "problems": ["high_jitter"]}
    assert isinstance(parse_check({"status": "great"}), str)
    assert isinstance(parse_check({"status": "pass", "problems": ["I said something"]}), str)


def test_browser_names_and_levels() -> None:
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0.1.2 Safari/537.36"
    assert browser_name(chrome) == "Chrome 156"
    safari = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15"
    assert browser_name(safari) == "Safari 18"
    assert browser_name(None) is None
    assert level_db(np.zeros(960, dtype=np.int16)) == -90.0
    full = np.full(960, 16384, dtype=np.int16)
    assert level_db(full) == pytest.approx(-6.02, abs=0.01)


def test_json_log_lines_carry_extra_fields() -> None:
    record = logging.LogRecord("attune.room", logging.INFO, __file__, 1, "peer %s", ("up",), None)
    record.session = "abc"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "peer up"
    assert line["session"] == "abc" and line["level"] == "info" and line["logger"] == "attune.room"


def test_the_panel_is_told_when_audio_is_lost_and_when_it_is_back() -> None:
    from assistant.live.audio_watch import AudioWatch

    watch = AudioWatch("s1", lost_after_s=3.0)
    client = joined()
    client.audio(1.0, -25.0)
    assert watch.check(3.5, {"client": client}) == []
    (lost,) = watch.check(4.2, {"client": client})
    assert (lost["code"], lost["role"], lost["at"]) == ("audio_lost", "client", 4.2)
    assert "client's microphone" in lost["message"]
    assert watch.check(9.0, {"client": client}) == []  # said once
    client.audio(14.0, -25.0)
    (back,) = watch.check(14.5, {"client": client})
    assert (back["code"], back["lost_s"]) == ("audio_restored", 13.5)
    client.disconnected(20.0)  # a participant who left is not "lost audio"
    assert watch.check(40.0, {"client": client}) == []
