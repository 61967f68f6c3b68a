"""The AnnoMI loader on the training data the project ships beside it (../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.coding.data import SIMPLE_FILE, context_of, load_annomi
from assistant.coding.labels import BEHAVIOUR_HEAD, HEADS, THERAPIST

ANNOMI = Path(__file__).resolve().parents[3] / "shared" / "data" / "annomi"
pytestmark = pytest.mark.skipif(
    not (ANNOMI / SIMPLE_FILE).is_file(), reason="AnnoMI training data (../shared) not present"
)


def test_load_annomi_counts_and_labels() -> None:
    sessions = load_annomi(ANNOMI)
    utterances = [u for s in sessions for u in s.utterances]
    assert len(sessions) == 106
    assert len(utterances) == 8070
    for u in utterances:
        heads = (
            ("behaviour", "question", "reflection", "input")
            if u.speaker == THERAPIST
            else ("talk_type",)
        )
        assert set(u.labels) == set(heads)
        for head in heads:
            assert u.labels[head] in HEADS[head]


def test_each_transcript_names_its_annotators() -> None:
    """Most transcripts were coded by one of ten annotators, a few by all ten (README)."""
    sessions = load_annomi(ANNOMI)
    several = [s for s in sessions if len(s.annotators) > 1]
    assert all(len(s.annotators) == 1 for s in sessions if s not in several)
    assert [len(s.annotators) for s in several] == [10] * len(several)
    assert 1 <= len(several) <= 7
    assert {a for s in sessions for a in s.annotators} == {str(i) for i in range(10)}


def test_main_behaviour_implies_its_code_almost_always() -> None:
    therapist = [u for s in load_annomi(ANNOMI) for u in s.utterances if u.speaker == THERAPIST]
    broken = [
        u
        for u in therapist
        if u.labels["behaviour"] in BEHAVIOUR_HEAD
        and u.labels[BEHAVIOUR_HEAD[u.labels["behaviour"]]] == "none"
    ]
    assert len(broken) <= 5  # majority votes over ten annotators can split


def test_context_of_returns_previous_turns_oldest_first() -> None:
    session = load_annomi(ANNOMI)[0]
    ctx = context_of(session, 3, 2)
    assert ctx == [(u.speaker, u.text) for u in session.utterances[1:3]]
    assert context_of(session, 0, 2) == []


def test_missing_files_raise(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="AnnoMI file not found"):
        load_annomi(tmp_path)


def test_build_dataset_targets_follow_the_speaker() -> None:
    from assistant.coding.lexical import FEATURE_NAMES
    from assistant.coding.train import build_dataset

    data = build_dataset(load_annomi(ANNOMI))
    assert len(data) == 8070
    assert data.lexical.shape == (8070, len(FEATURE_NAMES))
    therapist = [s == THERAPIST for s in data.speakers]
    for head, targets in data.targets.items():
        applies = therapist if head != "talk_type" else [not t for t in therapist]
        assert all((t >= 0) == a for t, a in zip(targets, applies, strict=True))
    assert data.previous[0] == ""
    assert data.previous[1] == data.texts[0]
    # the annotator of each single-annotator transcript's utterances, -1 for the majority ones
    sessions = load_annomi(ANNOMI)
    lengths = [len(s.utterances) for s in sessions]
    per_session = np.split(data.annotators, np.cumsum(lengths)[:-1])
    for session, values in zip(sessions, per_session, strict=True):
        alone = int(session.annotators[0]) if len(session.annotators) == 1 else -1
        assert set(values.tolist()) == {alone}
