"""Load AnnoMI (simple + full files) into one labelled record per utterance."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.coding.labels import BEHAVIOUR_HEAD, CLIENT, HEADS, NONE, THERAPIST

SIMPLE_FILE = "AnnoMI-simple-train.csv"
FULL_FILE = "AnnoMI-full-train.csv"

# full-file column prefix per optional therapist head
FULL_PREFIX = {"question": "question", "reflection": "reflection", "input": "therapist_input"}


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
    # the full file's annotator_id values for this transcript (one, or several whose majority
    # the optional codes are; empty where the file has no such column)
    annotators: tuple[str, ...] = ()


def majority(values: Sequence[str], prefer: str | None = None) -> str:
    """The most frequent of ``values``; a tie goes to ``prefer`` where it is among the tied,
    else to the first of them in alphabetical order."""
    counts = Counter(values).most_common()
    top = counts[0][1]
    tied = sorted(v for v, c in counts if c == top)
    if prefer is not None and prefer in tied:
        return prefer
    return tied[0]


def subcode(rows: Sequence[dict[str, str]], head: str, behaviour: str) -> str:
    """Majority over annotators of one optional code; ties follow the main behaviour."""
    prefix = FULL_PREFIX[head]
    exists = [r[f"{prefix}_exists"] == "True" for r in rows]
    n_true = sum(exists)
    implied = BEHAVIOUR_HEAD.get(behaviour) == head
    if n_true * 2 < len(rows) or (n_true * 2 == len(rows) and not implied):
        return NONE
    subtypes = [r[f"{prefix}_subtype"] for r in rows if r[f"{prefix}_exists"] == "True"]
    return majority(subtypes)


SIMPLE_COLUMNS = (
    "transcript_id", "utterance_id", "interlocutor", "utterance_text",
    "main_therapist_behaviour", "client_talk_type",
)  # fmt: skip
FULL_COLUMNS = (
    "transcript_id", "utterance_id",
    *(f"{prefix}_{part}" for prefix in FULL_PREFIX.values() for part in ("exists", "subtype")),
)  # fmt: skip


def annomi_files(data_dir: Path) -> tuple[Path, Path]:
    """The simple and the full AnnoMI file in ``data_dir``: the training part's names
    (``AnnoMI-simple-train.csv``, ``AnnoMI-full-train.csv``), else the one
    ``AnnoMI-simple*.csv`` and the one ``AnnoMI-full*.csv`` there (the public repository's
    ``AnnoMI-simple.csv`` and ``AnnoMI-full.csv``, a held-out part's own names)."""
    if not data_dir.is_dir():
        raise FileNotFoundError(f"AnnoMI folder not found: {data_dir}")
    found = []
    for name in (SIMPLE_FILE, FULL_FILE):
        if (data_dir / name).is_file():
            found.append(data_dir / name)
            continue
        pattern = name.replace("-train.csv", "*.csv")
        matches = sorted(data_dir.glob(pattern))
        if len(matches) != 1:
            what = "none" if not matches else ", ".join(m.name for m in matches)
            raise FileNotFoundError(
                f"AnnoMI file not found: {data_dir / name} (one {pattern} expected, found {what})"
            )
        found.append(matches[0])
    return found[0], found[1]


def read_rows(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """The rows of one AnnoMI CSV file, its header checked for ``columns``: a missing column
    is a ``ValueError`` naming it (and text that is not UTF-8 a ``UnicodeDecodeError``)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: not an AnnoMI file, no column {', '.join(missing)}")
        return list(reader)


def load_annomi(data_dir: Path) -> list[Session]:
    """Read the simple and the full AnnoMI file in ``data_dir`` (:func:`annomi_files`).

    Main behaviour and talk type come from the simple file (the majority label); question,
    reflection and input codes come from the full file, majority-voted where a transcript has
    several annotators. A file without AnnoMI's columns, or a row that does not fit them, is a
    ``ValueError`` naming it.
    """
    simple_path, full_path = annomi_files(data_dir)
    try:
        return _sessions(read_rows(simple_path, SIMPLE_COLUMNS), read_rows(full_path, FULL_COLUMNS))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{data_dir}: an AnnoMI file is not UTF-8 text ({exc})") from exc


def _sessions(simple: list[dict[str, str]], full_rows: list[dict[str, str]]) -> list[Session]:
    full: dict[tuple[str, int], list[dict[str, str]]] = defaultdict(list)
    annotators: dict[str, set[str]] = defaultdict(set)
    for row in full_rows:
        full[(row["transcript_id"], utterance_index(row))].append(row)
        if row.get("annotator_id"):
            annotators[row["transcript_id"]].add(row["annotator_id"])
    by_transcript: dict[str, list[Utterance]] = defaultdict(list)
    for row in simple:
        tid, idx = row["transcript_id"], utterance_index(row)
        speaker = row["interlocutor"]
        labels: dict[str, str] = {}
        if speaker == THERAPIST:
            behaviour = row["main_therapist_behaviour"]
            labels["behaviour"] = behaviour
            rows = full.get((tid, idx))
            if not rows:
                raise ValueError(f"utterance {tid}/{idx} missing from the full file")
            for head in FULL_PREFIX:
                labels[head] = subcode(rows, head, behaviour)
        elif speaker == CLIENT:
            labels["talk_type"] = row["client_talk_type"]
        else:
            raise ValueError(f"unknown interlocutor {speaker!r} in {tid}/{idx}")
        for head, value in labels.items():
            if value not in HEADS[head]:
                raise ValueError(f"utterance {tid}/{idx}: {head} {value!r} is not an AnnoMI code")
        text = (row["utterance_text"] or "").strip()
        by_transcript[tid].append(Utterance(tid, idx, speaker, text, labels))
    sessions = []
    for tid in sorted(by_transcript, key=numeric_order):
        utts = sorted(by_transcript[tid], key=lambda u: u.index)
        who = tuple(sorted(annotators[tid], key=numeric_order))
        sessions.append(Session(tid, tuple(utts), who))
    return sessions


def utterance_index(row: dict[str, str]) -> int:
    try:
        return int(row["utterance_id"])
    except ValueError:
        raise ValueError(
            f"transcript {row['transcript_id']}: utterance_id {row['utterance_id']!r} is not a "
            "number"
        ) from None


def numeric_order(value: str) -> tuple[int, str]:
    """Numeric ids (AnnoMI's transcript and annotator ids) in numeric order, others after."""
    return (int(value), "") if value.isdigit() else (1 << 62, value)


def context_of(session: Session, position: int, turns: int) -> list[tuple[str, str]]:
    """The ``turns`` (speaker, text) pairs before ``position``, oldest first."""
    start = max(0, position - turns)
    return [(u.speaker, u.text) for u in session.utterances[start:position]]
