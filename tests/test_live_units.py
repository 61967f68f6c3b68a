"""Unit tests of the live stages whose neighbours have their own tests: sessions and tokens,
the shared transcription queue (scripted recogniser), crosstalk, forwarded tracks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import AudioStreamTrack

from assistant.events import Utterance
from assistant.live.crosstalk import BleedFilter
from assistant.live.forward import ForwardTrack
from assistant.live.sessions import LINK_GRACE, SessionRegistry
from assistant.live.transcription import TranscriptionService
from assistant.speech.asr import Transcription
from assistant.speech.chain import SpeechJob
from assistant.store import open_store

SR = 16000


# -- sessions and tokens --------------------------------------------------------------------
@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[SessionRegistry, int]]:
    from argon2 import PasswordHasher

    store = open_store(
        tmp_path / "data",
        password_hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
    )
    therapist = store.add_user("tess", "therapist", "a long password")
    yield SessionRegistry(store), therapist.id
    store.close()


def test_tokens_resolve_to_one_role_of_one_session_until_they_expire(
    registry: tuple[SessionRegistry, int],
) -> None:
    sessions, therapist = registry
    session, tokens = sessions.create(therapist, 50, "Tue")
    other_session, other_tokens = sessions.create(therapist, 30)
    t_grant = sessions.resolve(tokens["therapist"])
    c_grant = sessions.resolve(tokens["client"])
    assert t_grant is not None and (t_grant.session.id, t_grant.role) == (session.id, "therapist")
    assert c_grant is not None and c_grant.role == "client"
    other_client = sessions.resolve(other_tokens["client"])
    assert other_client is not None and other_client.session.id == other_session.id
    for bad in [None, 42, "", "short", tokens["client"] + "x", "a" * 43, "é" * 43]:
        assert sessions.resolve(bad) is None
    # only digests are stored: the database file holds no token
    db = (sessions.store.data_dir or Path()) / "attune.db"  # type: ignore[attr-defined]
    assert tokens["client"].encode() not in db.read_bytes()
    later = datetime.now(UTC) + timedelta(minutes=50) + LINK_GRACE + timedelta(seconds=1)
    sessions._now = lambda: later  # type: ignore[method-assign]
    assert sessions.resolve(tokens["client"]) is None


def test_ended_sessions_refuse_their_links_and_lengths_are_bounded(
    registry: tuple[SessionRegistry, int],
) -> None:
    sessions, therapist = registry
    session, tokens = sessions.create(therapist, 50)
    sessions.store.end_session(session.id)
    assert sessions.resolve(tokens["therapist"]) is None
    with pytest.raises(ValueError):
        sessions.create(therapist, 1)
    with pytest.raises(ValueError):
        sessions.create(therapist, 10_000)


# -- the shared transcription queue -----------------------------------------------------------
class GatedTranscriber:
    """Scripted recogniser that blocks until released, to fill the queue on purpose."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.seen: list[tuple[int, bool]] = []

    def transcribe(self, audio: np.ndarray, *, final: bool = True) -> Transcription:
        self.gate.wait(5)
        self.seen.append((len(audio), final))
        return Transcription(text=f"words {len(audio)}", avg_logprob=-0.1)

    def transcribe_many(self, segments: Sequence[np.ndarray]) -> list[Transcription]:
        return [self.transcribe(a) for a in segments]


def job(uid: str, final: bool, n: int) -> SpeechJob:
    audio = (0.1 * np.sin(np.arange(n) / 3)).astype(np.float32)
    return SpeechJob("client", uid, 0.0, n / SR, audio, final)


async def test_finals_are_never_dropped_and_interims_go_first() -> None:
    transcriber = GatedTranscriber()
    service = TranscriptionService(transcriber, max_interims=2)
    service.start()
    got: list[tuple[str, bool, str]] = []

    async def deliver(u: Utterance, waited: float) -> None:
        got.append((str(u.id), u.final, u.text))

    service.submit(job("c1", False, 1000), deliver)  # taken by the worker, blocks on the gate
    await asyncio.sleep(0.05)
    for i in range(2, 8):
        service.submit(job(f"c{i}", False, 1000 + i), deliver)
    for i in range(2, 8):
        service.submit(job(f"c{i}", True, 2000 + i), deliver)
    assert service.stats.interims_dropped >= 4
    transcriber.gate.set()
    for _ in range(100):
        if sum(final for _, final, _ in got) == 6:
            break
        await asyncio.sleep(0.05)
    await service.stop()
    finals = [uid for uid, final, _ in got if final]
    assert finals == [f"c{i}" for i in range(2, 8)]  # every final, in order
    interims_after_finals = [uid for uid, final, _ in got[1:] if not final]
    assert interims_after_finals == []  # queued interims never overtook or followed finals


async def test_a_slow_delivery_holds_up_neither_the_recogniser_nor_other_sessions() -> None:
    transcriber = GatedTranscriber()
    transcriber.gate.set()
    service = TranscriptionService(transcriber)
    service.start()
    release = asyncio.Event()
    slow: list[str] = []
    fast: list[str] = []

    async def deliver_slowly(u: Utterance, waited: float) -> None:
        await release.wait()  # coding and storing a session's turn, on a busy server
        slow.append(str(u.id))

    async def deliver(u: Utterance, waited: float) -> None:
        fast.append(str(u.id))

    for i in range(3):
        service.submit(job(f"a{i}", True, 1000 + i), deliver_slowly)
    service.submit(job("b0", True, 2000), deliver)
    for _ in range(100):
        if fast:
            break
        await asyncio.sleep(0.02)
    assert fast == ["b0"] and slow == []  # the other session's turn went past the slow one
    assert service.stats.finals_done == 4  # the recogniser did not wait for deliveries
    release.set()
    for _ in range(100):
        if len(slow) == 3:
            break
        await asyncio.sleep(0.02)
    await service.stop()
    assert slow == ["a0", "a1", "a2"]  # one session's turns keep their order


async def test_a_newer_job_replaces_queued_interims_of_the_same_utterance() -> None:
    transcriber = GatedTranscriber()
    service = TranscriptionService(transcriber)
    service.start()
    got: list[tuple[str, bool]] = []

    async def deliver(u: Utterance, waited: float) -> None:
        got.append((str(u.id), u.final))

    service.submit(job("t0", True, 500), deliver)
    await asyncio.sleep(0.05)
    service.submit(job("t1", False, 1000), deliver)
    service.submit(job("t1", False, 2000), deliver)
    service.submit(job("t1", True, 3000), deliver)
    transcriber.gate.set()
    for _ in range(100):
        if ("t1", True) in got:
            break
        await asyncio.sleep(0.05)
    await service.stop()
    assert got == [("t0", True), ("t1", True)]


# -- crosstalk ---------------------------------------------------------------------------------
def speechlike(seconds: float, level: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (level * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )


def test_a_quiet_copy_of_the_other_voice_is_bleed_and_real_speech_is_not() -> None:
    bleed = BleedFilter()
    voice = speechlike(3.0, 0.3)
    bleed.record("client", 10.0, np.concatenate([voice, np.zeros(SR, np.float32)]))
    leak = np.concatenate([np.zeros(int(0.15 * SR), np.float32), voice[: -int(0.15 * SR)] * 0.03])
    bleed.record("therapist", 10.0, np.concatenate([leak, speechlike(1.0, 0.3)]))
    assert bleed.is_bleed(SpeechJob("therapist", "t1", 10.2, 12.9, leak, True))
    # the therapist's own voice afterwards, while the client is silent, is real
    assert not bleed.is_bleed(SpeechJob("therapist", "t2", 13.0, 14.0, leak, True))
    # the client's original is never judged bleed of the quieter copy
    assert not bleed.is_bleed(SpeechJob("client", "c1", 10.0, 13.0, voice, True))


def test_both_speaking_at_once_is_not_bleed() -> None:
    bleed = BleedFilter()
    bleed.record("client", 0.0, speechlike(2.0, 0.3))
    bleed.record("therapist", 0.0, speechlike(2.0, 0.2))
    assert not bleed.is_bleed(SpeechJob("therapist", "t1", 0.0, 2.0, np.zeros(1), True))


# -- forwarded tracks ---------------------------------------------------------------------------
async def test_forward_track_sends_paced_silence_then_the_source_with_continuous_stamps() -> None:
    track = ForwardTrack("audio")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    frames = [await track.recv() for _ in range(10)]
    assert loop.time() - t0 >= 0.15  # paced at 20 ms a frame, not as fast as possible
    assert all(isinstance(f, av.AudioFrame) for f in frames)
    track.set_source(AudioStreamTrack())  # a source of another format (8 kHz mono)
    more = [await track.recv() for _ in range(10)]
    audio = [f for f in frames + more if isinstance(f, av.AudioFrame)]
    pts = [int(f.pts or 0) for f in audio]
    assert pts == sorted(pts) and len(set(pts)) == len(pts) == 20
    assert all(f.sample_rate == 48000 and f.layout.name == "stereo" for f in audio[10:])
    track.stop()


async def test_forward_track_restamps_its_own_copy_never_the_shared_received_frame() -> None:
    """The fan-out hands one received frame to the speech tap and to the forwarded track. The
    tap finds lost audio from the sender's timestamps: when the forwarded track re-stamped the
    shared frame itself, a tap that read after it (a busy server) saw jumps of several seconds,
    restarted its speech chain each time, and cut turns into fragments (a CI failure)."""
    from aiortc.codecs.opus import OpusDecoder, OpusEncoder
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    from assistant.live.fanout import MediaFanOut

    class Received(MediaStreamTrack):
        def __init__(self, kind: str, frames: list[av.AudioFrame | av.VideoFrame]) -> None:
            super().__init__()
            self.kind = kind
            self.frames = frames

        async def recv(self) -> av.AudioFrame | av.VideoFrame:
            if not self.frames:
                await asyncio.sleep(3600)
                raise MediaStreamError
            return self.frames.pop(0)

    # audio as the relay receives it: decoded by aiortc's Opus decoder, whose frames hold a
    # buffer for 120 ms whatever their length
    encoder, decoder = OpusEncoder(), OpusDecoder()
    sent_audio: list[av.AudioFrame | av.VideoFrame] = []
    for n in range(8):
        tone = (3000 * np.sin(np.arange(2 * 960) * 0.05)).astype(np.int16).reshape(1, -1)
        captured = av.AudioFrame.from_ndarray(tone, format="s16", layout="stereo")
        captured.sample_rate, captured.pts = 48000, n * 960
        payloads, _ = encoder.encode(captured)
        for n_packet, payload in enumerate(payloads):
            stamp = 48000 * 7 + (n + n_packet) * 960  # 7 s into the sender's call
            for decoded in decoder.decode(JitterFrame(data=payload, timestamp=stamp)):
                assert isinstance(decoded, av.AudioFrame)
                sent_audio.append(decoded)
    assert len(sent_audio) >= 5
    picture = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    sent_video: list[av.AudioFrame | av.VideoFrame] = []
    for n in range(3):
        picture_frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        picture_frame = picture_frame.reformat(format="yuv420p")
        picture_frame.pts = 90000 * 7 + n * 6000
        sent_video.append(picture_frame)
    fanout = MediaFanOut()
    for kind, sent in (("audio", sent_audio), ("video", sent_video)):
        stamps = [f.pts for f in sent]
        received = Received(kind, list(sent))
        tap = fanout.subscribe(received, backlog=100)
        forward = ForwardTrack(kind)
        forward.set_source(fanout.subscribe(received, backlog=100))
        forwarded = [await forward.recv() for _ in sent]  # the forwarded track reads first
        tapped = [await tap.recv() for _ in sent]
        assert [f.pts for f in tapped] == stamps  # the sender's, untouched
        assert [int(f.pts or 0) for f in forwarded] == sorted(int(f.pts or 0) for f in forwarded)
        assert int(forwarded[0].pts or 0) < int(sent[0].pts or 0)  # on the track's own clock
        for out, original in zip(forwarded, sent, strict=True):
            assert out is not original
            assert (out.to_ndarray() == original.to_ndarray()).all()  # same sound, picture
        forward.stop()


async def test_forward_track_falls_back_to_a_still_picture_when_the_source_ends() -> None:
    from aiortc.mediastreams import VideoStreamTrack

    track = ForwardTrack("video")
    source = VideoStreamTrack()
    track.set_source(source)
    first = await track.recv()
    source.stop()
    after = await track.recv()
    assert isinstance(first, av.VideoFrame) and isinstance(after, av.VideoFrame)
    assert track.source is None
    assert int(after.pts or 0) >= int(first.pts or 0)
    track.stop()


async def test_a_final_reuses_the_transcript_of_its_speculative_job() -> None:
    transcriber = GatedTranscriber()
    transcriber.gate.set()
    service = TranscriptionService(transcriber)
    service.start()
    got: list[tuple[str, bool, str]] = []

    async def deliver(u: Utterance, waited: float) -> None:
        got.append((str(u.id), u.final, u.text))

    spec = job("c1", False, 1600)
    service.submit(
        SpeechJob(spec.speaker, "c1", 0.0, 0.1, spec.audio, False, speculative=True), deliver
    )
    for _ in range(50):
        if got:
            break
        await asyncio.sleep(0.02)
    service.submit(SpeechJob(spec.speaker, "c1", 0.0, 0.1, spec.audio, True), deliver)
    for _ in range(50):
        if len(got) == 2:
            break
        await asyncio.sleep(0.02)
    await service.stop()
    assert got == [("c1", False, "words 1600"), ("c1", True, "words 1600")]
    assert transcriber.seen == [(1600, True)]  # transcribed once
    assert service.stats.finals_reused == 1
