"""`attune score-cues`: the coder scored against expert codes in AnnoMI-format files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from assistant.cli import main as cli_main
from assistant.coding.data import FULL_FILE, SIMPLE_FILE, load_annomi
from assistant.coding.evaluate import (
    Coded,
    annotator_table,
    by_annotator,
    intervals,
    per_class,
    scores,
)
from assistant.coding.metrics import FLOORS

ANNOMI = Path(__file__).resolve().parents[3] / "shared" / "data" / "annomi"
needs_annomi = pytest.mark.skipif(
    not (ANNOMI / SIMPLE_FILE).is_file(), reason="AnnoMI training data (../shared) not present"
)


def _part(
    tid: str,
    behaviour: list[tuple[str, str]],
    talk: list[tuple[str, str]],
    annotators: tuple[str, ...] = (),
) -> Coded:
    gold = {"behaviour": [g for g, _ in behaviour], "talk_type": [g for g, _ in talk]}
    pred = {"behaviour": [p for _, p in behaviour], "talk_type": [p for _, p in talk]}
    for side in (gold, pred):
        n = len(side["behaviour"])
        side.update(question=["none"] * n, reflection=["none"] * n, input=["none"] * n)
    return Coded(tid, gold, pred, annotators)


def test_scores_pool_every_utterance_and_intervals_resample_transcripts() -> None:
    right = _part("1", [("question", "question"), ("other", "other")], [("change", "change")])
    wrong = _part("2", [("reflection", "question")], [("neutral", "sustain")])
    pooled = scores([right, wrong])
    assert pooled["behaviour_macro_f1"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert pooled["talk_type_macro_f1"] == pytest.approx(1 / 3)  # change right, 2 classes wrong
    low, high = intervals([right, wrong], draws=200)["behaviour_macro_f1"]
    assert low == pytest.approx(0.0) and high == pytest.approx(1.0)  # all-wrong, all-right draws
    assert intervals([right, wrong], draws=200) == intervals([right, wrong], draws=200)
    # therapist utterances only: no talk-type score rather than a made-up one
    assert "talk_type_macro_f1" not in scores([_part("3", [("other", "other")], [])])


def test_scores_by_annotator() -> None:
    """Transcripts coded by one annotator are grouped by that annotator, those coded by
    several (AnnoMI's majority transcripts) together."""
    parts = [
        _part("1", [("question", "question")], [("change", "change")], ("3",)),
        _part("2", [("other", "question"), ("other", "other")], [], ("3",)),
        _part("3", [("reflection", "reflection")], [("neutral", "neutral")], ("0", "1", "2")),
    ]
    groups = by_annotator(parts)
    assert list(groups) == ["annotator 3", "3 annotators (majority)"]
    assert groups["annotator 3"]["transcripts"] == 2
    assert groups["annotator 3"]["therapist_utterances"] == 3
    assert groups["annotator 3"]["scores"] == scores(parts[:2])
    table = annotator_table(groups, ("behaviour_macro_f1", "talk_type_macro_f1"))
    assert table.splitlines()[0].split()[-3:] == ["behaviour", "talk", "type"]
    assert table.splitlines()[1].startswith("annotator 3")  # the larger group first


def test_per_class_report_and_confusion_table() -> None:
    report = per_class(
        ["open", "open", "closed", "none"],
        ["open", "closed", "closed", "closed"],
        ("none", "open", "closed"),
    )
    assert report["classes"]["closed"] == {
        "precision": pytest.approx(1 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.5),
        "support": 1,
    }
    assert report["classes"]["open"]["recall"] == 0.5
    assert report["confusion"] == [[0, 0, 1], [0, 1, 1], [0, 0, 1]]  # rows: the experts'


def _annomi_subset(folder: Path, transcripts: int | list[str], names: tuple[str, str]) -> None:
    """The first ``transcripts`` transcripts of the training part (or those named), written
    as ``names``."""
    folder.mkdir(parents=True)
    for source, name in zip((SIMPLE_FILE, FULL_FILE), names, strict=True):
        with (ANNOMI / source).open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        keep = (
            sorted({r["transcript_id"] for r in rows}, key=int)[:transcripts]
            if isinstance(transcripts, int)
            else transcripts
        )
        with (folder / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(r for r in rows if r["transcript_id"] in keep)


@needs_annomi
@pytest.mark.model
def test_score_cues_on_annomi_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The public repository's file names; the committed coder learnt from these very
    transcripts, so it must code them well (in-sample: not a measure of accuracy)."""
    data = tmp_path / "annomi"
    _annomi_subset(data, 3, ("AnnoMI-simple.csv", "AnnoMI-full.csv"))
    out = tmp_path / "scores.json"
    assert cli_main(["score-cues", "--data", str(data), "--json", str(out), "--no-progress"]) == 0
    result = json.loads(out.read_text())
    sessions = load_annomi(data)
    therapist = sum(u.speaker == "therapist" for s in sessions for u in s.utterances)
    assert result["transcripts"] == 3
    assert result["utterances"] == {"therapist": therapist, "client": 106 - therapist}
    assert set(FLOORS) <= set(result["scores"])
    assert result["scores"]["behaviour_macro_f1"] > 0.6
    assert result["scores"]["talk_type_macro_f1"] > 0.5
    for metric, (low, high) in result["intervals_95"].items():
        assert low <= result["scores"][metric] <= high, metric
    groups = result["by_annotator"]
    assert sum(g["therapist_utterances"] for g in groups.values()) == therapist
    assert all(name.startswith("annotator ") for name in groups)  # one annotator each
    behaviour = result["per_class"]["behaviour"]
    assert sum(map(sum, behaviour["confusion"])) == therapist
    printed = capsys.readouterr().out
    assert "behaviour_macro_f1" in printed and "coded as:" in printed
    assert result["against_the_others"] == {}  # no transcript with several annotators
    # the same transcripts excluded: nothing left, a clear error
    assert cli_main(["score-cues", "--data", str(data), "--exclude", str(data)]) == 2
    assert "no transcripts" in capsys.readouterr().err


@needs_annomi
@pytest.mark.model
def test_score_cues_sets_the_coder_beside_each_annotator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Transcript 7 was coded by all ten annotators: each one's codes and the coder's are
    scored against the other nine's majority."""
    data = tmp_path / "annomi"
    _annomi_subset(data, ["7"], ("AnnoMI-simple.csv", "AnnoMI-full.csv"))
    out = tmp_path / "scores.json"
    assert cli_main(["score-cues", "--data", str(data), "--json", str(out), "--no-progress"]) == 0
    result = json.loads(out.read_text())
    table = result["against_the_others"]
    assert sorted(table, key=int) == [str(a) for a in range(10)]
    therapist = result["utterances"]["therapist"]
    for row in table.values():
        assert row["therapist_utterances"] == therapist
        assert row["client_utterances"] == result["utterances"]["client"]
        for side in ("expert", "coder"):
            assert set(FLOORS) <= set(row[side])
            assert all(0.0 <= v <= 1.0 for v in row[side].values())
        assert row["coder"]["behaviour_macro_f1"] > 0.6  # in-sample: it learnt this transcript
    printed = capsys.readouterr().out
    assert "majority of the others" in printed and "median, the coder" in printed


@needs_annomi
def test_score_cues_rejects_what_is_not_annomi(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["score-cues", "--data", str(tmp_path / "nowhere")]) == 2
    assert "AnnoMI folder not found" in capsys.readouterr().err
    assert cli_main(["score-cues", "--data", str(tmp_path)]) == 2
    assert "one AnnoMI-simple*.csv expected, found none" in capsys.readouterr().err
    bad_json = ["--json", str(tmp_path / "no" / "scores.json")]
    assert cli_main(["score-cues", "--data", str(ANNOMI), *bad_json]) == 2
    assert "folder for --json not found" in capsys.readouterr().err
    data = tmp_path / "annomi"
    _annomi_subset(data, 1, ("AnnoMI-simple-test.csv", "AnnoMI-full-test.csv"))
    simple = data / "AnnoMI-simple-test.csv"
    text = simple.read_text(encoding="utf-8")
    simple.write_text(text.replace("client_talk_type", "talk"), encoding="utf-8")
    assert cli_main(["score-cues", "--data", str(data)]) == 2
    assert "not an AnnoMI file, no column client_talk_type" in capsys.readouterr().err
    rows = list(csv.DictReader(text.splitlines()))
    next(r for r in rows if r["interlocutor"] == "client")["client_talk_type"] = "maybe"
    with simple.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert cli_main(["score-cues", "--data", str(data)]) == 2
    assert "talk_type 'maybe' is not an AnnoMI code" in capsys.readouterr().err
    (data / "AnnoMI-simple-copy.csv").write_text(text, encoding="utf-8")
    assert cli_main(["score-cues", "--data", str(data)]) == 2
    assert "found AnnoMI-simple-copy.csv, AnnoMI-simple-test.csv" in capsys.readouterr().err
