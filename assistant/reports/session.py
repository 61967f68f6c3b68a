"""A session's stored events, sorted into what the exports need: final utterances in time
order, cues, the summary and notices, with the listening counts either from the summary
(what Attune reported) or, without one, computed from the labels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assistant.cues.metrics import listening_counts
from assistant.events import Speaker, Utterance

Event = dict[str, Any]

THERAPIST_LABELS: tuple[str, ...] = ("behaviour", "question", "reflection", "input")
CLIENT_LABELS: tuple[str, ...] = ("talk_type", "disclosure")
LABEL_COLUMNS: tuple[str, ...] = THERAPIST_LABELS + CLIENT_LABELS


@dataclass(frozen=True, slots=True)
class ReportMeta:
    """What the store knows about a session besides its events (all optional)."""

    session_id: str
    label: str = ""
    planned_minutes: int | None = None
    created_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(slots=True)
class SessionEvents:
    utterances: list[Event] = field(default_factory=list)
    cues: list[Event] = field(default_factory=list)
    notices: list[Event] = field(default_factory=list)
    summary: Event | None = None
    events: list[Event] = field(default_factory=list)

    @classmethod
    def of(cls, events: Iterable[Mapping[str, Any]]) -> SessionEvents:
        out = cls()
        for raw in events:
            event = dict(raw)
            out.events.append(event)
            kind = event.get("type")
            if kind == "utterance" and event.get("final", True):
                out.utterances.append(event)
            elif kind == "cue":
                out.cues.append(event)
            elif kind == "notice":
                out.notices.append(event)
            elif kind == "summary":
                out.summary = event  # the last one wins
        out.utterances.sort(key=lambda u: (seconds(u.get("start")), seconds(u.get("end"))))
        out.cues.sort(key=lambda c: seconds(c.get("at")))
        return out

    def cues_by_utterance(self) -> dict[str, list[Event]]:
        by: dict[str, list[Event]] = {}
        for cue in self.cues:
            uid = cue.get("utterance_id")
            if uid is not None:
                by.setdefault(str(uid), []).append(cue)
        return by

    def duration(self) -> float:
        ends = [seconds(u.get("end")) for u in self.utterances]
        ends += [seconds(c.get("at")) for c in self.cues]
        if self.summary is not None:
            ends.append(seconds(self.summary.get("duration")))
        return max(ends, default=0.0)

    def listening(self) -> dict[str, Any]:
        """Open/closed questions, reflections, R:Q, complex share, advice, client talk."""
        if self.summary is not None and isinstance(self.summary.get("listening"), dict):
            return dict(self.summary["listening"])
        return listening_counts(as_utterance(u) for u in self.utterances)

    def talk_time(self) -> dict[str, float | None]:
        """Seconds of speech per speaker and the therapist's share of it."""
        if self.summary is not None and isinstance(self.summary.get("talk_time"), dict):
            t = self.summary["talk_time"]
            return {
                "therapist": float(t.get("therapist") or 0.0),
                "client": float(t.get("client") or 0.0),
                "therapist_share": t.get("therapist_share"),
            }
        spoken = {"therapist": 0.0, "client": 0.0}
        for u in self.utterances:
            if u.get("speaker") in spoken:
                spoken[u["speaker"]] += max(0.0, seconds(u.get("end")) - seconds(u.get("start")))
        total = spoken["therapist"] + spoken["client"]
        share = round(spoken["therapist"] / total, 3) if total > 0 else None
        return {
            "therapist": round(spoken["therapist"], 3),
            "client": round(spoken["client"], 3),
            "therapist_share": share,
        }

    def cue_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for cue in self.cues:
            entry = counts.setdefault(str(cue.get("kind")), {"raised": 0, "shown": 0})
            entry["raised"] += 1
            entry["shown"] += bool(cue.get("shown"))
        return dict(sorted(counts.items()))


def seconds(value: Any) -> float:
    """A time field as seconds (0 when missing or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def as_utterance(event: Mapping[str, Any]) -> Utterance:
    speaker: Speaker = "therapist" if event.get("speaker") == "therapist" else "client"
    return Utterance(
        id=event.get("id", ""),
        speaker=speaker,
        start=seconds(event.get("start")),
        end=seconds(event.get("end")),
        text=str(event.get("text", "")),
        final=True,
        labels=event.get("labels") if isinstance(event.get("labels"), dict) else None,
    )


def label_tags(labels: Mapping[str, Any] | None) -> list[str]:
    """Short human names of an utterance's codes (as the panel shows them)."""
    if not labels:
        return []
    out: list[str] = []
    if labels.get("question"):
        out.append(f"{labels['question']} question")
    if labels.get("reflection"):
        out.append(f"{labels['reflection']} reflection")
    if labels.get("input"):
        out.append(str(labels["input"]))
    if labels.get("talk_type") in ("change", "sustain"):
        out.append(f"{labels['talk_type']} talk")
    if labels.get("disclosure") is True:
        out.append("disclosure")
    return out


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty dict."""
    return dict(value) if isinstance(value, Mapping) else {}
