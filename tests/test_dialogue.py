"""Dialogue stream: time-ordered merging and the summary stage."""

from __future__ import annotations

from assistant.dialogue import Dialogue, SummaryStage, in_time_order
from assistant.events import Utterance, validate_event


def utt(uid: str, speaker: str, start: float, end: float, text: str = "hello there") -> Utterance:
    return Utterance(id=uid, speaker=speaker, start=start, end=end, text=text)  # type: ignore[arg-type]


def test_a_recording_is_merged_by_start_time() -> None:
    heard = [utt("c2", "client", 9, 10), utt("t1", "therapist", 0, 2), utt("c1", "client", 3, 4)]
    assert [u.id for u in in_time_order(heard)] == ["t1", "c1", "c2"]


def test_dialogue_emits_utterance_then_summary() -> None:
    dialogue = Dialogue("s1", observers=[SummaryStage("s1")])
    events = dialogue.process(utt("t1", "therapist", 0, 3, "How are you?"))
    events += dialogue.process(utt("c1", "client", 3.5, 4.5, "Fine thanks"))
    events += dialogue.finish(6.0)
    assert [e["type"] for e in events] == ["utterance", "utterance", "summary"]
    summary = events[-1]
    assert summary["utterances"] == {"therapist": 1, "client": 1}
    assert summary["words"] == {"therapist": 3, "client": 2}
    assert summary["talk_time"]["therapist_share"] == 0.75
    assert summary["duration"] == 6.0
    for e in events:
        validate_event(e)
