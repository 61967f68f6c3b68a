"""How far one expert agrees with the others, beside how far the coder does.

AnnoMI had a few transcripts coded by all ten of its annotators (five of them in the training
part). On those, each annotator's own codes can be scored against the majority of the other
nine, the same metrics the floors use: what one trained expert reaches against a consensus.
The coder's labels are scored against the very same majority, annotator by annotator, so the
two columns compare like with like. Where the coder trails the experts is where a better model
could still gain; where it matches them, the codes themselves are the limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.coding.data import (
    FULL_PREFIX,
    annomi_files,
    majority,
    numeric_order,
    read_rows,
    subcode,
    utterance_index,
)
from assistant.coding.labels import CLIENT, CLIENT_HEADS, THERAPIST, THERAPIST_HEADS
from assistant.coding.metrics import score

Key = tuple[str, int]  # (transcript_id, utterance index)
Labels = dict[str, str]

ANNOTATOR_COLUMNS = (
    "transcript_id", "utterance_id", "interlocutor", "annotator_id",
    "main_therapist_behaviour", "client_talk_type",
    *(f"{prefix}_{part}" for prefix in FULL_PREFIX.values() for part in ("exists", "subtype")),
)  # fmt: skip


@dataclass(frozen=True)
class Annotated:
    """One utterance of a transcript coded by several annotators: each one's rows."""

    speaker: str
    rows: dict[str, list[dict[str, str]]]  # annotator_id -> that annotator's rows


def load_annotations(data_dir: Path) -> dict[Key, Annotated]:
    """Every utterance of the transcripts that several annotators coded, in the AnnoMI full
    file of ``data_dir``; empty when every transcript has one annotator, or when the file
    does not name each row's annotator and codes (``ANNOTATOR_COLUMNS``): the comparison is
    an extra, and scoring the coder must not fail for want of it."""
    _, full_path = annomi_files(data_dir)
    try:
        rows = read_rows(full_path, ANNOTATOR_COLUMNS)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{full_path}: not UTF-8 text ({exc})") from exc
    except ValueError:  # a column missing (read_rows' one ValueError): nothing to compare
        return {}
    who: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        who[row["transcript_id"]].add(row["annotator_id"])
    out: dict[Key, Annotated] = {}
    for row in rows:
        tid = row["transcript_id"]
        if len(who[tid]) < 2:
            continue
        key = (tid, utterance_index(row))
        if key not in out:
            out[key] = Annotated(row["interlocutor"], defaultdict(list))
        out[key].rows[row["annotator_id"]].append(row)
    return out


def codes(rows: Sequence[dict[str, str]], speaker: str) -> Labels:
    """The codes of one utterance from ``rows`` (one annotator's, or several whose majority
    they then are), as ``assistant.coding.data`` derives the training labels."""
    if speaker == THERAPIST:
        behaviour = majority([r["main_therapist_behaviour"] for r in rows])
        return {"behaviour": behaviour, **{h: subcode(rows, h, behaviour) for h in FULL_PREFIX}}
    return {"talk_type": majority([r["client_talk_type"] for r in rows])}


def against_the_others(
    annotations: Mapping[Key, Annotated], coded: Mapping[Key, Mapping[str, object]]
) -> dict[str, dict[str, Any]]:
    """For each annotator: its own codes and the coder's (``coded``, the coder's labels by
    utterance, None for an absent code) scored against the majority of the other annotators,
    over the utterances it coded that ``coded`` holds too."""
    heads = {THERAPIST: THERAPIST_HEADS, CLIENT: CLIENT_HEADS}
    everyone = sorted({a for u in annotations.values() for a in u.rows}, key=numeric_order)
    out: dict[str, dict[str, Any]] = {}
    for annotator in everyone:
        gold: dict[str, list[str]] = defaultdict(list)
        expert: dict[str, list[str]] = defaultdict(list)
        coder: dict[str, list[str]] = defaultdict(list)
        for key, utterance in annotations.items():
            own = utterance.rows.get(annotator)
            others = [r for a, rs in utterance.rows.items() if a != annotator for r in rs]
            if not own or not others or utterance.speaker not in heads or key not in coded:
                continue
            consensus = codes(others, utterance.speaker)
            mine = codes(own, utterance.speaker)
            for head in heads[utterance.speaker]:
                value = coded[key].get(head)
                gold[head].append(consensus[head])
                expert[head].append(mine[head])
                coder[head].append("none" if value is None else str(value))
        if not gold:
            continue
        out[annotator] = {
            "therapist_utterances": len(gold.get("behaviour", ())),
            "client_utterances": len(gold.get("talk_type", ())),
            "expert": score(dict(gold), dict(expert)),
            "coder": score(dict(gold), dict(coder)),
        }
    return out


def medians(table: Mapping[str, Mapping[str, Any]], side: str) -> dict[str, float]:
    """The median over annotators of each metric of ``side`` ("expert" or "coder")."""
    metrics = {m for row in table.values() for m in row[side]}
    return {m: float(np.median([row[side][m] for row in table.values()])) for m in metrics}


def format_table(table: Mapping[str, Mapping[str, Any]], metrics: Mapping[str, str]) -> str:
    """:func:`against_the_others` as a table: one line per annotator, expert then coder, and
    the medians. ``metrics`` maps each metric to its short column name."""
    if not table:
        return ""
    lines = [
        f"{'against the other annotators':<30} {'therapist':>9} "
        + " ".join(f"{short:>10}" for short in metrics.values())
    ]

    def cells(values: Mapping[str, float]) -> str:
        return " ".join(f"{values[m]:10.3f}" if m in values else f"{'-':>10}" for m in metrics)

    for annotator, row in table.items():
        n = row["therapist_utterances"]
        lines.append(f"{f'annotator {annotator}':<30} {n:9d} {cells(row['expert'])}")
        lines.append(f"{'  the coder, same majority':<30} {n:9d} {cells(row['coder'])}")
    lines.append(f"{'median, annotators':<30} {'':9} {cells(medians(table, 'expert'))}")
    lines.append(f"{'median, the coder':<30} {'':9} {cells(medians(table, 'coder'))}")
    return "\n".join(lines)
