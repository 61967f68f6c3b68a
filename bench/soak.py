"""Soak: one live session for an hour; latency, memory and the transcript must stay flat.

    .venv/bin/python bench/soak.py --minutes 60 --window 5 --json /tmp/soak.json

A real `attune serve` (cue coder on), one session of two real aiortc peers streaming the
30-turn dialogue of bench/dialogue.py (espeak-ng, repeated to the requested length) in real
time, a websockets client on the panel (``assistant.loadtest``). Per window: speech end ->
final latency (p50, p95, max), word error rate, words in the finals against the script's
(grows if the transcript repeats itself), finals identical to one of the previous 10 beyond
the script's own repeats, finals with a doubled run of words the script does not have, server
RSS at the window's end, CPU, the recogniser's busy share and the load average. The summary
gives RSS growth from the end of the first window to the end, and the last window's latency
against the first's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.loadtest import (  # noqa: E402
    format_report,
    format_windows,
    quiet_webrtc_logs,
    report,
    rss_at,
    run_soak,
    windows,
)
from bench.dialogue import TURNS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=5.0, help="window length, minutes")
    parser.add_argument("--json", type=Path, help="write the windows and summary here")
    parser.add_argument("--keep-log", type=Path, help="copy the server's log here")
    parser.add_argument(
        "--nice",
        type=int,
        default=-5,
        help="scheduling priority of the peers (not the server); see assistant.loadtest",
    )
    args = parser.parse_args()
    quiet_webrtc_logs()
    with tempfile.TemporaryDirectory(prefix="attune-soak-") as tmp_name:
        tmp = Path(tmp_name)
        result = run_soak(TURNS, args.minutes * 60, tmp, nice=args.nice)
        if args.keep_log is not None:
            args.keep_log.write_text((tmp / "server.log").read_text("utf-8", "replace"))
    summary = report(result)
    ws = windows(result, args.window * 60)
    print(format_report(summary))
    print(format_windows(ws))
    span = ws[-1].end_s
    first_end = rss_at(result, ws[0].end_s)
    last = rss_at(result, span)
    print(
        f"RSS {first_end:.0f} MB at the end of the first window -> {last:.0f} MB at the end "
        f"({last - first_end:+.0f} MB); latency p50 first window {ws[0].latency_s['p50']:.2f} s"
        f" -> last {ws[-1].latency_s['p50']:.2f} s; repeated finals "
        f"{sum(w.repeated_finals for w in ws)}, doubled {sum(w.doubled_finals for w in ws)}"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "summary": asdict(summary),
                    "windows": [asdict(w) for w in ws],
                    "samples": [asdict(s) for s in result.samples],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
