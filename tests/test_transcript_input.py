"""Written dialogues: parsing, estimated times, sessions, and precise errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import InputError
from assistant.transcript_input import read_transcript


def write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "d.jsonl"
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", "utf-8"
    )
    return path


def test_times_are_estimated_when_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"speaker": "therapist", "text": "one two three four five"},
        {"speaker": "client", "text": "yes"},
    )
    [dialogue] = read_transcript(path, "s")
    assert dialogue.times_estimated
    first, second = dialogue.utterances
    assert first.start == 0.0
    assert first.end == pytest.approx(2.0)  # 5 words at 150 a minute
    assert second.start == pytest.approx(2.4)  # a short pause between turns
    assert second.end - second.start == pytest.approx(0.6)  # a minimum turn length


def test_given_times_and_ids_are_kept_exactly(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"speaker": "therapist", "text": "Hi", "id": "a-17", "start": 1.5, "end": 2.0},
        {"speaker": "client", "text": "Hello", "id": 42, "start": 2.5, "end": 3.0},
    )
    [dialogue] = read_transcript(path, "s")
    assert not dialogue.times_estimated
    assert [u.id for u in dialogue.utterances] == ["a-17", 42]
    assert (dialogue.utterances[1].start, dialogue.utterances[1].end) == (2.5, 3.0)


def test_sessions_are_separate_dialogues(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"speaker": "therapist", "text": "a", "session": "A"},
        {"speaker": "therapist", "text": "b", "session": "B", "id": "x"},
        {"speaker": "client", "text": "c", "session": "A"},
        "",
        {"speaker": "client", "text": "d", "session": "B", "id": "y"},
    )
    dialogues = read_transcript(path, "default")
    assert [d.session for d in dialogues] == ["A", "B"]
    assert [u.text for u in dialogues[0].utterances] == ["a", "c"]
    assert [u.id for u in dialogues[1].utterances] == ["x", "y"]


@pytest.mark.parametrize(
    ("line", "line_no", "message"),
    [
        ("{not json", 2, "not valid JSON"),
        ("[1, 2]", 2, "must be a JSON object"),
        (json.dumps({"speaker": "doctor", "text": "x"}), 2, "unknown speaker 'doctor'"),
        (json.dumps({"speaker": "client"}), 2, "'text' must be a string"),
        (json.dumps({"speaker": "client", "text": "x", "start": "soon"}), 2, "'start' must be"),
        (json.dumps({"speaker": "client", "text": "x", "start": 3, "end": 1}), 2, "before"),
        (json.dumps({"speaker": "client", "text": "x", "id": "t"}), 2, "duplicate id"),
        (json.dumps({"speaker": "client", "text": "x", "session": 7}), 2, "'session' must be"),
    ],
)
def test_bad_lines_name_the_file_and_line(
    tmp_path: Path, line: str, line_no: int, message: str
) -> None:
    path = write(tmp_path, {"speaker": "therapist", "text": "fine", "id": "t"}, line)
    with pytest.raises(InputError) as info:
        read_transcript(path, "s")
    assert info.value.line == line_no
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:{line_no}: ")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="holds no utterances"):
        read_transcript(empty, "s")
    with pytest.raises(InputError, match="no such file"):
        read_transcript(tmp_path / "nope.jsonl", "s")
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="not UTF-8"):
        read_transcript(binary, "s")
