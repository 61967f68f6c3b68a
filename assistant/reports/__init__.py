"""Exports of a session's stored events: WebVTT, JSON lines, CSV and a printable HTML report
with inline SVG charts. See docs/replay.md.

``render(fmt, events, meta)`` gives any of them as bytes with its media type and file
extension; ``attune export`` (:mod:`assistant.reports.cli`) and the replay routes use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assistant.reports.csv_export import to_csv
from assistant.reports.html_report import content_security_policy, to_html
from assistant.reports.jsonl import to_jsonl
from assistant.reports.session import ReportMeta, SessionEvents
from assistant.reports.timeseries import Point, over_time
from assistant.reports.vtt import to_vtt

Format = Literal["vtt", "jsonl", "csv", "html"]
FORMATS: tuple[Format, ...] = ("vtt", "jsonl", "csv", "html")
MEDIA_TYPES: dict[Format, str] = {
    "vtt": "text/vtt; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Rendered:
    content: bytes
    media_type: str
    extension: str


def render(
    fmt: Format,
    events: Iterable[Mapping[str, Any]],
    meta: ReportMeta,
    annotations: Sequence[Mapping[str, Any]] | None = None,
) -> Rendered:
    """One export of a session's events (``annotations`` only matter to the HTML report)."""
    events = list(events)
    if fmt == "vtt":
        text = to_vtt(events)
    elif fmt == "jsonl":
        text = to_jsonl(events)
    elif fmt == "csv":
        text = to_csv(events)
    elif fmt == "html":
        text = to_html(events, meta, annotations)
    else:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    return Rendered(text.encode("utf-8"), MEDIA_TYPES[fmt], fmt)


__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "Format",
    "Point",
    "Rendered",
    "ReportMeta",
    "SessionEvents",
    "content_security_policy",
    "over_time",
    "render",
    "to_csv",
    "to_html",
    "to_jsonl",
    "to_vtt",
]
