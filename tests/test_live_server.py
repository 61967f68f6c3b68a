"""The live server over real HTTP and WebSockets (a real `attune serve` subprocess), with real
aiortc peers: links, roles, bad input, replacement on reconnect, media and transcripts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from assistant.testing.live import (
    THERAPIST,
    LiveServer,
    add_user,
    api,
    create_session,
    live_server,
    token_of,
)
from assistant.testing.peer import PanelListener, PeerParticipant, start_call
from assistant.testing.scoring import word_error_rate
from assistant.testing.synth import synth_dialogue

pytestmark = pytest.mark.model

CONTENT_TYPES = {"utterance", "cue", "summary", "notice"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("server")) as s:
        yield s


def ws_base(server: LiveServer) -> str:
    return server.base_url.replace("http://", "ws://")


async def close_code(server: LiveServer, path: str, *messages: str) -> int:
    async with websockets.connect(f"{ws_base(server)}{path}") as ws:
        for m in messages:
            await ws.send(m)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 15)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code
    raise AssertionError("not closed")


def hello(token: str) -> str:
    return json.dumps({"type": "hello", "token": token})


def test_creating_sessions_needs_a_therapist_login(server: LiveServer) -> None:
    body = {"planned_minutes": 50}
    assert api(server, "POST", "/api/sessions", body)[0] == 401
    add_user(server.data_dir, "tom", "trainer", "trainer-password-1")
    assert api(server, "POST", "/api/sessions", body, login=("tom", "trainer-password-1"))[0] == 403
    status, answer = api(server, "POST", "/api/sessions", {"planned_minutes": 2}, login=THERAPIST)
    assert (status, answer["error"]) == (400, "bad_field")
    status, answer = api(server, "POST", "/api/sessions", [1, 2], login=THERAPIST)
    assert (status, answer["error"]) == (400, "bad_json")
    status, answer = api(server, "POST", "/api/sessions", {"label": "x" * 20000}, login=THERAPIST)
    assert (status, answer["error"]) == (413, "too_large")
    session = create_session(server, planned_minutes=30, label="Tue 10:00")
    assert session["planned_minutes"] == 30 and session["label"] == "Tue 10:00"
    assert token_of(session["client_url"]) != token_of(session["therapist_url"])
    assert len(token_of(session["client_url"])) >= 40
    status, listed = api(server, "GET", "/api/sessions", login=THERAPIST)
    assert status == 200 and session["id"] in {s["id"] for s in listed["sessions"]}
    status, listed = api(server, "GET", "/api/sessions", login=("tom", "trainer-password-1"))
    assert status == 200 and listed["sessions"] == []  # nothing shared for training yet


def test_tokens_and_roles_are_enforced_on_the_sockets(server: LiveServer) -> None:
    session = create_session(server)
    client = token_of(session["client_url"])
    therapist = token_of(session["therapist_url"])
    add_user(server.data_dir, "theo", "therapist", "another-therapist-1")
    theo = server.cookie("theo", "another-therapist-1")

    async def therapist_link(path: str, cookie: str | None) -> int:
        headers = {"Cookie": cookie} if cookie else {}
        async with websockets.connect(f"{ws_base(server)}{path}", additional_headers=headers) as ws:
            await ws.send(hello(therapist))
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 15)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code
        raise AssertionError("not closed")

    async def run() -> None:
        # a therapist link works only with its own therapist logged in
        for path in ("/ws/control", "/ws/panel"):
            assert await therapist_link(path, None) == 4401
            assert await therapist_link(path, theo) == 4401
        assert await close_code(server, "/ws/control", hello("x" * 43)) == 4401
        assert await close_code(server, "/ws/control", "not json") == 4400
        assert await close_code(server, "/ws/control", json.dumps({"type": "offer"})) == 4400
        # a client link can never open the therapist's panel
        assert await close_code(server, "/ws/panel", hello(client)) == 4403
        assert await close_code(server, "/ws/panel", hello("y" * 43)) == 4401

    asyncio.run(run())
    assert client not in server.log()  # tokens never reach the logs


def test_bad_messages_get_errors_and_other_sessions_carry_on(server: LiveServer) -> None:
    one, two = create_session(server), create_session(server)

    async def run() -> None:
        base = ws_base(server)
        cookie = server.therapist_cookie()
        async with (
            PeerParticipant(base, token_of(one["client_url"])) as client,
            PeerParticipant(base, token_of(two["therapist_url"]), cookie=cookie) as other,
        ):
            assert client.welcome["state"] == "waiting"
            await client.send({"type": "offer", "sdp": "v=0\r\ngarbage"})
            assert (await client.expect("error"))["code"] == "not_admitted"
            await client.send({"type": "admit"})
            assert (await client.expect("error"))["code"] == "forbidden"
            await client.send({"type": "end"})
            assert (await client.expect("error"))["code"] == "forbidden"
            await client.send({"type": "dance"})
            assert (await client.expect("error"))["code"] == "unknown_type"
            await client._ws.send("{{{")
            assert (await client.expect("error"))["code"] == "bad_message"
            await other.send({"type": "offer", "sdp": "v=0\r\nthis is not sdp"})
            assert (await other.expect("error"))["code"] == "bad_offer"
            await other.send({"type": "offer", "sdp": "v=0" + "a" * 40000})
            assert (await other.expect("error"))["code"] == "bad_offer"
            await other.send({"type": "ping"})
            await other.expect("pong")
            # oversized frames are refused by the protocol layer (1009), for that socket only
            try:
                await client._ws.send("x" * 100_000)
                await asyncio.wait_for(client._reader, 10)
            except ConnectionClosed:
                pass
            assert client._ws.close_code == 1009
            await other.send({"type": "ping"})
            await other.expect("pong")

    asyncio.run(run())


def test_a_newer_connection_replaces_the_older_one(server: LiveServer) -> None:
    session = create_session(server)
    token = token_of(session["therapist_url"])

    async def run() -> None:
        base = ws_base(server)
        cookie = server.therapist_cookie()
        async with PeerParticipant(base, token, cookie=cookie) as first:
            async with PeerParticipant(base, token, cookie=cookie) as second:
                await asyncio.wait_for(first._reader, 10)
                assert first._ws.close_code == 4409
                await second.send({"type": "ping"})
                await second.expect("pong")

    asyncio.run(run())


def test_real_peers_get_each_others_media_and_only_the_therapist_gets_text(
    server: LiveServer, tmp_path: Path
) -> None:
    turns = [
        ("therapist", "What would you like to talk about today?"),
        ("client", "I keep arguing with my sister and it makes me feel awful."),
    ]
    therapist_wav, client_wav, _ = synth_dialogue(turns, tmp_path, tail_s=2.0)  # type: ignore[arg-type]
    session = create_session(server)

    async def run() -> None:
        base = ws_base(server)
        cookie = server.therapist_cookie()
        t_token, c_token = token_of(session["therapist_url"]), token_of(session["client_url"])
        async with (
            PanelListener(base, t_token, cookie=cookie) as panel,
            PeerParticipant(base, t_token, therapist_wav, cookie=cookie) as therapist,
            PeerParticipant(base, c_token, client_wav) as client,
        ):
            await start_call(therapist, client)
            for _ in range(200):
                speakers = {e["speaker"] for e in panel.finals()}
                if speakers == {"therapist", "client"}:
                    break
                await asyncio.sleep(0.1)
            finals = panel.finals()
            by_speaker = {
                s: " ".join(e["text"] for e in finals if e["speaker"] == s)
                for s in ("therapist", "client")
            }
            assert word_error_rate(turns[0][1], by_speaker["therapist"]) < 0.35, by_speaker
            assert word_error_rate(turns[1][1], by_speaker["client"]) < 0.35, by_speaker
            # media flows both ways through the relay
            assert therapist.received.video_frames > 20 and client.received.video_frames > 20
            assert therapist.received.loud_audio_frames > 10  # the client's voice
            assert client.received.loud_audio_frames > 10  # the therapist's voice
            # the client's control channel never carried content
            assert not {m["type"] for m in client.messages} & CONTENT_TYPES
            assert not {m["type"] for m in therapist.messages} & CONTENT_TYPES

    asyncio.run(run())


def test_the_other_voice_leaking_into_a_microphone_is_not_transcribed(
    server: LiveServer, tmp_path: Path
) -> None:
    """The therapist's microphone picks up the client's voice from a loudspeaker (26 dB
    quieter, 150 ms late) while the client speaks: only the client's words are transcribed;
    the therapist's own words, later, are."""
    import numpy as np

    from assistant.testing.synth import speak, write_wav

    sr = 16000
    client_text = "My brother calls me every Sunday and we talk about the kids."
    therapist_text = "Tell me more about your brother."
    voice = speak(client_text, "en+f3")
    own = speak(therapist_text, "en-us+m3")
    total = int(sr * (1.0 + len(voice) / sr + 1.5 + len(own) / sr + 2.0))
    client_track = np.zeros(total, np.float32)
    therapist_track = np.zeros(total, np.float32)
    client_track[sr : sr + len(voice)] = voice
    lag = int(0.15 * sr)
    therapist_track[sr + lag : sr + lag + len(voice)] = voice * 0.05  # the leak
    later = sr + len(voice) + int(1.5 * sr)
    therapist_track[later : later + len(own)] = own
    write_wav(tmp_path / "t.wav", therapist_track)
    write_wav(tmp_path / "c.wav", client_track)
    session = create_session(server)

    async def run() -> list[dict[str, object]]:
        base = ws_base(server)
        cookie = server.therapist_cookie()
        t_token, c_token = token_of(session["therapist_url"]), token_of(session["client_url"])
        async with (
            PanelListener(base, t_token, cookie=cookie) as panel,
            PeerParticipant(base, t_token, tmp_path / "t.wav", cookie=cookie) as therapist,
            PeerParticipant(base, c_token, tmp_path / "c.wav") as client,
        ):
            await start_call(therapist, client)
            for _ in range(200):
                if {e["speaker"] for e in panel.finals()} == {"therapist", "client"}:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            return panel.finals()

    finals = asyncio.run(run())
    said = {
        s: " ".join(str(e["text"]) for e in finals if e["speaker"] == s)
        for s in ("therapist", "client")
    }
    assert word_error_rate(client_text, said["client"]) < 0.35, said
    assert "brother calls" not in said["therapist"].lower(), said
    assert "sunday" not in said["therapist"].lower(), said
    assert word_error_rate(therapist_text, said["therapist"]) < 0.35, said


def test_transcription_only_while_both_consent_and_withdrawal_stops_it_at_once(
    server: LiveServer, tmp_path: Path
) -> None:
    turns = [("client", "I have been sleeping badly since the accident.")] * 1
    _, client_wav, _ = synth_dialogue(turns, tmp_path, lead_s=0.5, tail_s=1.0)  # type: ignore[arg-type]
    session = create_session(server)

    async def run() -> None:
        base = ws_base(server)
        cookie = server.therapist_cookie()
        t_token, c_token = token_of(session["therapist_url"]), token_of(session["client_url"])
        async with (
            PanelListener(base, t_token, cookie=cookie) as panel,
            PeerParticipant(base, t_token, cookie=cookie) as therapist,
            PeerParticipant(base, c_token, client_wav, loop=True) as client,
        ):
            assert client.welcome["you"] is False and client.welcome["transcribing"] is False
            assert "agreement" in client.welcome["consent_text"]
            await therapist.expect("peer")
            await therapist.send({"type": "admit"})
            await client.expect("admitted")
            await therapist.start_media()
            await client.start_media()
            await asyncio.sleep(6)
            assert panel.finals() == []  # nobody agreed: nothing is transcribed
            state = await therapist.consent()
            assert state == {
                "type": "consent_state",
                "you": True,
                "other": False,
                "transcribing": False,
            }
            await asyncio.sleep(6)
            assert panel.finals() == []  # one agreement is not enough
            state = await client.consent()
            assert state["transcribing"] is True
            for _ in range(150):
                if panel.finals():
                    break
                await asyncio.sleep(0.1)
            assert panel.finals(), "transcription starts once both agree"
            await client.consent(False)
            stopped_at = len(panel.events)
            heard_before = client.received.video_frames
            await asyncio.sleep(8)
            later = [e for _, e in panel.events[stopped_at:]]
            assert [e["type"] for e in later if e["type"] != "notice"] == [
                "utterance" for e in later if e["type"] == "utterance" and not e["text"]
            ]  # after the withdrawal: only empty finals closing turns already on screen
            assert any(e.get("code") == "transcription_stopped" for _, e in panel.events)
            assert client.received.video_frames > heard_before + 50  # the call goes on

    asyncio.run(run())


def test_audio_is_recorded_only_when_the_session_records_and_both_agree(
    server: LiveServer, tmp_path: Path
) -> None:
    import numpy as np

    from assistant.live.recorder import audio_aad
    from assistant.speech.audio_in import decode_file
    from assistant.store import open_store

    turns = [("therapist", "How has your week been?"), ("client", "Better than the last one.")]
    therapist_wav, client_wav, _ = synth_dialogue(turns, tmp_path, tail_s=1.0)  # type: ignore[arg-type]
    recorded = create_session(server, record_audio=True)
    not_recorded = create_session(server)
    declined = create_session(server, record_audio=True)

    async def call(session: dict[str, object], consent: bool) -> None:
        base = ws_base(server)
        cookie = server.therapist_cookie()
        t_token, c_token = (
            token_of(str(session["therapist_url"])),
            token_of(str(session["client_url"])),
        )
        async with (
            PeerParticipant(base, t_token, therapist_wav, loop=True, cookie=cookie) as therapist,
            PeerParticipant(base, c_token, client_wav, loop=True) as client,
        ):
            await start_call(therapist, client, consent=consent)
            await asyncio.sleep(6)
            await therapist.send({"type": "end"})
            await therapist.expect("ended")

    for session, consent in ((recorded, True), (not_recorded, True), (declined, False)):
        asyncio.run(call(session, consent))
    store = open_store(server.data_dir)
    try:
        files = {f.role: f.path for f in store.audio_files(str(recorded["id"]))}
        assert sorted(files) == ["client", "therapist"]
        for role, path in files.items():
            at_rest = Path(path).read_bytes()
            assert not at_rest.startswith(b"OggS")  # encrypted at rest, like the transcript
            clear = tmp_path / f"{role}.ogg"
            clear.write_bytes(store.open_sealed(path, audio_aad(str(recorded["id"]), role)))
            audio = decode_file(clear)  # Ogg/Opus once decrypted
            assert len(audio) > 16000 * 3
            assert float(np.sqrt(np.mean(audio**2))) > 0.005  # speech, not only silence
        assert store.audio_files(str(not_recorded["id"])) == []  # not set to record
        assert store.audio_files(str(declined["id"])) == []  # set, but nobody agreed
    finally:
        store.close()
    assert not list((server.data_dir / "audio").glob(f"{not_recorded['id']}*"))
    assert not (server.data_dir / "audio" / str(declined["id"])).exists()
