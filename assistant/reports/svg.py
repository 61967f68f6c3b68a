"""Inline SVG charts for the printable report: no scripts, no external resources, every
text escaped. Colours follow web/style.css."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from assistant.reports.session import seconds
from assistant.reports.timeseries import Point

WIDTH = 960
LEFT, RIGHT = 72, 12
INK, MUTED, LINE = "#1f2a30", "#5d6b72", "#dfe3e1"
THERAPIST, CLIENT = "#2f6f6a", "#8a9bab"
CUE, POSITIVE = "#9a3b2e", "#5b8a3a"


def _x(t: float, duration: float) -> float:
    return round(LEFT + (WIDTH - LEFT - RIGHT) * (t / duration if duration > 0 else 0.0), 2)


def _tick_step(duration: float) -> float:
    for step in (10, 30, 60, 120, 300, 600, 900, 1800):
        if duration / step <= 10:
            return float(step)
    return 3600.0


def clock(t: float) -> str:
    t = max(0, round(t))
    hours, rest = divmod(t, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _axis(duration: float, y: float) -> list[str]:
    parts = [f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="{LINE}"/>']
    step, t = _tick_step(duration), 0.0
    while t <= duration + 1e-9:
        x = _x(t, duration)
        parts.append(f'<line x1="{x}" y1="{y}" x2="{x}" y2="{y + 4}" stroke="{MUTED}"/>')
        parts.append(
            f'<text x="{x}" y="{y + 16}" font-size="11" fill="{MUTED}" '
            f'text-anchor="middle">{clock(t)}</text>'
        )
        t += step
    return parts


def timeline(
    utterances: Sequence[Mapping[str, Any]], cues: Sequence[Mapping[str, Any]], duration: float
) -> str:
    """Both speakers' turns as bars in two lanes, cue markers above them, a time axis."""
    height = 132
    lanes = {"therapist": 34.0, "client": 70.0}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart timeline" viewBox="0 0 {WIDTH} '
        f'{height}" width="100%" role="img" aria-label="Timeline of the session: turns of '
        f'both speakers and the cues raised">',
        f'<text x="0" y="{lanes["therapist"] + 16}" font-size="12" fill="{INK}">Therapist</text>',
        f'<text x="0" y="{lanes["client"] + 16}" font-size="12" fill="{INK}">Client</text>',
        f'<text x="0" y="18" font-size="12" fill="{INK}">Cues</text>',
    ]
    for u in utterances:
        y = lanes.get(str(u.get("speaker")))
        if y is None:
            continue
        start, end = seconds(u.get("start")), seconds(u.get("end"))
        x0, x1 = _x(start, duration), _x(end, duration)
        color = THERAPIST if u.get("speaker") == "therapist" else CLIENT
        parts.append(
            f'<rect class="turn" x="{x0}" y="{y}" width="{max(1.0, round(x1 - x0, 2))}" '
            f'height="24" rx="2" fill="{color}"><title>{escape(clock(start))} '
            f"{escape(str(u.get('speaker')))}: {escape(str(u.get('text', ''))[:200])}"
            "</title></rect>"
        )
    for c in cues:
        x = _x(seconds(c.get("at")), duration)
        color = POSITIVE if c.get("kind") == "affirmation" else CUE
        parts.append(
            f'<path class="cue-marker" d="M{x - 5},6 L{x + 5},6 L{x},16 Z" fill="{color}">'
            f"<title>{escape(clock(seconds(c.get('at'))))} {escape(str(c.get('kind')))}"
            f"</title></path>"
        )
    parts += _axis(duration, 102)
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    points: Sequence[Point],
    duration: float,
    *,
    field: str,
    title: str,
    top: float,
    marks: Sequence[tuple[float, str]],
    percent: bool,
) -> str:
    """A step line of one figure over time, with its threshold lines."""
    height, plot_top, plot_bottom = 150, 24.0, 112.0

    def y(v: float) -> float:
        v = min(max(v, 0.0), top)
        return round(plot_bottom - (plot_bottom - plot_top) * v / top, 2)

    def label(v: float) -> str:
        return f"{round(v * 100)}%" if percent else f"{v:g}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart line" viewBox="0 0 {WIDTH} '
        f'{height}" width="100%" role="img" aria-label="{escape(title)} over time">',
        f'<text x="0" y="14" font-size="12" font-weight="bold" fill="{INK}">{escape(title)}</text>',
    ]
    for value in (0.0, top):
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4}" font-size="10" fill="{MUTED}" '
            f'text-anchor="end">{escape(label(value))}</text>'
        )
    # thresholds: the lower one's name under its line, the upper one's above (they may be close)
    for i, (value, name) in enumerate(marks):
        name_y = y(value) + 11 if i == 0 else y(value) - 3
        parts.append(
            f'<line x1="{LEFT}" y1="{y(value)}" x2="{WIDTH - RIGHT}" y2="{y(value)}" '
            f'stroke="{MUTED}" stroke-dasharray="4 3"/>'
            f'<text x="{WIDTH - RIGHT}" y="{name_y}" font-size="10" fill="{MUTED}" '
            f'text-anchor="end">{escape(name)} {escape(label(value))}</text>'
        )
    coords: list[str] = []
    previous: float | None = None
    for p in points:
        value = getattr(p, field)
        if value is None:
            previous = None
            continue
        x = _x(p.at, duration)
        if previous is not None:
            coords.append(f"{x},{y(previous)}")
        coords.append(f"{x},{y(value)}")
        previous = value
    if coords:
        parts.append(
            f'<polyline class="series" points="{" ".join(coords)}" fill="none" '
            f'stroke="{THERAPIST}" stroke-width="2"/>'
        )
    else:
        parts.append(
            f'<text x="{LEFT + 8}" y="{plot_top + 40}" font-size="12" fill="{MUTED}">no data</text>'
        )
    parts += _axis(duration, plot_bottom + 4)
    parts.append("</svg>")
    return "".join(parts)
