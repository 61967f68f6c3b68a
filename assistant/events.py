"""The JSON event schema shared by the live panel, the store, exports and `attune analyze`.

Every event is a plain JSON object with a ``type`` and the ``session`` it belongs to.
Times are seconds on one session clock (since the session's start). The schema itself is
``assistant/schema/events.schema.json``; ``docs/events.md`` documents it with examples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

Speaker = Literal["therapist", "client"]
SPEAKERS: tuple[Speaker, ...] = ("therapist", "client")
UtteranceId = str | int
Event = dict[str, Any]


@dataclass(slots=True)
class Utterance:
    """One speaker's turn (or a growing part of it, while ``final`` is false)."""

    id: UtteranceId
    speaker: Speaker
    start: float
    end: float
    text: str
    final: bool = True
    labels: dict[str, Any] | None = field(default=None)

    def event(self, session: str) -> Event:
        ev: Event = {
            "type": "utterance",
            "session": session,
            "id": self.id,
            "speaker": self.speaker,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "final": self.final,
        }
        if self.final and self.labels is not None:
            ev["labels"] = self.labels
        return ev


def notice_event(session: str, at: float, code: str, message: str, **extra: Any) -> Event:
    """Something a user must know: audio lost, transcription lagging, times estimated."""
    return {
        "type": "notice",
        "session": session,
        "at": round(at, 3),
        "code": code,
        "message": message,
        **extra,
    }


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The published JSON Schema of one event."""
    text = resources.files("assistant").joinpath("schema/events.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate_event(event: Event) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``event`` follows the schema."""
    import jsonschema

    jsonschema.validate(event, schema())
