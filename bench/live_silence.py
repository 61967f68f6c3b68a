"""Silence, then background noise, on both participants' live tracks: no transcript words.

    .venv/bin/python bench/live_silence.py --silence 300 --noise 300

A real `attune serve` (cue coder on), one session, both people consenting; the therapist's
aiortc peer streams ``--silence`` seconds of digital silence then ``--noise`` seconds of pink
noise, the client's the same with brown noise (sox, ``vol 0.3``), in real time. Prints every
utterance event the panel received (there must be none with words), how many speech jobs
reached the recogniser at all (``/healthz``: what the VAD let through, and the guards then
dropped), notices, and the server's CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.loadtest import quiet_webrtc_logs, run_quiet  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--silence", type=float, default=300.0, help="seconds of silence")
    parser.add_argument("--noise", type=float, default=300.0, help="seconds of noise")
    parser.add_argument("--vol", type=float, default=0.3, help="sox noise volume")
    args = parser.parse_args()
    quiet_webrtc_logs()
    with tempfile.TemporaryDirectory(prefix="attune-quiet-") as tmp:
        run = run_quiet(Path(tmp), args.silence, args.noise, vol=args.vol, nice=-5)
    worded = [e for e in run.utterances if str(e.get("text", "")).strip()]
    print(
        f"{args.silence:.0f} s silence + {args.noise:.0f} s noise (pink: therapist, brown: "
        f"client, vol {args.vol}) on live tracks: {len(run.utterances)} utterance events, "
        f"{len(worded)} with words, {run.words} words"
    )
    print(f"recogniser jobs: {json.dumps(run.health.get('transcription', {}))}")
    print(f"notices: {', '.join(run.notices) or 'none'}; server CPU {run.server_cpu_pct:.0f}%")
    for e in worded:
        print(f"  {e['speaker']} {e['start']:.1f}-{e['end']:.1f} s: {e['text']!r}")
    return 1 if worded else 0


if __name__ == "__main__":
    raise SystemExit(main())
