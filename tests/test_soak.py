"""Soak, CI size: one live session for 10 minutes must stay flat.

A real `attune serve` (cue coder on), two real aiortc peers streaming the 30-turn dialogue of
bench/dialogue.py (espeak-ng, repeated) in real time, a websockets client on the panel
(``assistant.loadtest``). Marked ``soak``: it takes about 11 minutes of wall time, in real
time by nature; ``-m 'not soak'`` leaves it out. The hour-long run is ``bench/soak.py``
(figures in docs/reliability.md).

Bounds, loose on purpose (the machine is shared, 2 cores, and other work comes and goes):

- server RSS may grow at most 100 MB from the end of the first 2-minute window to the end
  (8 minutes). In the hour-long soak (docs/reliability.md) RSS rose 78 MB between minutes 2
  and 10, while a burst of other work put the server behind (queues grow, and the allocator
  keeps the high-water mark), then 22 MB over the next 50 minutes: the bound must clear such
  a step. It catches gross leaks only (over 12 MB a minute; holding both participants' audio
  would be 7.7 MB a minute and can hide under it); the hour-long bench is the check for slow
  growth;
- the last window's median latency at most twice the first's plus 0.5 s: a queue that
  backs up, or work that grows with the session's length, shows as a steady climb far past
  that; a burst of other work on the machine moves a window's median by tenths;
- the transcript must not repeat itself: no final identical to one of the 10 before it
  (the script repeats only every 30 turns), the finals' words within 20% of the script's in
  every window, and at most 3 finals with a run of words said twice that the script does not
  have (5 in the hour-long soak's 742 matched finals; the guards collapse three copies or
  more, so a run cannot grow past two);
- at least 80% of the turns get their final, and at most one call drops in the 10 minutes
  (the soak then goes on with a new session on the same server).

The server and the peers run at nice -10 (when root): the peers stand in for browsers on other
machines, and on a shared machine at load averages of 15-20 a server starved of CPU falls
behind its sockets, the kernel drops its packets and aioice ends the call after 30 s of
missed consent checks (docs/reliability.md, "Soak").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.loadtest import report, rss_at, run_soak, windows
from bench.dialogue import TURNS

pytestmark = [pytest.mark.model, pytest.mark.soak]

MINUTES = 10
WINDOW_S = 120.0
RSS_GROWTH_MB = 100.0


def test_ten_minute_session_stays_flat(tmp_path: Path) -> None:
    # the peers stand in for browsers elsewhere: ahead of other work on a shared machine
    result = run_soak(TURNS, MINUTES * 60, tmp_path, label="soak (CI)", nice=-10)
    summary = report(result)
    ws = windows(result, WINDOW_S)
    detail = "\n".join(repr(w) for w in ws)
    # one dropped call is tolerated: on the shared machine a stall of other work can starve
    # the server past aioice's consent limit; the soak then goes on with a new session
    assert len(summary.failed_sessions) <= 1, summary.failed_sessions
    assert summary.matched >= 0.8 * summary.turns, detail

    growth = rss_at(result, ws[-1].end_s) - rss_at(result, ws[0].end_s)
    assert growth <= RSS_GROWTH_MB, f"server RSS grew {growth:.0f} MB\n{detail}"

    first, last = ws[0].latency_s["p50"], ws[-1].latency_s["p50"]
    assert last <= 2 * first + 0.5, f"latency p50 {first:.2f} s -> {last:.2f} s\n{detail}"

    assert sum(w.doubled_finals for w in ws) <= 3, detail
    for w in ws:
        assert w.repeated_finals == 0, detail
        if w.matched >= 5:
            assert 0.8 <= w.words_ratio <= 1.2, detail
