"""Cue rules on scripted, hand-labelled dialogues (the coder has its own tests): each rule
fires when it should, stays quiet when it should not, and the panel stays gentle."""

from __future__ import annotations

from typing import Any

from assistant.cues.catalog import CueOptions
from assistant.cues.rules import CueEngine
from assistant.cues.wording import checks_a_fact, judgmental_phrase, open_rewording
from assistant.dialogue import Dialogue, DialogueStages
from assistant.events import Event, Utterance, validate_event

T = {"behaviour": "other", "question": None, "reflection": None, "input": None}
C = {"talk_type": "neutral", "disclosure": False}


def t(text: str, start: float, end: float | None = None, /, **labels: str) -> Utterance:
    return Utterance(
        f"t{start:g}", "therapist", start, end or start + 2, text, labels={**T, **labels}
    )


def c(text: str, start: float, end: float | None = None, /, **labels: Any) -> Utterance:
    return Utterance(f"c{start:g}", "client", start, end or start + 2, text, labels={**C, **labels})


def run(*utterances: Utterance, **options: Any) -> list[Event]:
    stages = DialogueStages(cues=CueOptions(**{"min_interval_s": 0.0, **options}))
    dialogue = stages.dialogue("s", times_estimated=False)
    events = []
    for u in utterances:
        events += dialogue.process(u)
    events += dialogue.finish()
    for e in events:
        validate_event(e)
    return [e for e in events if e["type"] == "cue"]


def kinds(cues: list[Event]) -> list[str]:
    return [e["kind"] for e in cues]


Q_OPEN = {"behaviour": "question", "question": "open"}
Q_CLOSED = {"behaviour": "question", "question": "closed"}
R_SIMPLE = {"behaviour": "reflection", "reflection": "simple"}
R_COMPLEX = {"behaviour": "reflection", "reflection": "complex"}


def test_closed_question_fires_on_every_closed_question_with_a_rewording() -> None:
    cues = run(t("Do you drink every day?", 0, **Q_CLOSED), t("Do you smoke?", 10, **Q_CLOSED))
    closed = [e for e in cues if e["kind"] == "closed_question"]
    assert [e["utterance_id"] for e in closed] == ["t0", "t10"]
    assert "What is it like for you to drink every day?" in closed[0]["message"]
    assert closed[0]["shown"]


def test_a_closed_question_that_checks_a_fact_or_asks_permission_is_raised_but_not_shown() -> None:
    cues = run(
        t("How many drinks is that a day?", 0, **Q_CLOSED),
        t("Is it okay if I share what other people have tried?", 10, **Q_CLOSED),
    )
    assert kinds(cues) == ["closed_question", "closed_question"]
    assert [e["shown"] for e in cues] == [False, False]


def test_missed_reflection_after_change_talk_or_disclosure() -> None:
    cues = run(
        c("I really want to be there for my kids.", 0, talk_type="change"),
        t("How many kids do you have?", 3, **Q_CLOSED),
    )
    missed = [e for e in cues if e["kind"] == "missed_reflection"]
    assert len(missed) == 1
    assert (missed[0]["utterance_id"], missed[0]["client_utterance_id"]) == ("t3", "c0")
    cues = run(
        c("Since she left I feel so empty.", 0, disclosure=True),
        t("You feel empty since she left.", 3, **R_SIMPLE),
    )
    assert "missed_reflection" not in kinds(cues)
    # only the first therapist turn after it counts
    cues = run(
        c("I feel so empty.", 0, disclosure=True),
        t("That sounds very lonely.", 3, **R_COMPLEX),
        t("What do you do in the evenings?", 6, **Q_OPEN),
    )
    assert "missed_reflection" not in kinds(cues)
    # a backchannel while the client goes on is not the response: the next turn is judged
    cues = run(
        c("I want to be there for my kids.", 0, talk_type="change"),
        t("Mm-hmm.", 2),
        c("They deserve better.", 3),
        t("They matter a lot to you.", 6, **R_COMPLEX),
    )
    assert "missed_reflection" not in kinds(cues)
    cues = run(
        c("I want to be there for my kids.", 0, talk_type="change"),
        t("Okay.", 2),
        t("How old are they?", 4, **Q_CLOSED),
    )
    missed = [e for e in cues if e["kind"] == "missed_reflection"]
    assert [(e["utterance_id"], e["client_utterance_id"]) for e in missed] == [("t4", "c0")]
    # a short turn that codes as something is a response
    cues = run(c("I want to quit.", 0, talk_type="change"), t("Why now?", 2, **Q_OPEN))
    assert "missed_reflection" in kinds(cues)
    # neutral talk needs no reflection
    assert "missed_reflection" not in kinds(run(c("Okay.", 0), t("What else?", 2, **Q_OPEN)))


def test_question_streak_at_the_third_question_since_a_reflection() -> None:
    cues = run(
        t("What brings you here?", 0, **Q_OPEN),
        c("My wife.", 2),
        t("What did she say?", 4, **Q_OPEN),
        t("Okay.", 5),  # neither counts nor resets
        t("And how did that feel?", 7, **Q_OPEN),
        t("What else?", 9, **Q_OPEN),
    )
    streak = [e for e in cues if e["kind"] == "question_streak"]
    assert [e["utterance_id"] for e in streak] == ["t7"]
    cues = run(
        t("What brings you here?", 0, **Q_OPEN),
        t("What did she say?", 4, **Q_OPEN),
        t("So she worries about you. What happened then?", 7, **Q_OPEN, reflection="simple"),
        t("And then?", 9, **Q_OPEN),
    )
    assert "question_streak" not in kinds(cues)


def test_low_reflection_ratio_over_the_recent_minutes() -> None:
    utterances = [t(f"Question {i}?", i * 20, **Q_OPEN) for i in range(4)]
    cues = run(*utterances)
    low = [e for e in cues if e["kind"] == "low_reflection_ratio"]
    assert len(low) == 1 and (low[0]["reflections"], low[0]["questions"]) == (0, 4)
    balanced = []
    for i in range(4):
        balanced += [
            t(f"Question {i}?", i * 30, **Q_OPEN),
            t(f"You feel {i}.", i * 30 + 10, **R_SIMPLE),
        ]
    assert "low_reflection_ratio" not in kinds(run(*balanced))


def test_advice_without_permission_unless_asked_or_permitted() -> None:
    advice = {"behaviour": "therapist_input", "input": "advice"}
    assert "advice_without_permission" in kinds(
        run(c("I drink too much.", 0), t("You should stop drinking during the week.", 3, **advice))
    )
    assert "advice_without_permission" not in kinds(
        run(c("What should I do about it?", 0), t("You could try a dry January.", 3, **advice))
    )
    assert "advice_without_permission" not in kinds(
        run(
            t("Would it be all right if I shared an idea?", 0, **Q_CLOSED),
            c("Sure.", 3),
            t("Some people keep alcohol out of the house.", 5, **advice),
        )
    )


def test_talk_time_when_the_therapist_talks_well_above_the_client() -> None:
    long = [t("Long explanation.", i * 40, i * 40 + 30) for i in range(4)]
    short = [c("Yes.", i * 40 + 31, i * 40 + 33) for i in range(4)]
    merged = sorted(long + short, key=lambda u: u.start)
    talk = [e for e in run(*merged) if e["kind"] == "talk_time"]
    assert len(talk) == 1 and talk[0]["therapist_share"] > 0.65
    even = sorted(
        [t("Talk.", i * 40, i * 40 + 18) for i in range(4)]
        + [c("Talk.", i * 40 + 19, i * 40 + 38) for i in range(4)],
        key=lambda u: u.start,
    )
    assert "talk_time" not in kinds(run(*even))


def test_interruption_in_either_order_of_arrival_but_not_for_backchannels() -> None:
    client = c("So I went to the meeting and then everything fell apart again.", 10, 16)
    therapist = t("Let me stop you there for a second.", 13, 15)
    assert kinds(run(client, therapist)).count("interruption") == 1
    assert kinds(run(therapist, client)).count("interruption") == 1
    assert "interruption" not in kinds(run(client, t("Mm-hmm.", 12, 12.5)))
    assert "interruption" not in kinds(run(client, t("What happened next?", 16.5, 18, **Q_OPEN)))


def test_time_check_once_near_the_agreed_end() -> None:
    stages = DialogueStages(cues=CueOptions(min_interval_s=0))
    dialogue = stages.dialogue("s", times_estimated=False, planned_minutes=50)
    assert dialogue.tick(40 * 60) == []
    events = dialogue.tick(45 * 60 + 1)
    assert [e["kind"] for e in events] == ["time_check"]
    assert events[0]["utterance_id"] is None and "5 minutes" in events[0]["message"]
    assert dialogue.tick(46 * 60) == []


def test_judgmental_language_is_conservative() -> None:
    assert judgmental_phrase("Honestly, you are just making excuses.") is not None
    assert judgmental_phrase("What were you thinking?") is not None
    for fine in [
        "You should consider talking to your doctor.",
        "It sounds like you feel stuck.",
        "You never know what tomorrow brings.",
        "That's wrong, the appointment is Tuesday",
    ]:
        assert judgmental_phrase(fine) is None, fine
    assert "judgmental_language" in kinds(run(t("Shame on you for drinking again.", 0)))


def test_affirmation_for_good_reflections_never_with_criticism_and_not_too_often() -> None:
    cues = run(t("It sounds like part of you wants to change.", 0, **R_COMPLEX))
    assert kinds(cues) == ["affirmation"]
    cues = run(t("You feel torn.", 0, **R_COMPLEX), t("You are torn.", 30, **R_COMPLEX))
    assert kinds(cues) == ["affirmation"]  # a two-minute cooldown


def test_gentle_at_most_one_shown_per_interval_highest_priority_first() -> None:
    cues = run(
        c("I want to be a better father.", 0, talk_type="change"),
        t("Do you drink every day?", 3, **Q_CLOSED),  # missed reflection + closed question
        t("Do you drink at night?", 10, **Q_CLOSED),  # inside 20 s: raised, not shown
        t("Do you drink alone?", 30, **Q_CLOSED),
        min_interval_s=20.0,
    )
    assert [(e["kind"], e["shown"]) for e in cues] == [
        ("missed_reflection", True),
        ("closed_question", False),
        ("closed_question", False),
        ("closed_question", True),
        ("question_streak", False),  # the third question in a row, same moment, lower priority
    ]


def test_switched_off_kinds_are_raised_but_never_shown() -> None:
    cues = run(t("Do you drink?", 0, **Q_CLOSED), disabled=frozenset({"closed_question"}))
    assert [(e["kind"], e["shown"]) for e in cues] == [("closed_question", False)]


def test_summary_counts_listening_and_cues() -> None:
    stages = DialogueStages(cues=CueOptions(min_interval_s=0))
    dialogue: Dialogue = stages.dialogue("s", times_estimated=False)
    for u in [
        t("What brings you?", 0, **Q_OPEN),
        c("My health.", 2, talk_type="change"),
        t("Your health matters to you.", 4, **R_COMPLEX),
        t("Do you smoke?", 6, **Q_CLOSED),
    ]:
        dialogue.process(u)
    [summary] = dialogue.finish(10)
    validate_event(summary)
    listening = summary["listening"]
    assert listening["questions"] == {"open": 1, "closed": 1}
    assert listening["reflections"] == {"simple": 0, "complex": 1}
    assert listening["reflection_to_question"] == 0.5
    assert listening["complex_share"] == 1.0
    assert listening["client_talk"]["change"] == 1
    assert summary["cues"]["closed_question"] == {"raised": 1, "shown": 1}


def test_wording_helpers() -> None:
    assert open_rewording("So, would you consider cutting down?") == (
        "What would it take for you to consider cutting down?"
    )
    assert open_rewording("What do you want?") is None
    assert checks_a_fact("When did you last drink?")
    assert checks_a_fact("Is it okay if I share what other people have tried?")
    assert not checks_a_fact("What would you like to talk about today?")  # not permission
    assert not checks_a_fact("Do you like your job?")
    assert CueEngine("s").tick(0, []) == []
