"""The published event schema and the examples in docs/events.md agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from assistant.events import Utterance, notice_event, validate_event

DOC = Path(__file__).resolve().parents[1] / "docs" / "events.md"


def examples() -> list[dict[str, object]]:
    blocks = re.findall(r"```json\n(.*?)\n```", DOC.read_text("utf-8"), re.S)
    return [json.loads(b) for b in blocks]


def test_every_documented_example_is_valid() -> None:
    found = examples()
    assert {e["type"] for e in found} == {"utterance", "cue", "summary", "notice"}
    for example in found:
        validate_event(example)


@pytest.mark.parametrize(
    "bad",
    [
        {
            "type": "utterance",
            "session": "s",
            "id": "t1",
            "speaker": "nurse",
            "start": 0,
            "end": 1,
            "text": "x",
            "final": True,
        },
        {
            "type": "utterance",
            "session": "s",
            "id": "t1",
            "speaker": "client",
            "start": 0,
            "end": 1,
            "text": "x",
            "final": False,
            "labels": {"talk_type": "change"},
        },
        {
            "type": "utterance",
            "session": 3,
            "id": "t1",
            "speaker": "client",
            "start": 0,
            "end": 1,
            "text": "x",
            "final": True,
        },
        {
            "type": "utterance",
            "session": "s",
            "id": "t1",
            "speaker": "client",
            "start": -1,
            "end": 1,
            "text": "x",
            "final": True,
        },
        {"type": "cue", "session": "s", "id": "q", "kind": "closed_question", "at": 1.0},
        {"type": "gossip", "session": "s"},
    ],
)
def test_schema_rejects_malformed_events(bad: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate_event(bad)


def test_builders_make_valid_events() -> None:
    u = Utterance(id=7, speaker="client", start=1.0, end=2.0, text="hi", final=False)
    validate_event(u.event("s"))
    u.labels = {"talk_type": "neutral"}
    assert "labels" not in u.event("s")  # interim events never carry labels
    u.final = True
    assert u.event("s")["labels"] == {"talk_type": "neutral"}
    validate_event(notice_event("s", 3.0, "no_speech", "nothing heard", speaker="client"))
