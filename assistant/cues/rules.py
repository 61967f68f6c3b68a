"""Cue rules: an observer on the dialogue stream that raises listening cues from labelled
utterances and the session clock, and decides which of them the live panel shows.

Every cue a rule raises is emitted (trainers want all of them); ``shown`` says whether the
live panel shows it: the kind is switched on, its own judgement says it matters, it wins
over the other cues raised at the same moment (priority order of ``catalog.KINDS``), and no
other cue was shown in the last ``min_interval_s`` seconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.cues import wording
from assistant.cues.catalog import PRIORITY, CueOptions
from assistant.events import Event, Utterance

BACKCHANNEL_WORDS = 2
"""A therapist utterance this short never counts as an interruption. One that also codes as
nothing ("Mm-hmm.", "Okay.", "Right.") is a backchannel (`is_backchannel`): it keeps the
client talking, and is not the answer to what the client shared."""


@dataclass
class Raised:
    kind: str
    utterance: Utterance | None
    at: float
    message: str
    worth_showing: bool = True
    extra: dict[str, Any] | None = None


def _has(labels: dict[str, Any] | None, key: str) -> bool:
    return bool(labels) and labels.get(key) is not None  # type: ignore[union-attr]


def is_backchannel(u: Utterance) -> bool:
    """A short therapist utterance holding no question, reflection or input."""
    codes = ("question", "reflection", "input")
    return len(u.text.split()) <= BACKCHANNEL_WORDS and not any(_has(u.labels, k) for k in codes)


class CueEngine:
    def __init__(self, session: str, options: CueOptions | None = None) -> None:
        self.session = session
        self.options = options or CueOptions()
        self._ids = itertools.count(1)
        self._last_shown: float | None = None
        self._pending_client: Utterance | None = None  # change talk / disclosure to reflect
        self._streak = 0
        self._ratio_fired_at: float | None = None
        self._talk_fired_at: float | None = None
        self._affirmed_at: float | None = None
        self._time_checked = False
        self._interrupted: set[str] = set()
        self.raised: dict[str, int] = {}
        self.shown: dict[str, int] = {}

    # -- the observer interface ------------------------------------------------------------
    def observe(self, utterance: Utterance, history: Sequence[Utterance]) -> list[Event]:
        raised: list[Raised] = []
        if utterance.speaker == "therapist":
            raised += self._therapist(utterance, history)
        else:
            self._client(utterance)
        raised += self._interruptions(utterance, history)
        raised += self._clock(utterance.end, history, utterance)
        return self._emit(raised)

    def tick(self, now: float, history: Sequence[Utterance]) -> list[Event]:
        """Time passes without a new utterance (the live room calls this now and then)."""
        return self._emit(self._clock(now, history, None, time_only=True))

    def finish(self, end: float) -> list[Event]:
        return []

    def set_disabled(self, kinds: frozenset[str]) -> None:
        from dataclasses import replace

        self.options = replace(self.options, disabled=kinds)

    # -- rules -------------------------------------------------------------------------------
    def _client(self, u: Utterance) -> None:
        labels = u.labels or {}
        if labels.get("talk_type") == "change" or labels.get("disclosure"):
            self._pending_client = u

    def _therapist(self, u: Utterance, history: Sequence[Utterance]) -> list[Raised]:
        labels = u.labels or {}
        out: list[Raised] = []
        has_reflection = _has(labels, "reflection")
        has_question = _has(labels, "question")

        pending = self._pending_client
        if is_backchannel(u):
            pending = None  # "Mm-hmm." while the client goes on: the response is still to come
        else:
            self._pending_client = None
        if pending is not None and not has_reflection:
            what = (
                "change talk"
                if (pending.labels or {}).get("talk_type") == "change"
                else ("something that matters to them")
            )
            out.append(
                Raised(
                    "missed_reflection",
                    u,
                    u.end,
                    f'Your client just shared {what}. Reflecting it back ("It sounds like...") '
                    "shows you heard it and invites more.",
                    extra={"client_utterance_id": pending.id},
                )
            )

        if labels.get("question") == "closed":
            rewording = wording.open_rewording(u.text)
            message = "That was a closed question. An open one could invite more"
            message += f': "{rewording}"' if rewording else " (what, how, tell me about...)."
            out.append(
                Raised(
                    "closed_question",
                    u,
                    u.end,
                    message,
                    worth_showing=not wording.checks_a_fact(u.text),
                )
            )

        if has_reflection:
            self._streak = 0
        elif has_question:
            self._streak += 1
            if self._streak >= 3:
                self._streak = 0
                out.append(
                    Raised(
                        "question_streak",
                        u,
                        u.end,
                        "Three questions in a row without a reflection. A reflection before the "
                        "next question helps your client feel heard.",
                    )
                )

        if labels.get("input") == "advice":
            client_before = next((h for h in reversed(history) if h.speaker == "client"), None)
            asked = client_before is not None and wording.asks_for_advice(client_before.text)
            recent = [h for h in history[-4:] if h.speaker == "therapist"] + [u]
            permitted = any(wording.asks_permission(h.text) for h in recent[-3:])
            if not asked and not permitted:
                out.append(
                    Raised(
                        "advice_without_permission",
                        u,
                        u.end,
                        "That sounded like advice your client did not ask for. Asking first "
                        '("Would it be all right if I shared an idea?") keeps it collaborative.',
                    )
                )

        phrase = wording.judgmental_phrase(u.text)
        if phrase:
            out.append(
                Raised(
                    "judgmental_language",
                    u,
                    u.end,
                    f'"{phrase}" may sound like judgment. Clients open up when they feel '
                    "accepted; try describing what you noticed instead.",
                )
            )

        good = (
            "reflection"
            if labels.get("reflection") == "complex"
            else ("open question" if labels.get("question") == "open" else None)
        )
        quiet = self._affirmed_at is not None and (
            u.end - self._affirmed_at < self.options.affirmation_cooldown_s
        )
        if good and not out and not quiet:  # never praise and criticise the same turn
            self._affirmed_at = u.end
            out.append(
                Raised(
                    "affirmation", u, u.end, f"Nice {good}: it invites your client to go deeper."
                )
            )
        return out

    def _interruptions(self, u: Utterance, history: Sequence[Utterance]) -> list[Raised]:
        """The therapist starts speaking while the client is still speaking (either utterance
        may be finished first, so both orders are checked)."""
        opts = self.options
        pairs: list[tuple[Utterance, Utterance]] = []
        others = [h for h in history[-6:] if h.speaker != u.speaker]
        for h in others:
            therapist, client = (u, h) if u.speaker == "therapist" else (h, u)
            pairs.append((therapist, client))
        out = []
        for therapist, client in pairs:
            key = str(therapist.id)
            if key in self._interrupted or len(therapist.text.split()) <= BACKCHANNEL_WORDS:
                continue
            started_inside = client.start < therapist.start < client.end
            overlap = min(client.end, therapist.end) - therapist.start
            if started_inside and overlap >= opts.interruption_min_overlap_s:
                self._interrupted.add(key)
                out.append(
                    Raised(
                        "interruption",
                        therapist,
                        max(u.end, therapist.start),
                        "You started speaking while your client was still talking. Letting them "
                        "finish tells them there is room for their story.",
                    )
                )
        return out

    def _clock(
        self, now: float, history: Sequence[Utterance], u: Utterance | None, time_only: bool = False
    ) -> list[Raised]:
        opts = self.options
        out: list[Raised] = []
        if opts.planned_minutes and not self._time_checked:
            planned = opts.planned_minutes * 60
            before = min(opts.time_check_before_s, planned / 10)
            if now >= planned - before:
                self._time_checked = True
                left = max(planned - now, 0) / 60
                out.append(
                    Raised(
                        "time_check",
                        None,
                        now,
                        f"About {left:.0f} minutes left of the time you agreed. A good moment to "
                        "summarise and plan the next step together.",
                    )
                )
        if time_only or u is None or u.speaker != "therapist":
            return out
        recent = [h for h in [*history, u] if h.end >= now - opts.ratio_window_s]
        therapist = [h for h in recent if h.speaker == "therapist"]
        questions = sum(_has(h.labels, "question") for h in therapist)
        reflections = sum(_has(h.labels, "reflection") for h in therapist)
        if (
            questions >= opts.ratio_min_questions
            and reflections + 1 < questions  # clearly below 1:1, allowing the question just asked
            and (
                self._ratio_fired_at is None or now - self._ratio_fired_at >= opts.ratio_cooldown_s
            )
        ):
            self._ratio_fired_at = now
            out.append(
                Raised(
                    "low_reflection_ratio",
                    u,
                    now,
                    f"In the last {opts.ratio_window_s / 60:.0f} minutes: {reflections} "
                    f"reflections to {questions} questions. MITI counts 1:1 as fair "
                    "and 2:1 as good.",
                    extra={"reflections": reflections, "questions": questions},
                )
            )
        window = [h for h in [*history, u] if h.end >= now - opts.talk_window_s]
        talk = {"therapist": 0.0, "client": 0.0}
        for h in window:
            talk[h.speaker] += max(0.0, min(h.end, now) - max(h.start, now - opts.talk_window_s))
        total = talk["therapist"] + talk["client"]
        if (
            total >= opts.talk_min_speech_s
            and talk["therapist"] / total > opts.talk_share_above
            and (self._talk_fired_at is None or now - self._talk_fired_at >= opts.talk_cooldown_s)
        ):
            self._talk_fired_at = now
            share = talk["therapist"] / total
            out.append(
                Raised(
                    "talk_time",
                    u,
                    now,
                    f"You have done {share:.0%} of the talking in the last "
                    f"{opts.talk_window_s / 60:.0f} minutes. Clients in well-rated sessions talk "
                    "about half the time or more; a reflection or a pause gives them room.",
                    extra={"therapist_share": round(share, 3)},
                )
            )
        return out

    # -- gentle showing -------------------------------------------------------------------------
    def _emit(self, raised: list[Raised]) -> list[Event]:
        opts = self.options
        raised.sort(key=lambda r: PRIORITY[r.kind])
        events: list[Event] = []
        shown_one = False
        for r in raised:
            quiet = self._last_shown is not None and r.at - self._last_shown < opts.min_interval_s
            shown = r.worth_showing and r.kind not in opts.disabled and not quiet and not shown_one
            if shown:
                shown_one = True
                self._last_shown = r.at
                self.shown[r.kind] = self.shown.get(r.kind, 0) + 1
            self.raised[r.kind] = self.raised.get(r.kind, 0) + 1
            event: Event = {
                "type": "cue",
                "session": self.session,
                "id": f"cue-{next(self._ids)}",
                "kind": r.kind,
                "utterance_id": r.utterance.id if r.utterance is not None else None,
                "at": round(r.at, 3),
                "message": r.message,
                "shown": shown,
            }
            if r.extra:
                event.update(r.extra)
            events.append(event)
        return events
