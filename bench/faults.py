"""Benchmark: a live call with the client behind an impaired network link.

    .venv/bin/python bench/faults.py --loss-s 120 --outages 3

Runs as root (network namespaces, nftables). Starts a real `attune serve --host 0.0.0.0`; the
therapist is a real aiortc peer on this machine, the client a real aiortc peer in its own
network namespace linked by a veth pair (assistant/testing/netns.py); both stream a
two-speaker espeak-ng dialogue in a loop, and a websockets client records the panel. Then:

* loss: 5 % random loss each way for --loss-s seconds (nftables ``numgen random``);
* outages: --outages times, everything dropped for --outage-s seconds, then --after-s clean.

Reports, per fault: packets dropped, audio frames per second each way (50 without loss), the
client's finals and their word error rate, the panel's audio_lost / audio_restored notices
and the recovery time (outage over -> audio_restored on the panel; -> first turn spoken
after the outage transcribed), and whether the peer connection ever failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.testing.live import create_session, live_server, token_of  # noqa: E402
from assistant.testing.netns import (  # noqa: E402
    FAULT_TURNS,
    FaultRun,
    Plan,
    client_wer,
    fault_call,
    namespace,
)
from assistant.testing.synth import synth_dialogue  # noqa: E402


def loss_figures(result: FaultRun) -> dict[str, Any]:
    _, start, end = result.phases[0]
    finals = [e for at, e in result.finals("client") if start + 1 < at <= end + 0.5]
    errors = [client_wer(e["text"]) for e in finals]
    late = [result.clock(at) - float(e["end"]) for at, e in result.finals("client") if at > start]
    return {
        "fault": "5% loss each way",
        "seconds": round(end - start, 1),
        "packets_dropped": result.dropped,
        "frames_per_s": {
            "client_sent": round(result.rate(start, end, "client_sent"), 1),
            "server_to_client": round(result.rate(start, end, "client_received"), 1),
            "client_to_therapist": round(result.rate(start, end, "therapist_received"), 1),
        },
        "frames_with_sound_per_s": {
            "server_to_client": round(result.rate(start, end, "client_loud"), 1),
            "client_to_therapist": round(result.rate(start, end, "therapist_loud"), 1),
        },
        "client_finals": len(finals),
        "wer_median": round(statistics.median(errors), 3) if errors else None,
        "wer_max": round(max(errors), 3) if errors else None,
        "final_after_speech_end_s_max": round(max(late), 2) if late else None,
        "peer_failed": any(s["state"] in ("failed", "closed") for s in result.client_states),
        "texts": [e["text"] for e in finals],
    }


def outage_figures(result: FaultRun) -> list[dict[str, Any]]:
    out = []
    phases = result.phases
    for i in range(0, len(phases) - 1, 2):
        (_, o_start, o_end), (_, _, end) = phases[i], phases[i + 1]
        lost = [at for at, e in result.notices("audio_lost") if o_start < at <= o_end + 1]
        restored = [at for at, e in result.notices("audio_restored") if o_end < at <= end]
        healed = result.clock(o_end)
        after = [
            (at, e) for at, e in result.finals("client") if float(e["start"]) > healed and at <= end
        ]
        good = [at for at, e in after if client_wer(e["text"]) < 0.3]
        inside = [
            e
            for _, e in result.finals("client")
            if result.clock(o_start) + 1 < float(e["start"]) < healed - 1
        ]
        out.append(
            {
                "fault": "outage (all packets dropped)",
                "seconds": round(o_end - o_start, 1),
                "audio_lost_notice_after_s": round(lost[0] - o_start, 1) if lost else None,
                "audio_restored_after_heal_s": round(restored[0] - o_end, 1) if restored else None,
                "first_good_final_after_heal_s": round(good[0] - o_end, 1) if good else None,
                "media_back_frames_per_s": {
                    "server_to_client": round(result.rate(o_end + 3, end, "client_received"), 1),
                    "client_to_therapist": round(
                        result.rate(o_end + 3, end, "therapist_received"), 1
                    ),
                },
                "media_back_frames_with_sound_per_s": {
                    "server_to_client": round(result.rate(o_end + 3, end, "client_loud"), 1),
                    "client_to_therapist": round(result.rate(o_end + 3, end, "therapist_loud"), 1),
                },
                "finals_placed_inside_outage": len(inside),
                "turn_cut_by_outage": [
                    e["text"] for _, e in after[:1] if client_wer(e["text"]) >= 0.3
                ],
            }
        )
    return out


def run(workdir: Path, plan: Plan) -> FaultRun:
    therapist_wav, client_wav, _ = synth_dialogue(FAULT_TURNS, workdir / "audio", tail_s=1.0)
    with live_server(workdir, "--host", "0.0.0.0") as server, namespace() as ns:
        session = create_session(server)
        return asyncio.run(
            fault_call(
                server.base_url,
                ns,
                token_of(session["therapist_url"]),
                token_of(session["client_url"]),
                server.therapist_cookie(),
                therapist_wav,
                client_wav,
                plan,
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss-s", type=float, default=120.0)
    parser.add_argument("--loss", type=float, default=5.0, help="percent, each way")
    parser.add_argument("--outages", type=int, default=3)
    parser.add_argument("--outage-s", type=float, default=10.0)
    parser.add_argument("--after-s", type=float, default=30.0)
    parser.add_argument("--link-down", action="store_true", help="outages take the link down")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="attune-faults-") as tmp:
        if args.loss_s > 0:
            result = run(Path(tmp) / "loss", [(f"loss {args.loss:g}", args.loss_s)])
            figures["loss"] = loss_figures(result)
            figures["loss"]["fault"] = f"{args.loss:g}% loss each way"
            print(json.dumps(figures["loss"], indent=1), flush=True)
        if args.outages > 0:
            kind = "link-down" if args.link_down else "outage"
            plan: Plan = [(kind, args.outage_s), ("none", args.after_s)] * args.outages
            result = run(Path(tmp) / "outage", plan)
            figures["outages"] = outage_figures(result)
            print(json.dumps(figures["outages"], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
