"""Load: N synthetic live sessions at once through a real `attune serve`, for a list of N.

    .venv/bin/python bench/load.py --sessions 1,2,3,4,6 --minutes 2 --nice -10 --wait-load 1.0

Each session: a therapist account, two real aiortc peers streaming the 30-turn dialogue of
bench/dialogue.py (espeak-ng, rotated per session so that the sessions do not speak in step)
in real time, a websockets client on the panel; a fresh server (cue coder on) per N
(``assistant.loadtest``, also ``attune loadtest``). Prints, per N, speech end -> final and
final -> cue latency (p50/p95/p99), server CPU and RSS, the transcription queue depth, the
recogniser's busy share, missed turns, late finals and lag notices, then the curve as a
Markdown table and the largest N that holds p95 <= 1.5 s.

The machine is shared: ``--wait-load`` waits (up to ``--wait-max`` seconds) before each N
until the 1-minute load average is below the given value; the load average just before and
during each run is part of its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.loadtest import (  # noqa: E402
    TARGET_P95_S,
    LoadReport,
    format_curve,
    quiet_webrtc_logs,
    run_curve,
)
from bench.dialogue import TURNS  # noqa: E402


def wait_for_quiet(threshold: float, most_s: float) -> float:
    """Wait until the 1-minute load average is below ``threshold`` (at most ``most_s``)."""
    deadline = time.monotonic() + most_s
    while (load := os.getloadavg()[0]) >= threshold and time.monotonic() < deadline:
        print(f"waiting for a quiet machine: load average {load:.2f}", file=sys.stderr)
        time.sleep(15)
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", default="1,2,3,4")
    parser.add_argument("--minutes", type=float, default=2.5, help="dialogue length per run")
    parser.add_argument("--stagger", type=float, default=2.0, help="seconds between joins")
    parser.add_argument("--wait-load", type=float, help="wait for a load average below this")
    parser.add_argument("--wait-max", type=float, default=1200.0)
    parser.add_argument("--no-cues", action="store_true", help="serve without the cue coder")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep-logs", type=Path, help="copy each server's log here")
    parser.add_argument(
        "--nice",
        type=int,
        default=-5,
        help="scheduling priority of the peers (not the server); see assistant.loadtest",
    )
    args = parser.parse_args()
    quiet_webrtc_logs()
    reports: list[LoadReport] = []
    for n in (int(x) for x in args.sessions.split(",")):
        if args.wait_load is not None:
            wait_for_quiet(args.wait_load, args.wait_max)
        reports += run_curve(
            TURNS,
            [n],
            args.minutes,
            serve_args=["--no-cues"] if args.no_cues else [],
            stagger_s=args.stagger,
            keep=args.keep_logs,
            nice=args.nice,
        )
        if args.json is not None:
            args.json.write_text(json.dumps([asdict(r) for r in reports], indent=1))
    print(format_curve(reports))
    holding = [r.sessions for r in reports if r.holds]
    print(f"largest N holding p95 <= {TARGET_P95_S} s: {max(holding) if holding else 'none'}")


if __name__ == "__main__":
    main()
