"""Benchmark: the coder's cross-validated scores by who coded each transcript.

    .venv/bin/python -m assistant.coding.train --data ../shared/data/annomi --models main \
        --cv-only --metrics-out cv.json            # writes cv.oof.safetensors
    .venv/bin/python bench/coder_by_annotator.py --oof cv.oof.safetensors \
        [--client-oof cv-client.oof.safetensors]   # talk type from the client model's CV

Decodes the out-of-fold log-probs as the CV scores them (each fold with offsets tuned on the
other folds) and scores them over the transcripts of each AnnoMI annotator (most transcripts
were coded by one of ten annotators; a few by all ten, their majority being the codes), the
way `attune score-cues` breaks down a held-out set. Beside them, the open/closed rule of
docs/coder.md ("rules only": a question mark and a wh-word or "tell me" opening = open, any
other question mark = closed), which learns nothing from any annotator. Last, on the
transcripts all ten annotators coded, each annotator's own codes against the majority of the
other nine, beside the coder's against the same majority (`assistant/coding/agreement.py`):
how far one expert agrees with the consensus, and how far the coder does. With `--draws N`,
the coder's scores over N sets of 27 transcripts drawn as AnnoMI's held-out part is made up
(2 ten-annotator transcripts, 25 others): how often each floor is met.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.coding.agreement import (  # noqa: E402
    against_the_others,
    format_table,
    load_annotations,
)
from assistant.coding.data import Session, context_of, load_annomi  # noqa: E402
from assistant.coding.evaluate import (  # noqa: E402
    SHORT,
    Coded,
    annotator_table,
    as_parts,
    by_annotator,
    group_scores,
    scores,
)
from assistant.coding.lexical import FEATURE_NAMES, lexical_features  # noqa: E402
from assistant.coding.metrics import FLOORS  # noqa: E402
from bench.cue_rates import DATA, oof_labels, read_oof  # noqa: E402


def rule_parts(sessions: Sequence[Session]) -> list[Coded]:
    """The question-form rule's codes as :class:`Coded` parts (only ``question`` is the
    rule's: every other head is given the experts' code, so read open and closed only)."""
    index = FEATURE_NAMES.index
    labels: dict[tuple[str, int], dict[str, object]] = {}
    for session in sessions:
        for i, u in enumerate(session.utterances):
            ctx = context_of(session, i, 1)
            f = lexical_features(u.text, ctx[-1][0] if ctx else None, ctx[-1][1] if ctx else "")
            question = None
            if f[index("has_qmark")]:
                wh = f[index("q_wh_start")] or f[index("open_phrase")]
                question = "open" if wh else "closed"
            labels[(session.transcript_id, u.index)] = {
                **{h: (None if v == "none" else v) for h, v in u.labels.items()},
                "question": question,
            }
    return as_parts(sessions, labels)


def held_out_draws(parts: Sequence[Coded], draws: int, seed: int = 0) -> str:
    """How often the floors are met over ``draws`` sets of 27 transcripts made up as AnnoMI's
    held-out part is (27 of its 133 transcripts, 2 of its seven coded by all ten annotators):
    2 of ``parts``' several-annotator transcripts and 25 of the others, without replacement."""
    several = [p for p in parts if len(p.annotators) > 1]
    one = [p for p in parts if len(p.annotators) <= 1]
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {m: [] for m in FLOORS}
    for _ in range(draws):
        drawn = [several[i] for i in rng.choice(len(several), 2, replace=False)]
        drawn += [one[i] for i in rng.choice(len(one), 25, replace=False)]
        scored = scores(drawn)
        for metric in FLOORS:
            values[metric].append(scored[metric])
    lines = [f"{'metric':<22} {'floor':>6} {'median':>7} {'5-95%':>13} {'draws at floor':>15}"]
    for metric, floor in FLOORS.items():
        v = np.asarray(values[metric])
        low, high = np.percentile(v, [5, 95])
        lines.append(
            f"{metric:<22} {floor:6.2f} {np.median(v):7.3f} {f'{low:.3f}-{high:.3f}':>13} "
            f"{np.mean(v >= floor):15.0%}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--oof", type=Path, required=True, help="the main model's CV log-probs")
    parser.add_argument("--client-oof", type=Path, help="the client model's (talk type)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="ANNOTATOR",
        help="also score the single-annotator transcripts but this annotator's (repeatable)",
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=0,
        metavar="N",
        help="also score N draws of 27 transcripts made up as the held-out part is",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sessions = load_annomi(args.data)
    labels = oof_labels(sessions, read_oof(args.oof, args.client_oof))
    coder = as_parts(sessions, labels)
    question_form = ("question_open_f1", "question_closed_f1")
    for name, parts, metrics in (
        ("coder, out of fold", coder, tuple(FLOORS)),
        ("open/closed rule (no training)", rule_parts(sessions), question_form),
    ):
        groups = {"every transcript": group_scores(parts), **by_annotator(parts)}
        if args.without:
            kept = [
                p for p in parts if len(p.annotators) == 1 and p.annotators[0] not in args.without
            ]
            groups[f"one annotator, not {'/'.join(args.without)}"] = group_scores(kept)
        print(f"{name}:\n{annotator_table(groups, metrics)}\n")
    table = against_the_others(load_annotations(args.data), labels)
    print(
        "each annotator of the transcripts all ten coded, against the other nine's majority, "
        f"and the coder (out of fold) against the same majority:\n{format_table(table, SHORT)}"
    )
    if args.draws:
        print(
            f"\nthe coder (out of fold) over {args.draws} draws of 2 ten-annotator and 25 other "
            f"transcripts, as the held-out part is made up:\n{held_out_draws(coder, args.draws)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
