"""Written dialogues for `attune analyze --transcript`: JSON lines of
``{"speaker": "therapist"|"client", "text": ...}`` with optional ``id``, ``start``, ``end`` and
``session``. Lines with different ``session`` values are separate dialogues.

Lines without times get estimated ones (about 150 words a minute, a short pause between
turns), and the dialogue says so (``times_estimated``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import InputError
from assistant.events import SPEAKERS, Utterance

SECONDS_PER_WORD = 0.4  # 150 words a minute
MIN_TURN_S = 0.6
PAUSE_S = 0.4
MAX_TEXT_CHARS = 20_000


@dataclass
class WrittenDialogue:
    session: str
    utterances: list[Utterance] = field(default_factory=list)
    times_estimated: bool = False


def _time(path: Path, line: int, obj: dict[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(path, f"'{key}' must be a number of seconds, got {value!r}", line)
    if value < 0:
        raise InputError(path, f"'{key}' must not be negative, got {value!r}", line)
    return float(value)


def _duration(text: str) -> float:
    return max(len(text.split()) * SECONDS_PER_WORD, MIN_TURN_S)


def read_transcript(path: Path, default_session: str) -> list[WrittenDialogue]:
    """Parse and check the whole file; raise InputError naming the first bad line."""
    if not path.exists():
        raise InputError(path, "no such file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"is not UTF-8 text (byte {exc.start})") from exc
    dialogues: dict[str, WrittenDialogue] = {}
    seen_ids: dict[str, set[str | int]] = {}
    counters: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            message = f"not valid JSON ({exc.msg} at column {exc.colno})"
            raise InputError(path, message, number) from None
        if not isinstance(obj, dict):
            raise InputError(path, "each line must be a JSON object", number)
        speaker = obj.get("speaker")
        if speaker not in SPEAKERS:
            raise InputError(
                path, f"unknown speaker {speaker!r} (expected 'therapist' or 'client')", number
            )
        utterance_text = obj.get("text")
        if not isinstance(utterance_text, str):
            raise InputError(path, "'text' must be a string", number)
        if len(utterance_text) > MAX_TEXT_CHARS:
            raise InputError(path, f"'text' is longer than {MAX_TEXT_CHARS} characters", number)
        session = obj.get("session", default_session)
        if not isinstance(session, str):
            raise InputError(path, f"'session' must be a string, got {session!r}", number)
        start = _time(path, number, obj, "start")
        end = _time(path, number, obj, "end")
        if start is not None and end is not None and end < start:
            raise InputError(path, f"'end' ({end}) is before 'start' ({start})", number)
        dialogue = dialogues.setdefault(session, WrittenDialogue(session))
        ids = seen_ids.setdefault(session, set())
        counters[session] = counters.get(session, 0) + 1
        if "id" in obj:
            uid = obj["id"]
            if isinstance(uid, bool) or not isinstance(uid, str | int):
                raise InputError(path, f"'id' must be a string or an integer, got {uid!r}", number)
        else:
            uid = f"u{counters[session]}"
        if uid in ids:
            raise InputError(path, f"duplicate id {uid!r} in session {session!r}", number)
        ids.add(uid)
        previous_end = dialogue.utterances[-1].end if dialogue.utterances else None
        if start is None or end is None:
            dialogue.times_estimated = True
            if start is None and end is not None:
                start = max(end - _duration(utterance_text), 0.0)
            elif start is None:
                start = 0.0 if previous_end is None else previous_end + PAUSE_S
            if end is None:
                end = start + _duration(utterance_text)
        dialogue.utterances.append(
            Utterance(id=uid, speaker=speaker, start=start, end=end, text=utterance_text.strip())
        )
    if not dialogues:
        raise InputError(path, "holds no utterances")
    return list(dialogues.values())
