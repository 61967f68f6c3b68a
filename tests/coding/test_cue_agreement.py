"""bench/cue_rates.py's agreement of the coder's cues with the experts': out-of-fold
log-probs decoded fold by fold, and the cue sets compared utterance by utterance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.coding.data import Session, load_annomi
from assistant.coding.labels import HEADS
from bench import cue_rates as bench

ROOT = Path(__file__).resolve().parents[2]
ANNOMI = ROOT.parent / "shared" / "data" / "annomi"
pytestmark = pytest.mark.skipif(not ANNOMI.is_dir(), reason="AnnoMI data not beside the repo")


def _cues(
    session: Session,
    stamps: dict[tuple[str, int], float],
    labels: dict[tuple[str, int], dict[str, object]],
) -> list[tuple[str, str]]:
    """(utterance id, kind) of every cue the rules raise on ``session`` coded by ``labels``."""
    utts = bench.session_utterances(session, stamps, lambda t, i: dict(labels[(t, i)]))
    return [(str(u.id), str(e["kind"])) for u, e in bench.run_cues(session.transcript_id, utts)]


def test_out_of_fold_labels_that_follow_the_experts_raise_the_experts_cues() -> None:
    sessions = load_annomi(ANNOMI)[:10]
    gold = bench.gold_labels(sessions)
    # out-of-fold log-probs of a model that puts 0.9 on each expert code
    rows = [u for s in sessions for u in s.utterances]
    logp = {}
    for head, classes in HEADS.items():
        p = np.full((len(rows), len(classes)), 0.1 / (len(classes) - 1), dtype=np.float32)
        for i, u in enumerate(rows):
            if head in u.labels:
                p[i, classes.index(u.labels[head])] = 0.9
        logp[head] = np.log(p)
    decoded = bench.oof_labels(sessions, logp)
    assert decoded.keys() == gold.keys()
    same = sum(decoded[k] == gold[k] for k in gold)
    assert same >= 0.99 * len(gold), f"{same} of {len(gold)} utterances decoded as coded"
    _, stamps = bench.read_stamps(ANNOMI)
    for session in sessions[:3]:
        expert = _cues(session, stamps, gold)
        assert expert, "the experts' codes raise cues"
        assert _cues(session, stamps, decoded) == expert


def test_log_probs_of_other_data_are_refused() -> None:
    sessions = load_annomi(ANNOMI)[:5]
    logp = {h: np.zeros((3, len(c)), dtype=np.float32) for h, c in HEADS.items()}
    with pytest.raises(ValueError, match="not this data's"):
        bench.oof_labels(sessions, logp)
