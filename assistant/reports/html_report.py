"""A printable, self-contained HTML report of one session: the listening counts against the
MITI 4.2 thresholds, inline SVG charts (timeline with cues, talk share and reflection to
question ratio over time), the cue list and the transcript with its codes and annotations.

No scripts and no external resources; every piece of content (it is untrusted speech text)
is escaped. The one ``<style>`` block is the constant :data:`STYLE`, so a server can allow
it by hash in a strict Content-Security-Policy (:func:`content_security_policy`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from assistant.cues.metrics import (
    COMPLEX_FAIR,
    COMPLEX_GOOD,
    RQ_FAIR,
    RQ_GOOD,
    TALK_SHARE_HIGH_QUALITY,
    TALK_SHARE_LOW_QUALITY,
)
from assistant.reports import svg
from assistant.reports.session import ReportMeta, SessionEvents, as_dict, label_tags, seconds
from assistant.reports.timeseries import over_time

CUE_NAMES = {
    "missed_reflection": "Missed reflection",
    "judgmental_language": "Judgmental wording",
    "advice_without_permission": "Advice without permission",
    "interruption": "Interruption",
    "time_check": "Time check",
    "closed_question": "Closed question",
    "question_streak": "Question streak",
    "low_reflection_ratio": "Reflections vs questions",
    "talk_time": "Talk time",
    "affirmation": "Well done",
}

STYLE = """
:root { --ink: #1f2a30; --muted: #5d6b72; --accent: #2f6f6a; --warn: #9a3b2e; --line: #dfe3e1; }
body { font-family: system-ui, sans-serif; color: var(--ink); margin: 2rem auto; max-width: 60rem;
  padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem;
  border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; }
.meta { color: var(--muted); margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; vertical-align: top; padding: 0.3rem 0.5rem;
  border-bottom: 1px solid var(--line); }
table.counts { width: auto; min-width: 22rem; }
th { font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.good { color: #3f6b25; font-weight: 600; } .fair { color: #7a6520; font-weight: 600; }
.low { color: var(--warn); font-weight: 600; } .none { color: var(--muted); }
.tag { display: inline-block; font-size: 0.75rem; border: 1px solid var(--line);
  border-radius: 10px; padding: 0 0.4rem; margin: 0 0.2rem 0.1rem 0; color: var(--muted); }
.tag.cue { border-color: var(--warn); color: var(--warn); }
.who { white-space: nowrap; color: var(--muted); } tr.client .who { color: var(--accent); }
.note { font-size: 0.85rem; margin: 0.2rem 0 0; color: var(--accent); }
.chart { display: block; margin: 0.5rem 0 1rem; }
.legend { font-size: 0.8rem; color: var(--muted); }
.legend b.therapist { color: #2f6f6a; } .legend b.client { color: #8a9bab; }
.legend b.cue { color: #9a3b2e; } .legend b.positive { color: #5b8a3a; }
footer { margin-top: 2rem; color: var(--muted); font-size: 0.8rem; }
@page { margin: 15mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; } tr, .chart, .figures { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def content_security_policy() -> str:
    """A CSP for serving the report: nothing but its own style block."""
    digest = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def level(value: float | None, fair: float, good: float, higher_is_better: bool = True) -> str:
    """``good``, ``fair``, ``low`` or ``none`` against a fair and a good threshold."""
    if value is None:
        return "none"
    if higher_is_better:
        return "good" if value >= good else "fair" if value >= fair else "low"
    return "good" if value <= fair else "fair" if value <= good else "low"


LEVEL_WORDS = {"good": "good", "fair": "fair", "low": "below fair", "none": "no data"}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} : 1"


def _num(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _figures(session: SessionEvents) -> str:
    listening = session.listening()
    talk = session.talk_time()
    rq = listening.get("reflection_to_question")
    cx = listening.get("complex_share")
    share = talk.get("therapist_share")
    rows = [
        (
            "Reflections : questions",
            "reflection_to_question",
            _ratio(rq),
            f"fair {RQ_FAIR:g} : 1, good {RQ_GOOD:g} : 1 (MITI 4.2)",
            level(rq, RQ_FAIR, RQ_GOOD),
        ),
        (
            "Complex reflections",
            "complex_share",
            _pct(cx),
            f"fair {COMPLEX_FAIR:.0%}, good {COMPLEX_GOOD:.0%} (MITI 4.2)",
            level(cx, COMPLEX_FAIR, COMPLEX_GOOD),
        ),
        (
            "Therapist talk share",
            "therapist_share",
            _pct(share),
            f"AnnoMI medians: {TALK_SHARE_HIGH_QUALITY:.0%} in high-quality, "
            f"{TALK_SHARE_LOW_QUALITY:.0%} in low-quality sessions",
            level(share, TALK_SHARE_HIGH_QUALITY, TALK_SHARE_LOW_QUALITY, higher_is_better=False),
        ),
    ]
    body = "".join(
        f'<tr data-figure="{key}"><th>{escape(name)}</th><td class="num">{escape(value)}</td>'
        f'<td class="{state}">{LEVEL_WORDS[state]}</td><td>{escape(ref)}</td></tr>'
        for name, key, value, ref, state in rows
    )
    q = as_dict(listening.get("questions"))
    r = as_dict(listening.get("reflections"))
    ct = as_dict(listening.get("client_talk"))
    counts = [
        ("open_questions", "Open questions", _num(q.get("open"))),
        ("closed_questions", "Closed questions", _num(q.get("closed"))),
        ("simple_reflections", "Simple reflections", _num(r.get("simple"))),
        ("complex_reflections", "Complex reflections", _num(r.get("complex"))),
        ("advice", "Advice", _num(listening.get("advice"))),
        ("change_talk", "Client change talk", _num(ct.get("change"))),
        ("neutral_talk", "Client neutral talk", _num(ct.get("neutral"))),
        ("sustain_talk", "Client sustain talk", _num(ct.get("sustain"))),
        ("therapist_utterances", "Therapist turns", _speaker_count(session, "therapist")),
        ("client_utterances", "Client turns", _speaker_count(session, "client")),
    ]
    count_rows = "".join(
        f'<tr data-count="{key}"><th>{escape(name)}</th><td class="num">{n}</td></tr>'
        for key, name, n in counts
    )
    return (
        '<div class="figures"><table class="thresholds"><thead><tr><th>Figure</th>'
        "<th>Value</th><th>Against thresholds</th><th>Thresholds</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
        f'<table class="counts"><tbody>{count_rows}</tbody></table></div>'
    )


def _speaker_count(session: SessionEvents, speaker: str) -> int:
    return sum(1 for u in session.utterances if u.get("speaker") == speaker)


def _cue_table(session: SessionEvents) -> str:
    if not session.cues:
        return "<p>No cues were raised.</p>"
    by_id = {str(u.get("id")): u for u in session.utterances}
    rows = []
    for c in session.cues:
        u = by_id.get(str(c.get("utterance_id")))
        said = escape(str(u.get("text", ""))) if u is not None else ""
        kind = str(c.get("kind"))
        rows.append(
            f'<tr data-kind="{escape(kind)}"><td class="num">{svg.clock(seconds(c.get("at")))}'
            f"</td><td>{escape(CUE_NAMES.get(kind, kind))}</td>"
            f"<td>{'yes' if c.get('shown') else 'no'}</td><td>{said}</td>"
            f"<td>{escape(str(c.get('message', '')))}</td></tr>"
        )
    counts = ", ".join(
        f"{escape(CUE_NAMES.get(k, k))}: {v['raised']} raised, {v['shown']} shown"
        for k, v in session.cue_counts().items()
    )
    return (
        f'<p class="meta">{counts}</p><table class="cues"><thead><tr><th>At</th><th>Cue</th>'
        "<th>Shown live</th><th>Said</th><th>Message</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _annotation_notes(annotations: Sequence[Mapping[str, Any]]) -> str:
    notes = []
    for a in annotations:
        body = as_dict(a.get("body"))
        author = escape(str(a.get("author") or "trainer"))
        if a.get("kind") == "comment":
            notes.append(f'<p class="note">{author}: {escape(str(body.get("text", "")))}</p>')
        elif a.get("kind") == "label_correction":
            labels = as_dict(body.get("labels"))
            fixed = ", ".join(f"{escape(str(k))}: {escape(str(v))}" for k, v in labels.items())
            notes.append(f'<p class="note">{author} corrected the codes to {fixed}</p>')
    return "".join(notes)


def _transcript(session: SessionEvents, annotations: Sequence[Mapping[str, Any]] | None) -> str:
    cues = session.cues_by_utterance()
    notes: dict[str, list[Mapping[str, Any]]] = {}
    for a in annotations or ():
        notes.setdefault(str(a.get("utterance_id")), []).append(a)
    rows = []
    for u in session.utterances:
        uid = str(u.get("id"))
        speaker = "therapist" if u.get("speaker") == "therapist" else "client"
        labels = u.get("labels") if isinstance(u.get("labels"), dict) else None
        tags = "".join(f'<span class="tag">{escape(t)}</span>' for t in label_tags(labels))
        tags += "".join(
            f'<span class="tag cue">{escape(CUE_NAMES.get(str(c.get("kind")), str(c.get("kind"))))}'
            "</span>"
            for c in cues.get(uid, [])
        )
        rows.append(
            f'<tr class="{speaker}" data-id="{escape(uid)}"><td class="num">'
            f"{svg.clock(seconds(u.get('start')))}</td>"
            f'<td class="who">{"Therapist" if speaker == "therapist" else "Client"}</td>'
            f"<td>{escape(str(u.get('text', '')))}"
            f"{'<br>' + tags if tags else ''}{_annotation_notes(notes.get(uid, []))}</td></tr>"
        )
    if not rows:
        return "<p>No transcript was stored for this session.</p>"
    return (
        '<table class="transcript"><thead><tr><th>At</th><th>Who</th><th>What was said</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def to_html(
    events: Iterable[Mapping[str, Any]],
    meta: ReportMeta,
    annotations: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The report as one HTML document. ``annotations``: dicts with ``utterance_id``,
    ``kind``, ``body`` and optionally ``author`` (shown under their utterances)."""
    session = SessionEvents.of(events)
    duration = session.duration()
    points = over_time(session.utterances)
    title = meta.label or meta.session_id
    facts = [f"Session {escape(meta.session_id)}", f"length {svg.clock(duration)}"]
    if meta.created_at is not None:
        facts.append(f"held {escape(meta.created_at.strftime('%Y-%m-%d %H:%M UTC'))}")
    if meta.planned_minutes is not None:
        facts.append(f"planned {meta.planned_minutes} min")
    if session.summary is not None and session.summary.get("times_estimated"):
        facts.append("times estimated from a written dialogue")
    charts = "".join(
        [
            svg.timeline(session.utterances, session.cues, duration),
            '<p class="legend"><b class="therapist">■</b> therapist turns · '
            '<b class="client">■</b> client turns · <b class="cue">▼</b> cue · '
            '<b class="positive">▼</b> affirmation</p>',
            svg.line_chart(
                points,
                duration,
                field="talk_share",
                title="Therapist talk share (cumulative)",
                top=1.0,
                marks=[
                    (TALK_SHARE_HIGH_QUALITY, "AnnoMI high-quality median"),
                    (TALK_SHARE_LOW_QUALITY, "AnnoMI low-quality median"),
                ],
                percent=True,
            ),
            svg.line_chart(
                points,
                duration,
                field="reflection_to_question",
                title="Reflections : questions (cumulative)",
                top=3.0,
                marks=[(RQ_FAIR, "MITI fair"), (RQ_GOOD, "MITI good")],
                percent=False,
            ),
        ]
    )
    notices = "".join(
        f"<li>{svg.clock(seconds(n.get('at')))} {escape(str(n.get('message', '')))}</li>"
        for n in session.notices
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>Attune report · {escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="meta">{" · ".join(facts)}</p>'
        f"<h2>Listening figures</h2>{_figures(session)}"
        f"<h2>Timeline</h2>{charts}"
        f"<h2>Cues</h2>{_cue_table(session)}"
        + (f"<h2>Notices</h2><ul>{notices}</ul>" if notices else "")
        + f"<h2>Transcript</h2>{_transcript(session, annotations)}"
        "<footer>Made by Attune from the session's stored events. Confidential: it holds "
        "what was said in a therapy session.</footer></body></html>\n"
    )
