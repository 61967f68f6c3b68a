"""Load AnnoMI (simple + full files) into one labelled record per utterance."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.coding.labels import BEHAVIOUR_HEAD, CLIENT, NONE, THERAPIST

SIMPLE_FILE = "AnnoMI-simple-train.csv"
FULL_FILE = "AnnoMI-full-train.csv"

# full-file column prefix per optional therapist head
_FULL_PREFIX = {"question": "question", "reflection": "reflection", "input": "therapist_input"}


@dataclass(frozen=True)
class Utterance:
    """One AnnoMI utterance with its gold labels (``none`` for an absent optional code)."""

    transcript_id: str
    index: int
    speaker: str
    text: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    transcript_id: str
    utterances: tuple[Utterance, ...]


def _majority(values: Sequence[str], prefer: str | None = None) -> str:
    counts = Counter(values).most_common()
    top = counts[0][1]
    tied = sorted(v for v, c in counts if c == top)
    if prefer is not None and prefer in tied:
        return prefer
    return tied[0]


def _subcode(rows: Sequence[dict[str, str]], head: str, behaviour: str) -> str:
    """Majority over annotators of one optional code; ties follow the main behaviour."""
    prefix = _FULL_PREFIX[head]
    exists = [r[f"{prefix}_exists"] == "True" for r in rows]
    n_true = sum(exists)
    implied = BEHAVIOUR_HEAD.get(behaviour) == head
    if n_true * 2 < len(rows) or (n_true * 2 == len(rows) and not implied):
        return NONE
    subtypes = [r[f"{prefix}_subtype"] for r in rows if r[f"{prefix}_exists"] == "True"]
    return _majority(subtypes)


def load_annomi(data_dir: Path) -> list[Session]:
    """Read ``AnnoMI-simple-train.csv`` and ``AnnoMI-full-train.csv`` from ``data_dir``.

    Main behaviour and talk type come from the simple file (the majority label); question,
    reflection and input codes come from the full file, majority-voted where a transcript has
    several annotators.
    """
    simple_path, full_path = data_dir / SIMPLE_FILE, data_dir / FULL_FILE
    for path in (simple_path, full_path):
        if not path.is_file():
            raise FileNotFoundError(f"AnnoMI file not found: {path}")
    full: dict[tuple[str, int], list[dict[str, str]]] = defaultdict(list)
    with full_path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            full[(row["transcript_id"], int(row["utterance_id"]))].append(row)

    by_transcript: dict[str, list[Utterance]] = defaultdict(list)
    with simple_path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            tid, idx = row["transcript_id"], int(row["utterance_id"])
            speaker = row["interlocutor"]
            labels: dict[str, str] = {}
            if speaker == THERAPIST:
                behaviour = row["main_therapist_behaviour"]
                labels["behaviour"] = behaviour
                rows = full.get((tid, idx))
                if not rows:
                    raise ValueError(f"utterance {tid}/{idx} missing from {FULL_FILE}")
                for head in _FULL_PREFIX:
                    labels[head] = _subcode(rows, head, behaviour)
            elif speaker == CLIENT:
                labels["talk_type"] = row["client_talk_type"]
            else:
                raise ValueError(f"unknown interlocutor {speaker!r} in {tid}/{idx}")
            by_transcript[tid].append(
                Utterance(tid, idx, speaker, row["utterance_text"].strip(), labels)
            )
    sessions = []
    for tid in sorted(by_transcript, key=int):
        utts = sorted(by_transcript[tid], key=lambda u: u.index)
        sessions.append(Session(tid, tuple(utts)))
    return sessions


def context_of(session: Session, position: int, turns: int) -> list[tuple[str, str]]:
    """The ``turns`` (speaker, text) pairs before ``position``, oldest first."""
    start = max(0, position - turns)
    return [(u.speaker, u.text) for u in session.utterances[start:position]]
