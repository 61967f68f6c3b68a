"""Benchmark: per-utterance latency of the utterance coder on one CPU core.

    .venv/bin/python bench/coder_latency.py [--n 300] [--compare-fp32]

Codes AnnoMI utterances one at a time, each with the session's earlier turns as context, as
the live coding stage passes them (torch.set_num_threads(1)); prints load time, median and
p95 per utterance and the throughput of `code_batch`, in the committed precision (int8) and,
with --compare-fp32, in fp32 as well (alternating rounds of 50 utterances). Without ../shared
it uses a built-in dialogue.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.coding import UtteranceCoder, load_coder  # noqa: E402
from assistant.coding.data import SIMPLE_FILE, context_of, load_annomi  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "annomi"
Item = tuple[str, str, list[tuple[str, str]]]

FALLBACK: list[Item] = [
    ("therapist", "What brings you in today?", []),
    ("client", "My wife says I drink too much.", [("therapist", "What brings you in today?")]),
    ("therapist", "And what do you think?", [("client", "My wife says I drink too much.")]),
    (
        "client",
        "I don't know, maybe she's right. I've been drinking more since I lost my job.",
        [("therapist", "And what do you think?")],
    ),
]


def sample_items(n: int) -> list[Item]:
    if not (DATA / SIMPLE_FILE).is_file():
        return (FALLBACK * (n // len(FALLBACK) + 1))[:n]
    items: list[Item] = []
    for session in load_annomi(DATA):
        for i, u in enumerate(session.utterances):
            items.append((u.speaker, u.text, context_of(session, i, i)))
    random.Random(0).shuffle(items)
    return items[:n]


def _time_one(coder: UtteranceCoder, items: list[Item]) -> list[float]:
    times = []
    for speaker, text, context in items:
        t0 = time.perf_counter()
        coder.code(speaker, text, context)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=300)
    p.add_argument(
        "--compare-fp32",
        action="store_true",
        help="also time the same weights in fp32, alternating with the committed precision",
    )
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    coder = load_coder()
    load_s = time.perf_counter() - start
    coders = {coder.precision: coder}
    if args.compare_fp32 and coder.precision != "fp32":
        coders["fp32"] = load_coder(precision="fp32")
    items = sample_items(args.n)
    for each in coders.values():
        for speaker, text, context in items[:10]:  # warm-up
            each.code(speaker, text, context)
    # alternate in rounds of 50 utterances, so that a busy neighbour slows both alike
    times: dict[str, list[float]] = {name: [] for name in coders}
    for lo in range(0, len(items), 50):
        for name, each in coders.items():
            times[name].extend(_time_one(each, items[lo : lo + 50]))
    words = statistics.median(len(t.split()) for _, t, _ in items)
    source = "AnnoMI" if (DATA / SIMPLE_FILE).is_file() else f"a built-in dialogue (no {DATA})"
    print(
        f"torch threads: {torch.get_num_threads()}; {len(items)} utterances from {source} "
        f"(median {words:.0f} words), context: the session's earlier turns"
    )
    print(f"load_coder: {load_s:.2f} s (imports included)")
    for name, each in coders.items():
        ms = sorted(times[name])
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        t0 = time.perf_counter()
        each.code_batch(items)
        batch_s = time.perf_counter() - t0
        print(
            f"{name}: code() median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
            f"max {ms[-1]:.1f} ms; code_batch() {len(items) / batch_s:.0f} utterances/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
