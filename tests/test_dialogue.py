"""Dialogue stream: time-ordered merging and the summary stage."""

from __future__ import annotations

from assistant.dialogue import Dialogue, DialogueMerger, SummaryStage
from assistant.events import Utterance, validate_event


def utt(uid: str, speaker: str, start: float, end: float, text: str = "hello there") -> Utterance:
    return Utterance(id=uid, speaker=speaker, start=start, end=end, text=text)  # type: ignore[arg-type]


def test_merger_waits_for_the_other_speaker_before_releasing() -> None:
    merger = DialogueMerger()
    merger.push(utt("c1", "client", 5.0, 7.0))
    assert merger.advance("client", 7.5) == []  # therapist might still have something earlier
    merger.push(utt("t1", "therapist", 1.0, 4.0))
    released = merger.advance("therapist", 8.0)
    assert [u.id for u in released] == ["t1", "c1"]


def test_merger_flush_orders_by_start() -> None:
    merger = DialogueMerger()
    for u in [utt("c2", "client", 9, 10), utt("t1", "therapist", 0, 2), utt("c1", "client", 3, 4)]:
        merger.push(u)
    assert [u.id for u in merger.flush()] == ["t1", "c1", "c2"]


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
