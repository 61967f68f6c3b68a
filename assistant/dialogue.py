"""The dialogue stream: both speakers' final utterances merged in time order, then the
dialogue stages (cue coding, cue rules, summary) that need both speakers.

A recording's utterances are merged by start time (``in_time_order``); the live room
publishes turns in the order they end, which is when each is complete. ``Dialogue`` runs the
stages on each utterance and returns the events to publish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from assistant.cues.catalog import CueOptions
from assistant.events import SPEAKERS, Event, Utterance


def in_time_order(utterances: Iterable[Utterance]) -> list[Utterance]:
    """Both speakers' final utterances of a recording as one stream, by start time."""
    return sorted(utterances, key=lambda u: (u.start, u.end))


class Annotator(Protocol):
    """A stage that adds ``labels`` to a final utterance before it is published."""

    def annotate(self, utterance: Utterance, history: Sequence[Utterance]) -> None: ...

    def annotate_all(self, utterances: Sequence[Utterance]) -> None:
        """Label a whole known dialogue at once (each in the context of those before it)."""
        ...


class Observer(Protocol):
    """A stage that reads the published utterances and may emit events (cues, summary)."""

    def observe(self, utterance: Utterance, history: Sequence[Utterance]) -> list[Event]: ...

    def finish(self, end: float) -> list[Event]: ...


class SummaryStage:
    """Counts for the end-of-dialogue ``summary`` event."""

    def __init__(
        self,
        session: str,
        *,
        times_estimated: bool = False,
        cue_counts: Callable[[], dict[str, dict[str, int]]] | None = None,
    ) -> None:
        self.session = session
        self.times_estimated = times_estimated
        self.cue_counts = cue_counts
        self.labelled: list[Utterance] = []
        self.utterances = {s: 0 for s in SPEAKERS}
        self.words = {s: 0 for s in SPEAKERS}
        self.talk_time = {s: 0.0 for s in SPEAKERS}

    def observe(self, utterance: Utterance, history: Sequence[Utterance]) -> list[Event]:
        self.utterances[utterance.speaker] += 1
        self.words[utterance.speaker] += len(utterance.text.split())
        self.talk_time[utterance.speaker] += max(utterance.end - utterance.start, 0.0)
        if utterance.labels is not None:
            self.labelled.append(utterance)
        return []

    def finish(self, end: float) -> list[Event]:
        total = sum(self.talk_time.values())
        share = round(self.talk_time["therapist"] / total, 3) if total > 0 else None
        summary: Event = {
            "type": "summary",
            "session": self.session,
            "duration": round(end, 3),
            "utterances": dict(self.utterances),
            "words": dict(self.words),
            "talk_time": {
                "therapist": round(self.talk_time["therapist"], 3),
                "client": round(self.talk_time["client"], 3),
                "therapist_share": share,
            },
            "times_estimated": self.times_estimated,
        }
        if self.labelled:
            from assistant.cues.metrics import listening_counts

            summary["listening"] = listening_counts(self.labelled)
        if self.cue_counts is not None:
            summary["cues"] = self.cue_counts()
        return [summary]


@dataclass
class DialogueStages:
    """Builds the dialogue stages of one session: annotators (the cue coder), the cue rules
    (when ``cues`` is set) and the summary."""

    annotators: list[Annotator] = field(default_factory=list)
    cues: CueOptions | None = None

    def dialogue(
        self, session: str, *, times_estimated: bool, planned_minutes: float | None = None
    ) -> Dialogue:
        observers: list[Observer] = []
        counts: Callable[[], dict[str, dict[str, int]]] | None = None
        if self.cues is not None:
            from assistant.cues.rules import CueEngine

            options = self.cues
            if planned_minutes is not None:
                options = replace(options, planned_minutes=planned_minutes)
            engine = CueEngine(session, options)
            observers.append(engine)

            def counts() -> dict[str, dict[str, int]]:
                return {
                    kind: {"raised": n, "shown": engine.shown.get(kind, 0)}
                    for kind, n in sorted(engine.raised.items())
                }

        observers.append(SummaryStage(session, times_estimated=times_estimated, cue_counts=counts))
        return Dialogue(session, self.annotators, observers)


class Dialogue:
    """One session's dialogue stream: annotate, publish, observe."""

    def __init__(
        self,
        session: str,
        annotators: Iterable[Annotator] = (),
        observers: Iterable[Observer] = (),
    ) -> None:
        self.session = session
        self.annotators = list(annotators)
        self.observers = list(observers)
        self.history: list[Utterance] = []
        self.end = 0.0

    def process(self, utterance: Utterance) -> list[Event]:
        """Events for one final utterance, the utterance's own event first."""
        if utterance.labels is None:
            for annotator in self.annotators:
                annotator.annotate(utterance, self.history)
        events = [utterance.event(self.session)]
        for observer in self.observers:
            events.extend(observer.observe(utterance, self.history))
        self.history.append(utterance)
        self.end = max(self.end, utterance.end)
        return events

    def process_all(self, utterances: Sequence[Utterance]) -> list[Event]:
        """A whole known dialogue: annotated in batches (faster), then processed in order."""
        for annotator in self.annotators:
            annotator.annotate_all(utterances)
        events: list[Event] = []
        for utterance in utterances:
            events.extend(self.process(utterance))
        return events

    def tick(self, now: float) -> list[Event]:
        """Time passes on the session clock without a new utterance."""
        events: list[Event] = []
        for observer in self.observers:
            tick = getattr(observer, "tick", None)
            if tick is not None:
                events.extend(tick(now, self.history))
        return events

    def finish(self, end: float | None = None) -> list[Event]:
        final_end = max(self.end, end or 0.0)
        events: list[Event] = []
        for observer in self.observers:
            events.extend(observer.finish(final_end))
        return events
