"""Score the coder against expert codes: ``attune score-cues --data DIR``.

    attune score-cues --data ../shared/data/annomi            # the training part (in-sample)
    attune score-cues --data HELD_OUT --json scores.json      # transcripts it never saw
    attune score-cues --data ANNOMI_ALL --exclude ../shared/data/annomi  # all but training

Codes every utterance of the AnnoMI-format transcripts in DIR (a simple and a full CSV file,
as AnnoMI publishes them) the way `attune analyze` and the live panel code them (each
utterance with the turn before it, in the committed models' int8, one utterance a pass),
then prints the team's floor metrics (each F1 over every therapist or every client utterance,
as ``assistant.coding.metrics`` defines them) with a 95% interval from resampling whole
transcripts, the same by annotator, and each class's precision, recall and F1 with a
confusion table, so a supervisor can see where the coder and the experts part. Where several
annotators coded a transcript, each one's codes and the coder's are also scored against the
others' majority (``assistant.coding.agreement``): the coder beside one expert.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.coding.agreement import Annotated, against_the_others, load_annotations
from assistant.coding.agreement import format_table as agreement_table
from assistant.coding.data import Session, context_of, load_annomi
from assistant.coding.labels import CLIENT_HEADS, HEADS, THERAPIST, THERAPIST_HEADS
from assistant.coding.metrics import FLOORS, score
from assistant.coding.model import CoderWeightsError, UtteranceCoder, load_coder

BOOTSTRAP_DRAWS = 1000
CHUNK = 50  # utterances coded between progress updates


@dataclass(frozen=True)
class Coded:
    """Experts' and coder's labels of one transcript, head by head (``none`` for an absent
    optional code), over the utterances of the speaker each head belongs to."""

    transcript_id: str
    gold: dict[str, list[str]]
    pred: dict[str, list[str]]
    annotators: tuple[str, ...] = ()


def code_utterances(
    coder: UtteranceCoder, sessions: Sequence[Session], progress: bool = True
) -> dict[tuple[str, int], dict[str, object]]:
    """Code every utterance of ``sessions``, each in the context of the turns before it; the
    labels by (transcript, utterance index)."""
    from tqdm import tqdm

    items = [
        (u.speaker, u.text, context_of(s, i, i))
        for s in sessions
        for i, u in enumerate(s.utterances)
    ]
    labels: list[dict[str, object]] = []
    with tqdm(
        total=len(items), desc="coding", unit="utt", file=sys.stderr, disable=not progress
    ) as bar:
        for start in range(0, len(items), CHUNK):
            labels.extend(coder.code_batch(items[start : start + CHUNK]))
            bar.update(len(items[start : start + CHUNK]))
    keys = [(s.transcript_id, u.index) for s in sessions for u in s.utterances]
    return dict(zip(keys, labels, strict=True))


def as_parts(
    sessions: Sequence[Session], labels: Mapping[tuple[str, int], Mapping[str, object]]
) -> list[Coded]:
    """The experts' codes of ``sessions`` beside the coder's ``labels`` (by transcript and
    utterance index, as the coder gives them: None for an absent optional code)."""
    out: list[Coded] = []
    for session in sessions:
        gold: dict[str, list[str]] = {h: [] for h in HEADS}
        pred: dict[str, list[str]] = {h: [] for h in HEADS}
        for u in session.utterances:
            coded = labels[(session.transcript_id, u.index)]
            for head in THERAPIST_HEADS if u.speaker == THERAPIST else CLIENT_HEADS:
                gold[head].append(u.labels[head])
                value = coded.get(head)
                pred[head].append("none" if value is None else str(value))
        out.append(Coded(session.transcript_id, gold, pred, session.annotators))
    return out


def _joined(parts: Sequence[Coded], side: str) -> dict[str, list[str]]:
    joined: dict[str, list[str]] = {h: [] for h in HEADS}
    for part in parts:
        for head, values in getattr(part, side).items():
            joined[head].extend(values)
    return joined


def scores(parts: Sequence[Coded]) -> dict[str, float]:
    """The floor metrics (and diagnostics) over every utterance of ``parts``."""
    gold, pred = _joined(parts, "gold"), _joined(parts, "pred")
    heads = [h for h in HEADS if gold[h]]  # a speaker with no utterance has no scores
    return score({h: gold[h] for h in heads}, {h: pred[h] for h in heads})


def intervals(
    parts: Sequence[Coded], draws: int = BOOTSTRAP_DRAWS, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of each metric over ``draws`` resamples of whole transcripts
    (utterances of one session are not independent, so transcripts are the unit)."""
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {}
    for _ in range(draws):
        drawn = [parts[i] for i in rng.integers(0, len(parts), len(parts))]
        for metric, value in scores(drawn).items():
            samples.setdefault(metric, []).append(value)
    return {
        m: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) for m, v in samples.items()
    }


def annotator_group(annotators: Sequence[str]) -> str:
    """Who coded a transcript: one annotator, or several (the codes are their majority)."""
    if not annotators:
        return "annotator unknown"
    if len(annotators) == 1:
        return f"annotator {annotators[0]}"
    return f"{len(annotators)} annotators (majority)"


def by_annotator(parts: Sequence[Coded]) -> dict[str, dict[str, Any]]:
    """The floor metrics over the transcripts of each annotator (or group of annotators):
    annotators code alike to different degrees, and the pooled score hides it."""
    groups: dict[str, list[Coded]] = {}
    for part in parts:
        groups.setdefault(annotator_group(part.annotators), []).append(part)
    return {name: group_scores(group) for name, group in groups.items()}


def group_scores(parts: Sequence[Coded]) -> dict[str, Any]:
    """One row of :func:`by_annotator`: how many transcripts and therapist utterances
    ``parts`` hold, and their scores."""
    return {
        "transcripts": len(parts),
        "therapist_utterances": sum(len(p.gold["behaviour"]) for p in parts),
        "scores": scores(parts),
    }


def per_class(gold: Sequence[str], pred: Sequence[str], classes: Sequence[str]) -> dict[str, Any]:
    """Precision, recall, F1 and support of each class, and the confusion table (rows: the
    experts' codes, columns: the coder's, in ``classes`` order)."""
    g, p = np.asarray(gold), np.asarray(pred)
    report: dict[str, Any] = {}
    for c in classes:
        tp = int(np.sum((g == c) & (p == c)))
        predicted, support = int(np.sum(p == c)), int(np.sum(g == c))
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[c] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    confusion = [[int(np.sum((g == a) & (p == b))) for b in classes] for a in classes]
    return {"classes": report, "confusion": confusion}


def evaluate(
    coder: UtteranceCoder,
    sessions: Sequence[Session],
    progress: bool,
    annotations: Mapping[tuple[str, int], Annotated] | None = None,
) -> dict[str, Any]:
    """Everything `score-cues` reports, as one JSON-ready dict. ``annotations``: each
    annotator's own codes of the transcripts several annotators coded
    (:func:`assistant.coding.agreement.load_annotations`), to set the coder beside them."""
    labels = code_utterances(coder, sessions, progress)
    parts = as_parts(sessions, labels)
    gold, pred = _joined(parts, "gold"), _joined(parts, "pred")
    return {
        "model": str(coder.path),
        "transcripts": len(parts),
        "utterances": {
            "therapist": len(gold["behaviour"]),
            "client": len(gold["talk_type"]),
        },
        "scores": scores(parts),
        "intervals_95": intervals(parts) if len(parts) > 1 else {},
        "floors": FLOORS,
        "per_class": {h: per_class(gold[h], pred[h], HEADS[h]) for h in HEADS if gold[h]},
        "by_annotator": by_annotator(parts),
        "against_the_others": against_the_others(annotations or {}, labels),
    }


def format_report(result: Mapping[str, Any]) -> str:
    counts = result["utterances"]
    lines = [
        f"{result['transcripts']} transcripts, {counts['therapist']} therapist and "
        f"{counts['client']} client utterances; coder {result['model']}",
        "",
        f"{'metric':<22} {'score':>6} {'95% interval':>15} {'floor':>6}",
    ]
    for metric, floor in FLOORS.items():
        if metric not in result["scores"]:
            continue
        value = result["scores"][metric]
        low, high = result["intervals_95"].get(metric, (value, value))
        verdict = "ok" if value >= floor else "BELOW"
        lines.append(
            f"{metric:<22} {value:6.3f} {f'{low:.3f}-{high:.3f}':>15} {floor:6.2f} {verdict}"
        )
    lines += ["", annotator_table(result["by_annotator"])]
    if result["against_the_others"]:
        lines += [
            "",
            "Each annotator of the transcripts several annotators coded, scored against the",
            "majority of the others, and the coder against the same majority:",
            agreement_table(result["against_the_others"], SHORT),
        ]
    for head, report in result["per_class"].items():
        classes = list(report["classes"])
        width = max(len(head), *(len(c) + 2 for c in classes))
        lines += [
            "",
            f"{head:<{width}} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>6} | coded as: "
            + " ".join(f"{c[:9]:>9}" for c in classes),
        ]
        for c, row in zip(classes, report["confusion"], strict=True):
            s = report["classes"][c]
            lines.append(
                f"  {c:<{width - 2}} {s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:6.3f} "
                f"{s['support']:6d} |           " + " ".join(f"{n:9d}" for n in row)
            )
    return "\n".join(lines)


SHORT = {
    "behaviour_macro_f1": "behaviour",
    "question_open_f1": "open",
    "question_closed_f1": "closed",
    "reflection_f1": "reflection",
    "input_advice_f1": "advice",
    "talk_type_macro_f1": "talk type",
}


def annotator_table(
    groups: Mapping[str, Mapping[str, Any]], metrics: Sequence[str] = tuple(SHORT)
) -> str:
    """:func:`by_annotator`'s scores (``metrics`` of them) as a table, the largest group
    first."""
    lines = [
        f"{'by annotator':<26} {'transcripts':>11} {'therapist':>9} "
        + " ".join(f"{SHORT[m]:>10}" for m in metrics)
    ]
    for name, group in sorted(groups.items(), key=lambda kv: -kv[1]["therapist_utterances"]):
        lines.append(
            f"{name:<26} {group['transcripts']:11d} {group['therapist_utterances']:9d} "
            + " ".join(
                f"{group['scores'][m]:10.3f}" if m in group["scores"] else f"{'-':>10}"
                for m in metrics
            )
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="attune score-cues", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder with an AnnoMI simple and full CSV file (AnnoMI-simple*.csv, "
        "AnnoMI-full*.csv) holding the experts' codes",
    )
    p.add_argument(
        "--exclude",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="leave out the transcripts of the AnnoMI files in DIR (repeatable), e.g. the "
        "training part, to score only the transcripts the coder never saw",
    )
    p.add_argument(
        "--model", type=Path, default=None, help="coder folder (default: the committed one)"
    )
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.json is not None and not args.json.parent.is_dir():
            raise FileNotFoundError(f"folder for --json not found: {args.json.parent}")
        sessions = load_annomi(args.data)
        leave_out = {s.transcript_id for d in args.exclude for s in load_annomi(d)}
        sessions = [s for s in sessions if s.transcript_id not in leave_out]
        if not sessions:
            raise ValueError(f"no transcripts of {args.data} are left to score")
        annotations = load_annotations(args.data)
        coder = load_coder(args.model)
    except (OSError, ValueError, CoderWeightsError) as exc:
        print(f"attune score-cues: error: {exc}", file=sys.stderr)
        return 2
    result = evaluate(coder, sessions, not args.no_progress, annotations)
    print(format_report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
