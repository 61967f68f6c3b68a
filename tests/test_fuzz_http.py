"""Hostile input over HTTP: schemathesis fuzzes every route of /openapi.json on a real
`attune serve` (CI size; the full size runs from bench/fuzz.py), with no login, each role's
login cookie and a forged one, sessions the role may and may not read, and foreign Origins.
No answer may be a 5xx, break the schema, leak another session's content or accept a
cross-site change; afterwards the server, its log and a live session beside it are fine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.fuzz import World, fuzz_http, fuzz_world, server_problems

CI_CASES = 1200


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with fuzz_world(tmp_path_factory.mktemp("fuzz-http")) as world:
        yield world


def test_every_route_survives_generated_requests_of_every_role(world: World) -> None:
    report = fuzz_http(world, CI_CASES)
    print(report.line())
    assert report.cases >= CI_CASES * 0.9, report.line()
    assert report.server_errors == 0, report.line()
    assert not report.failures, "\n\n".join(report.failures[:5])
    # the generated requests reached past the access checks, not only 401s
    assert report.outcomes["200"] > 60 and report.outcomes["404"] > 30, report.line()


def test_the_server_and_the_live_session_beside_it_are_unharmed(world: World) -> None:
    assert server_problems(world) == []
    assert world.bystander.finish() == []
