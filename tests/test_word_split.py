"""Splitting a joint read's words back into segments (`assistant/speech/word_split.py`).

The read alone is a stand-in here; `tests/test_analyze.py` has the same split on real Whisper
(`test_a_short_turn_keeps_its_word_in_a_recording`)."""

from __future__ import annotations

from collections.abc import Callable

from assistant.speech.transcription import Transcription, Word
from assistant.speech.word_split import fill_empty, place, relative


def words(*timed: tuple[float, float, str]) -> list[Word]:
    return [Word(start, end, text, 0.9) for start, end, text in timed]


def texts(placed: list[list[Word]]) -> list[str]:
    return ["".join(w.text for w in seg).strip() for seg in placed]


def keep_all(_i: int, result: Transcription) -> str:
    return result.text


def reads(**by_segment: str) -> tuple[list[int], Callable[[int], Transcription]]:
    asked: list[int] = []

    def read_alone(i: int) -> Transcription:
        asked.append(i)
        return Transcription(text=by_segment.get(f"s{i}", ""))

    return asked, read_alone


def test_each_word_goes_to_the_segment_holding_its_middle() -> None:
    timed = words((0.2, 0.6, " Yeah."), (0.9, 1.3, " So"), (1.3, 2.0, " I"))
    assert texts(place([0.0, 1.0, 3.0], timed)) == ["Yeah.", "So I"]


def test_a_word_timed_into_the_next_segment_is_moved_back() -> None:
    # "Yeah." spoken in segment 0, timed by Whisper at the start of segment 1
    placed = place(
        [0.0, 0.7, 4.0], words((0.8, 0.9, " Yeah,"), (1.1, 1.3, " um,"), (1.4, 1.9, " honestly"))
    )
    assert texts(placed) == ["", "Yeah, um, honestly"]
    asked, read_alone = reads(s0="Yeah.")
    alone = fill_empty(placed, read_alone, keep_all)
    assert asked == [0]
    assert alone == {}
    assert texts(placed) == ["Yeah,", "um, honestly"]


def test_a_word_timed_into_the_previous_segment_is_moved_forward() -> None:
    placed = [words((0.1, 0.5, " I"), (0.5, 0.9, " see."), (0.9, 1.0, " Right.")), []]
    _, read_alone = reads(s1="right")
    assert fill_empty(placed, read_alone, keep_all) == {}
    assert texts(placed) == ["I see.", "Right."]


def test_the_previous_segment_is_never_emptied() -> None:
    placed = [words((0.1, 0.5, " Right.")), []]
    _, read_alone = reads(s1="Right.")
    alone = fill_empty(placed, read_alone, keep_all)
    assert texts(placed) == ["Right.", ""]
    assert alone[1].text == "Right."


def test_what_no_neighbour_holds_is_taken_from_the_read_alone() -> None:
    placed = [[], words((1.0, 1.5, " I"), (1.5, 2.0, " mean"))]
    _, read_alone = reads(s0="Mm-hmm.")
    alone = fill_empty(placed, read_alone, keep_all)
    assert alone[0].text == "Mm-hmm."
    assert texts(placed) == ["", "I mean"]


def test_a_read_alone_the_guards_drop_moves_nothing() -> None:
    """A faint tone between two turns, read alone as "So.", must not take the next turn's "So"."""
    placed = [[], words((1.0, 1.2, " So"), (1.2, 1.5, " I"), (1.5, 2.0, " thought"))]
    _, read_alone = reads(s0="So.")
    alone = fill_empty(placed, read_alone, lambda _i, _r: "")
    assert alone == {}
    assert texts(placed) == ["", "So I thought"]


def test_a_segment_emptied_by_a_move_is_read_in_its_turn() -> None:
    placed = [[], words((1.0, 1.2, " Yes,")), words((2.0, 2.2, " yes,"), (2.2, 2.5, " and"))]
    asked, read_alone = reads(s0="Yes.", s1="Yeah.")
    alone = fill_empty(placed, read_alone, keep_all)
    assert asked == [0, 1]
    assert texts(placed) == ["Yes,", "", "yes, and"]
    assert alone[1].text == "Yeah."


def test_segments_with_words_are_not_read_again() -> None:
    placed = [words((0.0, 0.5, " Okay.")), words((1.0, 1.5, " Fine."))]
    asked, read_alone = reads()
    assert fill_empty(placed, read_alone, keep_all) == {}
    assert asked == []


def test_word_times_become_the_segments_own_and_stay_within_it() -> None:
    moved_back = words((10.1, 10.3, " Yeah,"))  # timed in the next segment, which starts at 10.0
    spoken = words((8.7, 9.2, " Okay."))
    timed = relative(spoken + moved_back, 8.5, 10.0)
    assert [w.text for w in timed] == [" Okay.", " Yeah,"]
    assert [(round(w.start, 6), round(w.end, 6)) for w in timed] == [(0.2, 0.7), (1.5, 1.5)]
