"""Hostile input over WebSockets: hypothesis scripts every message type of /ws/control and
/ws/panel on a real `attune serve` (CI size; the full size runs from bench/fuzz.py): hellos
with both join links, ended, forged and malformed tokens, each role's cookie, foreign Origins,
then generated, malformed, binary and oversized frames and garbage or enormous SDP offers.
No connection may end with an internal error, a failed hello get a welcome, a client receive
the session's content or label, or anyone another session's; afterwards the server, its log
and a live session beside it are fine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.fuzz import World, fuzz_world, fuzz_ws, server_problems

CI_CASES = 400


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with fuzz_world(tmp_path_factory.mktemp("fuzz-ws")) as world:
        yield world


def test_every_message_type_survives_generated_scripts(world: World) -> None:
    report = fuzz_ws(world, CI_CASES)
    print(report.line())
    assert report.cases >= CI_CASES * 0.9, report.line()
    assert report.server_errors == 0, report.line()
    assert not report.failures, "\n\n".join(report.failures[:5])
    # the scripts reached the handlers: welcomed connections, offers answered and refused (how
    # many of each varies with timing: a script's next step depends on what the server said)
    assert report.outcomes["welcome"] > 30 and report.outcomes["pong"] > 30, report.line()
    assert report.outcomes["answer"] > 0 and report.outcomes["error:bad_offer"] > 0, report.line()


def test_the_server_and_the_live_session_beside_it_are_unharmed(world: World) -> None:
    assert server_problems(world) == []
    assert world.bystander.finish() == []
