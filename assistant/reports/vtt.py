"""WebVTT of the transcript: one cue per final utterance, the speaker as a voice tag."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from assistant.reports.session import SessionEvents, seconds

VOICES = {"therapist": "Therapist", "client": "Client"}
MIN_CUE_S = 0.001


def timestamp(value: float) -> str:
    """``HH:MM:SS.mmm`` (hours always present, so sessions over an hour stay valid)."""
    ms = max(0, round(value * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def escape_text(text: str) -> str:
    """Cue text: entities for ``& < >`` (so no tag and no ``-->`` can be injected) and every
    line break folded into a space (a blank line would end the cue)."""
    text = " ".join(text.split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def identifier(value: Any, fallback: int) -> str:
    """A cue identifier: the utterance id on one line, without ``-->``."""
    ident = " ".join(str(value).split()).replace("-->", "->")
    return ident or str(fallback)


def to_vtt(events: Iterable[Mapping[str, Any]]) -> str:
    lines = ["WEBVTT", ""]
    for n, u in enumerate(SessionEvents.of(events).utterances, 1):
        start = seconds(u.get("start"))
        end = max(seconds(u.get("end")), start + MIN_CUE_S)
        voice = VOICES.get(str(u.get("speaker")), "Speaker")
        lines += [
            identifier(u.get("id", n), n),
            f"{timestamp(start)} --> {timestamp(end)}",
            f"<v {voice}>{escape_text(str(u.get('text', '')))}",
            "",
        ]
    return "\n".join(lines)
