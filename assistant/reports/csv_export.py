"""CSV: one row per final utterance with its codes and the cues raised on it.

Cells from the input (ids, transcript text) that a spreadsheet would run as a formula
(starting with ``= + - @``, a tab or a carriage return) get a leading apostrophe, as OWASP
recommends against CSV injection; every other cell is written as is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from assistant.reports.session import LABEL_COLUMNS, SessionEvents, as_dict, seconds

COLUMNS: tuple[str, ...] = ("id", "speaker", "start", "end", "text", *LABEL_COLUMNS, "cues")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(events: Iterable[Mapping[str, Any]]) -> str:
    session = SessionEvents.of(events)
    cues = session.cues_by_utterance()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for u in session.utterances:
        labels = as_dict(u.get("labels"))
        raised = cues.get(str(u.get("id")), [])
        writer.writerow(
            [
                defuse(_cell(u.get("id"))),
                _cell(u.get("speaker")),
                f"{seconds(u.get('start')):.3f}",
                f"{seconds(u.get('end')):.3f}",
                defuse(_cell(u.get("text"))),
                *(_cell(labels.get(k)) for k in LABEL_COLUMNS),
                ";".join(str(c.get("kind")) for c in raised),
            ]
        )
    return out.getvalue()
