"""Benchmark: `attune analyze` on a two-speaker spoken dialogue against plain offline
faster-whisper with the same model on the same audio.

    .venv/bin/python bench/analyze_speech.py [--runs 3]

Makes the dialogue with espeak-ng (one voice per speaker, one file per speaker, the other
silent meanwhile), then measures for each run:
- attune: the whole `attune analyze` process (imports and model loading included): wall time,
  real-time factor, word error rate against the script, turns found as separate utterances
  with the right speaker;
- plain: faster-whisper's `WhisperModel.transcribe` on each speaker's whole file (same model,
  same beam size, its default settings), timed in-process after loading, and its WER.
Prints medians over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.events import Utterance  # noqa: E402
from assistant.speech.asr import resolve_model  # noqa: E402
from assistant.testing.scoring import match_turns, word_error_rate  # noqa: E402
from assistant.testing.synth import synth_dialogue  # noqa: E402
from bench.dialogue import TURNS  # noqa: E402


def run_attune(
    therapist: Path, client: Path, out: Path, beam: int
) -> tuple[float, list[Utterance]]:
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant",
            "analyze",
            "--therapist",
            str(therapist),
            "--client",
            str(client),
            "--out",
            str(out),
            "--no-progress",
            "--beam-size",
            str(beam),
        ],
        check=True,
    )
    wall = time.perf_counter() - t0
    utterances = [
        Utterance(id=e["id"], speaker=e["speaker"], start=e["start"], end=e["end"], text=e["text"])
        for e in map(json.loads, out.read_text().splitlines())
        if e["type"] == "utterance"
    ]
    return wall, utterances


def run_plain(therapist: Path, client: Path, beam: int) -> tuple[float, str]:
    from faster_whisper import WhisperModel

    model = WhisperModel(resolve_model("tiny.en"), device="cpu", compute_type="int8", cpu_threads=2)
    t0 = time.perf_counter()
    texts = []
    for path in (therapist, client):
        segments, _ = model.transcribe(str(path), language="en", beam_size=beam)
        texts.append(" ".join(s.text for s in segments))
    return time.perf_counter() - t0, " ".join(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--beam-size", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        therapist, client, reference = synth_dialogue(TURNS, Path(tmp))
        duration = max(t.end for t in reference) + 1.0
        ref_text = " ".join(t.text for t in reference)
        ref_by_speaker = {
            s: " ".join(t.text for t in reference if t.speaker == s)
            for s in ("therapist", "client")
        }
        rows = []
        for run in range(args.runs):
            wall, utts = run_attune(therapist, client, Path(tmp) / "events.jsonl", args.beam_size)
            hyp = {s: " ".join(u.text for u in utts if u.speaker == s) for s in ref_by_speaker}
            plain_wall, plain_text = run_plain(therapist, client, args.beam_size)
            rows.append(
                {
                    "attune_wall_s": wall,
                    "attune_rtf": wall / duration,
                    "attune_wer": word_error_rate(
                        ref_by_speaker["therapist"] + " " + ref_by_speaker["client"],
                        hyp["therapist"] + " " + hyp["client"],
                    ),
                    "attune_turns": match_turns(reference, utts).rate,
                    "attune_utterances": len(utts),
                    "plain_wall_s": plain_wall,
                    "plain_wer": word_error_rate(
                        ref_by_speaker["therapist"] + " " + ref_by_speaker["client"], plain_text
                    ),
                }
            )
            print(
                f"run {run + 1}: " + ", ".join(f"{k}={v:.3f}" for k, v in rows[-1].items()),
                file=sys.stderr,
            )
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(
            f"dialogue: {len(reference)} turns, {duration:.1f} s of audio, "
            f"{len(ref_text.split())} words; beam {args.beam_size}; median of {args.runs} runs"
        )
        print(
            f"attune analyze: wall {med['attune_wall_s']:.2f} s (whole process), "
            f"RTF {med['attune_rtf']:.3f}, WER {med['attune_wer']:.3f}, "
            f"turns found {med['attune_turns']:.1%} ({med['attune_utterances']:.0f} utterances)"
        )
        print(
            f"plain faster-whisper: transcribe {med['plain_wall_s']:.2f} s (model loaded), "
            f"WER {med['plain_wer']:.3f}"
        )
        rel = (med["attune_wer"] - med["plain_wer"]) / max(med["plain_wer"], 1e-9)
        print(
            f"relative WER difference: {rel:+.1%} (target <= +10%); "
            f"RTF target <= 0.2; turns target >= 95%"
        )


if __name__ == "__main__":
    main()
