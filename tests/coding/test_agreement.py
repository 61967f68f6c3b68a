"""Each annotator against the others' majority, and the coder against the same majority."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from assistant.coding.agreement import (
    ANNOTATOR_COLUMNS,
    against_the_others,
    format_table,
    load_annotations,
    medians,
)
from assistant.coding.data import FULL_FILE
from assistant.coding.evaluate import SHORT


def _row(tid: str, uid: int, annotator: str, speaker: str, code: str) -> dict[str, str]:
    """One full-file row: a therapist's main behaviour with its code (a question is closed, a
    reflection simple, an input advice) or a client's talk type."""
    row = {c: "n/a" for c in ANNOTATOR_COLUMNS}
    row.update(transcript_id=tid, utterance_id=str(uid), interlocutor=speaker)
    row["annotator_id"] = annotator
    if speaker == "client":
        row["client_talk_type"] = code
        return row
    row["main_therapist_behaviour"] = code
    for prefix, behaviour, subtype in (
        ("question", "question", "closed"),
        ("reflection", "reflection", "simple"),
        ("therapist_input", "therapist_input", "advice"),
    ):
        row[f"{prefix}_exists"] = str(code == behaviour)
        row[f"{prefix}_subtype"] = subtype if code == behaviour else "n/a"
    return row


def _write(folder: Path, rows: list[dict[str, str]]) -> Path:
    folder.mkdir()
    with (folder / FULL_FILE).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ANNOTATOR_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    (folder / "AnnoMI-simple-train.csv").write_text("unused\n", encoding="utf-8")
    return folder


def test_each_annotator_and_the_coder_against_the_other_annotators(tmp_path: Path) -> None:
    # transcript 1: three annotators; annotator c codes its first utterance unlike a and b
    codes = {
        "a": ["question", "reflection", "change"],
        "b": ["question", "reflection", "change"],
        "c": ["reflection", "reflection", "neutral"],
    }
    speakers = ["therapist", "therapist", "client"]
    rows = [
        _row("1", i, who, speakers[i], mine[i]) for who, mine in codes.items() for i in range(3)
    ]
    rows.append(_row("2", 0, "a", "therapist", "other"))  # one annotator: not compared
    annotations = load_annotations(_write(tmp_path / "annomi", rows))
    assert sorted(annotations) == [("1", 0), ("1", 1), ("1", 2)]
    coder: dict[tuple[str, int], dict[str, object]] = {
        ("1", 0): {"behaviour": "question", "question": "closed", "reflection": None},
        ("1", 1): {"behaviour": "reflection", "question": None, "reflection": "simple"},
        ("1", 2): {"talk_type": "change"},
    }
    table = against_the_others(annotations, coder)
    assert list(table) == ["a", "b", "c"]
    # a and b: the others' majority of their first utterance is a tie (question against
    # reflection), which goes to the first alphabetically, "question"; both are right
    assert table["a"]["expert"]["behaviour_macro_f1"] == pytest.approx(1.0)
    # c against a and b: a question it coded a reflection, and neutral for change talk
    assert table["c"]["expert"]["behaviour_macro_f1"] == pytest.approx((0 + 2 / 3) / 2)
    assert table["c"]["expert"]["question_closed_f1"] == 0.0
    assert table["c"]["expert"]["talk_type_macro_f1"] == 0.0
    assert table["c"]["coder"]["behaviour_macro_f1"] == pytest.approx(1.0)
    assert table["c"]["coder"]["talk_type_macro_f1"] == pytest.approx(1.0)
    assert table["c"]["therapist_utterances"] == 2 and table["c"]["client_utterances"] == 1
    assert medians(table, "coder")["behaviour_macro_f1"] == pytest.approx(1.0)
    printed = format_table(table, SHORT).splitlines()
    assert printed[0].split()[-2:] == ["talk", "type"]
    assert printed[1].startswith("annotator a") and printed[2].strip().startswith("the coder")
    assert printed[-1].startswith("median, the coder")
    assert format_table({}, SHORT) == ""


def test_only_what_the_coder_coded_is_compared(tmp_path: Path) -> None:
    """Utterances the coder did not code (a transcript left out of the scoring) are not
    compared, and annotators who coded only the client's turns get talk type alone."""
    rows = [
        _row("1", 0, "a", "therapist", "question"),
        _row("1", 0, "b", "therapist", "question"),
        _row("3", 0, "d", "client", "change"),
        _row("3", 0, "e", "client", "sustain"),
    ]
    annotations = load_annotations(_write(tmp_path / "annomi", rows))
    assert against_the_others(annotations, {}) == {}
    table = against_the_others(annotations, {("3", 0): {"talk_type": "sustain"}})
    assert list(table) == ["d", "e"]
    assert table["d"]["therapist_utterances"] == 0 and table["d"]["client_utterances"] == 1
    assert set(table["d"]["coder"]) == {"talk_type_macro_f1"}
    assert table["d"]["coder"]["talk_type_macro_f1"] == 1.0  # e's code, as the coder's
    assert table["d"]["expert"]["talk_type_macro_f1"] == 0.0
    assert "-" in format_table(table, SHORT).splitlines()[1].split()  # no behaviour score


def test_a_file_with_one_annotator_per_transcript_has_nothing_to_compare(tmp_path: Path) -> None:
    rows = [_row("1", 0, "a", "therapist", "other"), _row("2", 0, "b", "client", "neutral")]
    assert load_annotations(_write(tmp_path / "annomi", rows)) == {}


def test_a_full_file_without_annotators_has_nothing_to_compare(tmp_path: Path) -> None:
    """The comparison is an extra: a file that does not name each row's annotator gives none,
    and `score-cues` still scores the coder."""
    folder = _write(tmp_path / "annomi", [_row("1", 0, "a", "therapist", "other")])
    full = folder / FULL_FILE
    full.write_text(full.read_text().replace("annotator_id", "who"), encoding="utf-8")
    assert load_annotations(folder) == {}
    full.write_bytes(b"\xff\xfe not text")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        load_annotations(folder)
