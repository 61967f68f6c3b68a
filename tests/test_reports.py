"""Exports of a session's stored events: WebVTT, JSON lines, CSV, the printable HTML report,
the figures over time and `attune export` on a real SQLite store."""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import argon2
import pytest

from assistant.cues.metrics import listening_counts
from assistant.events import Utterance, notice_event, validate_event
from assistant.reports import ReportMeta, content_security_policy, over_time, render
from assistant.reports.cli import main as export_main
from assistant.reports.csv_export import COLUMNS
from assistant.reports.html_report import STYLE
from assistant.reports.session import SessionEvents, as_utterance
from assistant.reports.vtt import escape_text, timestamp, to_vtt
from assistant.store import SqlStore, open_store

FAST_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
NASTY = 'I said <script>alert("x")</script> & then --> left\nearly'

# (speaker, start, end, text, labels, cue kinds raised on it)
Turn = tuple[str, float, float, str, dict[str, Any], list[str]]
# fmt: off
TURNS: list[Turn] = [
    ("therapist", 0.0, 4.8, "Thanks for coming in today. What would you like to talk about?",
     {"behaviour": "question", "question": "open", "reflection": None, "input": None},
     ["affirmation"]),
    ("client", 5.2, 11.6, "My doctor says I should cut down on drinking.",
     {"talk_type": "change", "disclosure": False}, []),
    ("therapist", 12.0, 14.0, "Do you drink every day?",
     {"behaviour": "question", "question": "closed", "reflection": None, "input": None},
     ["missed_reflection", "closed_question"]),
    ("client", 14.4, 18.8, "Most days. A few beers after work, more at the weekend.",
     {"talk_type": "neutral", "disclosure": False}, []),
    ("therapist", 19.2, 22.0, "You should stop drinking during the week.",
     {"behaviour": "therapist_input", "question": None, "reflection": None, "input": "advice"},
     ["advice_without_permission"]),
    ("client", 22.4, 31.2, "I feel so lonely in the evenings since my wife left.",
     {"talk_type": "sustain", "disclosure": True}, []),
    ("therapist", 30.6, 34.0, "How many beers is a few?",
     {"behaviour": "question", "question": "open", "reflection": None, "input": None},
     ["missed_reflection", "interruption"]),
    ("client", 34.4, 38.0, NASTY, {"talk_type": "neutral", "disclosure": False}, []),
    ("therapist", 38.4, 42.0, "=HYPERLINK(\"http://x\") sounds hard, evenings alone.",
     {"behaviour": "reflection", "question": None, "reflection": "simple", "input": None}, []),
    ("client", 42.4, 50.0, "Yes. I want to be there for my kids.",
     {"talk_type": "change", "disclosure": True}, []),
    ("therapist", 50.4, 56.0, "Being a good father matters a lot to you, more than the beer.",
     {"behaviour": "reflection", "question": None, "reflection": "complex", "input": None},
     ["affirmation"]),
    ("client", 56.4, 62.0, "It does. I could start with weeknights.",
     {"talk_type": "change", "disclosure": False}, []),
    ("therapist", 3662.0, 3665.5, "What would help you keep to that?",
     {"behaviour": "question", "question": "open", "reflection": None, "input": None}, []),
]
# fmt: on


_MADE: dict[tuple[str, str, float | None], list[dict[str, Any]]] = {}


def sample_events(
    session: str = "intake-7", turns: list[Turn] = TURNS, time_check_at: float | None = 2700.0
) -> list[dict[str, Any]]:
    """A realistic session as the store returns it (final utterances with labels, cues,
    a notice and the summary), every event valid against the schema. (A fresh copy each
    call; made and validated once.)"""
    made_key = (session, json.dumps(turns), time_check_at)
    if made_key not in _MADE:
        _MADE[made_key] = _make_events(session, turns, time_check_at)
    return copy.deepcopy(_MADE[made_key])


def _make_events(
    session: str, turns: list[Turn], time_check_at: float | None
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    utterances: list[Utterance] = []
    n = {"therapist": 0, "client": 0}
    cue_no = 0
    shown_kinds: dict[str, dict[str, int]] = {}
    for speaker, start, end, text, labels, kinds in turns:
        n[speaker] += 1
        u = Utterance(f"{speaker[0]}{n[speaker]}", speaker, start, end, text, True, labels)  # type: ignore[arg-type]
        utterances.append(u)
        events.append(u.event(session))
        for kind in kinds:
            cue_no += 1
            shown = kind != "closed_question"
            cue: dict[str, Any] = {
                "type": "cue",
                "session": session,
                "id": f"cue-{cue_no}",
                "kind": kind,
                "utterance_id": u.id,
                "at": end,
                "message": f"A gentle note about {kind} <b>bold</b>",
                "shown": shown,
            }
            if kind == "missed_reflection":
                cue["client_utterance_id"] = f"c{n['client']}"
            events.append(cue)
            entry = shown_kinds.setdefault(kind, {"raised": 0, "shown": 0})
            entry["raised"] += 1
            entry["shown"] += shown
    if time_check_at is not None:
        events.append(
            {
                "type": "cue",
                "session": session,
                "id": "cue-time",
                "kind": "time_check",
                "utterance_id": None,
                "at": time_check_at,
                "message": "About 5 minutes left of the time you agreed.",
                "shown": True,
            }
        )
        shown_kinds["time_check"] = {"raised": 1, "shown": 1}
    events.insert(3, notice_event(session, 13.0, "transcription_lagging", "transcription lags"))
    t = sum(u.end - u.start for u in utterances if u.speaker == "therapist")
    c = sum(u.end - u.start for u in utterances if u.speaker == "client")
    words = {s: sum(len(u.text.split()) for u in utterances if u.speaker == s) for s in n}
    events.append(
        {
            "type": "summary",
            "session": session,
            "duration": max(u.end for u in utterances),
            "utterances": dict(n),
            "words": words,
            "talk_time": {
                "therapist": round(t, 3),
                "client": round(c, 3),
                "therapist_share": round(t / (t + c), 3),
            },
            "times_estimated": False,
            "listening": listening_counts(utterances),
            "cues": dict(sorted(shown_kinds.items())),
        }
    )
    for event in events:
        validate_event(event)
    return events


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return sample_events()


def utterances_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return SessionEvents.of(events).utterances


# -- WebVTT ---------------------------------------------------------------------------------

TIME = r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})"


def seconds_of(stamp: str) -> float:
    m = re.fullmatch(TIME, stamp)
    assert m, stamp
    h, mi, s, ms = (int(g) for g in m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000


def test_vtt_is_exact_for_a_small_input() -> None:
    events = [
        Utterance("t1", "therapist", 0.0, 1.5, "Hello & welcome <there>").event("s"),
        Utterance(7, "client", 1.75, 3661.25, "Hi.\n\nThanks").event("s"),
    ]
    assert to_vtt(events) == (
        "WEBVTT\n\n"
        "t1\n00:00:00.000 --> 00:00:01.500\n<v Therapist>Hello &amp; welcome &lt;there&gt;\n\n"
        "7\n00:00:01.750 --> 01:01:01.250\n<v Client>Hi. Thanks\n"
    )


def test_vtt_parses_with_monotonic_times_and_escaped_text(events: list[dict[str, Any]]) -> None:
    text = to_vtt(events)
    assert text.startswith("WEBVTT\n\n")
    blocks = [b for b in text.split("\n\n")[1:] if b.strip()]
    expected = utterances_of(events)
    assert len(blocks) == len(expected)
    previous = -1.0
    for block, u in zip(blocks, expected, strict=True):
        ident, timing, payload = block.strip("\n").split("\n")
        assert ident == str(u["id"])
        start_s, arrow, end_s = timing.split(" ")
        assert arrow == "-->"
        start, end = seconds_of(start_s), seconds_of(end_s)
        assert start >= previous and end > start
        assert start == pytest.approx(u["start"]) and end == pytest.approx(u["end"])
        previous = start
        voice = "Therapist" if u["speaker"] == "therapist" else "Client"
        assert payload == f"<v {voice}>{escape_text(u['text'])}"
        assert "<" not in payload[len(f"<v {voice}>") :]
        assert "-->" not in payload
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; then --&gt; left early' in text
    assert timestamp(3665.5) == "01:01:05.500"


# -- JSON lines and CSV --------------------------------------------------------------------


def test_json_lines_equal_the_input_events(events: list[dict[str, Any]]) -> None:
    rendered = render("jsonl", events, ReportMeta("intake-7"))
    assert rendered.media_type.startswith("application/x-ndjson")
    lines = rendered.content.decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == events
    for line in lines:
        validate_event(json.loads(line))


def test_csv_round_trips_with_the_csv_module(events: list[dict[str, Any]]) -> None:
    text = render("csv", events, ReportMeta("intake-7")).content.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert tuple(rows[0].keys()) == COLUMNS
    expected = utterances_of(events)
    assert len(rows) == len(expected)
    cues = SessionEvents.of(events).cues_by_utterance()
    for row, u in zip(rows, expected, strict=True):
        assert row["id"] == str(u["id"])
        assert row["speaker"] == u["speaker"]
        assert float(row["start"]) == pytest.approx(u["start"])
        assert float(row["end"]) == pytest.approx(u["end"])
        if u["text"].startswith("="):  # formula injection is defused, nothing else changes
            assert row["text"] == "'" + u["text"]
        else:
            assert row["text"] == u["text"]
        for name in ("behaviour", "question", "reflection", "input", "talk_type"):
            value = u["labels"].get(name)
            assert row[name] == ("" if value is None else value)
        if "disclosure" in u["labels"]:
            assert row["disclosure"] == str(u["labels"]["disclosure"]).lower()
        kinds = [c["kind"] for c in cues.get(str(u["id"]), [])]
        assert row["cues"] == ";".join(kinds)
    assert NASTY in [r["text"] for r in rows]  # newlines and quotes survive the round trip


# -- the HTML report ------------------------------------------------------------------------


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_report_holds_counts_charts_and_escapes_content(events: list[dict[str, Any]]) -> None:
    meta = ReportMeta("intake-7", label="Intake <img src=x onerror=alert(1)>", planned_minutes=50)
    notes = [
        {
            "utterance_id": "c4",
            "kind": "comment",
            "body": {"text": "<script>bad()</script>"},
            "author": "trainer<1>",
        },
        {
            "utterance_id": "t2",
            "kind": "label_correction",
            "body": {"labels": {"question": "open"}},
            "author": "sam",
        },
    ]
    html = render("html", events, meta, notes).content.decode("utf-8")
    # no scripts, no external resources, all content escaped
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;script&gt;bad()&lt;/script&gt;" in html and "trainer&lt;1&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>bold</b>" not in html
    parser = Collect()
    parser.feed(html)
    names = [t for t, _ in parser.tags]
    assert "link" not in names and "iframe" not in names and "img" not in names
    assert not [a for _, attrs in parser.tags for a in attrs if a.startswith("on")]
    assert not [t for t, attrs in parser.tags if "src" in attrs or "href" in attrs]
    urls = {v for _, attrs in parser.tags for v in attrs.values() if v and "://" in v}
    assert urls == {"http://www.w3.org/2000/svg"}  # only the SVG namespace
    # the summary counts against the MITI thresholds
    listening = sample_events()[-1]["listening"]
    counts = dict(re.findall(r'<tr data-count="(\w+)"><th>[^<]*</th><td class="num">(\d+)<', html))
    assert counts["open_questions"] == str(listening["questions"]["open"]) == "3"
    assert counts["closed_questions"] == "1"
    assert counts["simple_reflections"] == "1" and counts["complex_reflections"] == "1"
    assert counts["advice"] == "1" and counts["change_talk"] == "3"
    assert counts["therapist_utterances"] == "7" and counts["client_utterances"] == "6"
    assert listening["reflection_to_question"] == 0.5
    assert re.search(r'data-figure="reflection_to_question">.*?0\.50 : 1.*?below fair', html)
    assert re.search(r'data-figure="complex_share">.*?50%.*?good', html)
    assert "fair 1 : 1, good 2 : 1 (MITI 4.2)" in html and "fair 40%, good 50%" in html
    # charts: one bar per turn, one marker per cue; two line charts with points
    assert html.count('class="turn"') == len(utterances_of(events))
    assert html.count('class="cue-marker"') == len(SessionEvents.of(events).cues)
    assert html.count('class="series"') == 2
    assert "@media print" in html
    assert "sam corrected the codes to question: open" in html
    # the CSP allows exactly the one style block
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in content_security_policy()
    assert f"<style>{STYLE}</style>" in html


def test_html_report_without_summary_or_events() -> None:
    html = render("html", [], ReportMeta("empty")).content.decode()
    assert "No transcript was stored" in html and "No cues were raised" in html
    events = [e for e in sample_events() if e["type"] != "summary"]
    html = render("html", events, ReportMeta("s")).content.decode()
    assert re.search(r'data-count="open_questions"><th>[^<]*</th><td class="num">3<', html)


def test_figures_over_time_end_at_the_session_totals(events: list[dict[str, Any]]) -> None:
    points = over_time(utterances_of(events))
    assert len(points) == len(utterances_of(events))
    assert [p.at for p in points] == sorted(p.at for p in points)
    summary = events[-1]
    assert points[-1].talk_share == summary["talk_time"]["therapist_share"]
    assert points[-1].reflection_to_question == summary["listening"]["reflection_to_question"]
    assert points[0].reflection_to_question == 0.0 and points[0].talk_share == 1.0
    assert as_utterance(utterances_of(events)[0]).speaker == "therapist"


# -- attune export -------------------------------------------------------------------------


def seeded_store(data: Path, events: list[dict[str, Any]]) -> SqlStore:
    store = open_store(data, password_hasher=FAST_HASHER)
    therapist = store.add_user("dr-lee", "therapist", "correct horse battery")
    store.create_session(therapist.id, session_id="intake-7", label="Intake", planned_minutes=50)
    for event in events:
        store.append_event("intake-7", event)
    return store


def test_attune_export_writes_each_format_atomically_and_audits(
    tmp_path: Path, events: list[dict[str, Any]], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    data = tmp_path / "data"
    seeded_store(data, events).close()
    for fmt in ("vtt", "jsonl", "csv", "html"):
        out = tmp_path / f"out.{fmt}"
        assert (
            export_main(["intake-7", "--format", fmt, "--out", str(out), "--data", str(data)]) == 0
        )
        assert out.read_bytes().startswith(
            {"vtt": b"WEBVTT", "jsonl": b'{"type"', "csv": b"id,speaker", "html": b"<!doctype"}[fmt]
        )
        assert not list(tmp_path.glob(".out.*.partial"))
    assert [
        json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()
    ] == events
    assert export_main(["intake-7", "--format", "vtt", "--data", str(data)]) == 0
    assert capsysbinary.readouterr().out == (tmp_path / "out.vtt").read_bytes()
    store = open_store(data)
    try:
        exported = [e for e in store.audit_log("intake-7") if e.action == "session.exported"]
        assert [e.detail["format"] for e in exported] == ["vtt", "jsonl", "csv", "html", "vtt"]
        assert all(e.actor_label == "cli" for e in exported)
    finally:
        store.close()


def test_attune_export_refuses_unknown_sessions_and_stores(
    tmp_path: Path, events: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    seeded_store(data, events).close()
    out = tmp_path / "never.csv"
    assert export_main(["nope", "--format", "csv", "--out", str(out), "--data", str(data)]) == 2
    assert "no session 'nope'" in capsys.readouterr().err
    assert not out.exists()
    assert export_main(["intake-7", "--format", "csv", "--data", str(tmp_path / "empty")]) == 2
    assert "no Attune store" in capsys.readouterr().err
    missing = tmp_path / "no-such-folder" / "x.csv"
    assert (
        export_main(["intake-7", "--format", "csv", "--out", str(missing), "--data", str(data)])
        == 2
    )
    with pytest.raises(SystemExit):
        export_main(["intake-7", "--format", "pdf", "--data", str(data)])
