"""Network faults on a live call: the client runs in its own network namespace, linked to the
server by a veth pair, and nftables impairs that link (5 % random loss; a 10 s outage).

The call must hold, transcription must go on (finals with recognisable text), and after an
outage the panel says the client's audio was lost and is back, and transcription resumes.
Full sizes and figures: bench/faults.py, docs/reliability.md ("Network faults").
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.testing.live import LiveServer, create_session, live_server, token_of
from assistant.testing.netns import (
    FAULT_TURNS,
    FaultRun,
    Namespace,
    Plan,
    client_wer,
    fault_call,
    namespace,
    unavailable,
)
from assistant.testing.synth import synth_dialogue

pytestmark = pytest.mark.model


@pytest.fixture
def ns() -> Iterator[Namespace]:
    reason = unavailable()
    if reason:
        pytest.fail(f"network namespaces are needed: {reason}")
    with namespace() as made:
        yield made


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path, "--host", "0.0.0.0") as running:
        yield running


def run(server: LiveServer, ns: Namespace, tmp_path: Path, plan: Plan) -> FaultRun:
    therapist_wav, client_wav, _ = synth_dialogue(FAULT_TURNS, tmp_path / "audio", tail_s=1.0)
    session = create_session(server)
    return asyncio.run(
        fault_call(
            server.base_url,
            ns,
            token_of(session["therapist_url"]),
            token_of(session["client_url"]),
            server.therapist_cookie(),
            therapist_wav,
            client_wav,
            plan,
        )
    )


def test_five_percent_loss_holds_the_call_and_the_transcript(
    server: LiveServer, ns: Namespace, tmp_path: Path
) -> None:
    result = run(server, ns, tmp_path, [("loss 5", 36.0)])
    _, start, end = result.phases[0]
    assert sum(result.dropped.values()) > 20, "the impairment dropped packets"
    assert not [s for s in result.client_states if s["state"] in ("failed", "closed")]
    # media flows both ways all along (50 frames/s without loss)
    assert result.rate(start, end, "client_sent") > 40
    assert result.rate(start, end, "therapist_received") > 20, "the therapist hears the client"
    assert result.rate(start, end, "client_received") > 20, "the client hears the therapist"
    assert result.rate(start, end, "therapist_loud") > 5, "...the client's voice, not silence"
    assert result.rate(start, end, "client_loud") > 5, "...the therapist's voice, not silence"
    finals = [e for at, e in result.finals("client") if start + 1 < at <= end + 0.5]
    assert len(finals) >= 3, f"the client's words keep reaching the panel: {finals}"
    errors = [client_wer(e["text"]) for e in finals]
    assert statistics.median(errors) < 0.3, f"recognisable text under loss: {finals}"
    # turn times stay on the session clock (lost packets do not pull them earlier): each
    # final arrives a few seconds after the end of its speech, not ever later
    for at, e in result.finals("client"):
        if start < at:
            assert 0 < result.clock(at) - e["end"] < 6.0, e


def test_a_ten_second_outage_is_told_and_transcription_resumes(
    server: LiveServer, ns: Namespace, tmp_path: Path
) -> None:
    result = run(server, ns, tmp_path, [("outage", 10.0), ("none", 30.0)])
    (_, out_start, out_end), (_, _, end) = result.phases
    lost = result.notices("audio_lost")
    assert lost and out_start < lost[0][0] < out_end, "the panel says the audio was lost"
    assert lost[0][1]["role"] == "client"
    restored = [(at, e) for at, e in result.notices("audio_restored") if at > out_end]
    assert restored and restored[0][1]["role"] == "client", "the panel says it is back"
    assert restored[0][0] - out_end < 5.0
    assert not [s for s in result.client_states if s["state"] in ("failed", "closed")]
    # media flows again both ways
    assert result.rate(out_end + 3, end, "client_received") > 30
    assert result.rate(out_end + 3, end, "therapist_received") > 30
    assert result.rate(out_end + 3, end, "therapist_loud") > 5, "the therapist hears the client"
    assert result.rate(out_end + 3, end, "client_loud") > 5, "the client hears the therapist"
    # a whole turn spoken after the outage is transcribed, on the right time
    clock_healed = result.clock(out_end)
    after = [e for _, e in result.finals("client") if float(e["start"]) > clock_healed]
    assert any(client_wer(e["text"]) < 0.3 for e in after), f"transcription resumes: {after}"
    during = [
        e
        for _, e in result.finals("client")
        if result.clock(out_start) + 1 < float(e["start"]) < clock_healed - 1
    ]
    assert during == [], "nothing is placed inside the outage"


def test_the_audio_jitter_buffer_loses_only_what_the_network_lost() -> None:
    """aiortc's own audio buffer plays about 73 % of a stream with 5 % loss; the server's
    plays every packet that arrived, in order, a few packets late at most."""
    import random

    from aiortc.rtp import RtpPacket

    from assistant.live.jitter import AudioJitterBuffer

    rng = random.Random(1)
    arrivals = [i for i in range(3000) if rng.random() >= 0.05]
    for k in range(len(arrivals) - 1):  # some packets overtake their neighbour
        if rng.random() < 0.02:
            arrivals[k], arrivals[k + 1] = arrivals[k + 1], arrivals[k]
    arrivals += list(range(5000, 5100))  # after an outage: a jump in sequence numbers
    buffer = AudioJitterBuffer()
    played: list[int] = []
    for i in arrivals:
        packet = RtpPacket(sequence_number=(i + 65000) % 65536, timestamp=i * 960)
        packet._data = b"x"  # type: ignore[attr-defined]
        _, frame = buffer.add(packet)
        if frame is not None:
            played.append(frame.timestamp // 960)
            assert i - played[-1] <= 5, "at most 100 ms behind"
    assert played == sorted(played)
    assert len(played) >= 0.99 * len(arrivals)
    assert played[-1] == 5099
