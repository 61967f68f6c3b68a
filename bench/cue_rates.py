"""Benchmark: how often each cue fires on AnnoMI, by session quality.

    .venv/bin/python bench/cue_rates.py --labels gold    # the experts' codes
    .venv/bin/python bench/cue_rates.py --labels coder   # the committed coder's codes

Runs the cue rules (assistant/cues/rules.py) over every AnnoMI training transcript in
../shared/data/annomi, with utterance times from AnnoMI's timestamps (each turn ends where
the next begins, at most 150 words a minute), and prints cues raised and shown per 100
therapist utterances in high- and low-quality sessions. `judgmental_language` should almost
never fire on high-quality sessions.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.coding.data import SIMPLE_FILE, load_annomi  # noqa: E402
from assistant.coding.disclosure import detect_disclosure  # noqa: E402
from assistant.cues.catalog import KINDS, CueOptions  # noqa: E402
from assistant.dialogue import DialogueStages  # noqa: E402
from assistant.events import Speaker, Utterance  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "annomi"


def seconds(stamp: str) -> float:
    h, m, s = (int(x) for x in stamp.split(":"))
    return h * 3600 + m * 60 + s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", choices=("gold", "coder"), default="gold")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    quality: dict[str, str] = {}
    stamps: dict[tuple[str, int], float] = {}
    with (args.data / SIMPLE_FILE).open(newline="", encoding="utf-8") as fh:
        for line in csv.DictReader(fh):
            quality[line["transcript_id"]] = line["mi_quality"]
            stamps[(line["transcript_id"], int(line["utterance_id"]))] = seconds(line["timestamp"])
    sessions = load_annomi(args.data)
    coder = None
    if args.labels == "coder":
        from assistant.coding import load_coder

        coder = load_coder()
    raised: dict[str, Counter[str]] = defaultdict(Counter)
    shown: dict[str, Counter[str]] = defaultdict(Counter)
    therapist_turns: Counter[str] = Counter()
    judgmental_examples: list[str] = []
    for session in sessions:
        q = quality[session.transcript_id]
        utts: list[Utterance] = []
        rows = session.utterances
        for i, row in enumerate(rows):
            start = stamps[(session.transcript_id, row.index)]
            nxt = stamps[(session.transcript_id, rows[i + 1].index)] if i + 1 < len(rows) else None
            spoken = max(len(row.text.split()) * 0.4, 0.6)
            end = start + (min(spoken, max(nxt - start, 0.3)) if nxt is not None else spoken)
            if row.speaker == "therapist":
                labels: dict[str, object] = {
                    k: (None if row.labels[k] == "none" else row.labels[k])
                    for k in ("behaviour", "question", "reflection", "input")
                }
            else:
                labels = {
                    "talk_type": row.labels["talk_type"],
                    "disclosure": detect_disclosure(row.text),
                }
            speaker: Speaker = "therapist" if row.speaker == "therapist" else "client"
            utts.append(
                Utterance(
                    f"{row.index}",
                    speaker,
                    start,
                    end,
                    row.text,
                    labels=labels if coder is None else None,
                )
            )
        if coder is not None:
            from assistant.cues.coding_stage import CoderStage

            CoderStage(coder).annotate_all(utts)
        dialogue = DialogueStages(cues=CueOptions()).dialogue(
            session.transcript_id, times_estimated=False
        )
        for u in utts:
            for e in dialogue.process(u):
                if e["type"] == "cue":
                    raised[q][e["kind"]] += 1
                    shown[q][e["kind"]] += e["shown"]
                    if e["kind"] == "judgmental_language":
                        from assistant.cues.wording import judgmental_phrase

                        phrase = judgmental_phrase(u.text)
                        judgmental_examples.append(f'[{q}] "{phrase}" in: {u.text[:100]}')
        therapist_turns[q] += sum(u.speaker == "therapist" for u in utts)
    print(f"AnnoMI training part, {len(sessions)} transcripts, labels: {args.labels}")
    print("cues per 100 therapist utterances, raised (shown):")
    print(f"{'kind':28s} {'high quality':>16s} {'low quality':>16s}")
    for kind in KINDS:
        cells = []
        for q in ("high", "low"):
            n = therapist_turns[q] / 100
            cells.append(f"{raised[q][kind] / n:6.2f} ({shown[q][kind] / n:5.2f})")
        print(f"{kind:28s} {cells[0]:>16s} {cells[1]:>16s}")
    print(f"therapist utterances: high {therapist_turns['high']}, low {therapist_turns['low']}")
    print(f"judgmental_language fired {len(judgmental_examples)} times:")
    for example in judgmental_examples[:10]:
        print("  ", example)


if __name__ == "__main__":
    main()
