"""assistant/live/fanout.py: one received track, several consumers, each with a bounded backlog.
The source here is a scripted track (the unit under test only reads ``recv()``); the room's
use of it runs in the live-server tests and ``bench/load.py``."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from assistant.live.fanout import MediaFanOut


class ScriptedTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.frames: asyncio.Queue[av.AudioFrame | None] = asyncio.Queue()

    async def recv(self) -> av.AudioFrame:
        frame = await self.frames.get()
        if frame is None:
            raise MediaStreamError
        return frame


def _frame(n: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
    frame.sample_rate = 48000
    frame.pts = n * 960
    return frame


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_each_consumer_gets_every_frame_in_order_within_its_backlog() -> None:
    async def main() -> None:
        source, fanout = ScriptedTrack(), MediaFanOut()
        tap = fanout.subscribe(source, backlog=100)
        forward = fanout.subscribe(source, backlog=3)
        for n in range(10):
            source.frames.put_nowait(_frame(n))
        await _settle()
        assert (tap.waiting, tap.dropped) == (10, 0)
        assert (forward.waiting, forward.dropped) == (3, 7)  # the oldest seven went
        assert [(await tap.recv()).pts for _ in range(10)] == [n * 960 for n in range(10)]
        assert [(await forward.recv()).pts for _ in range(3)] == [n * 960 for n in (7, 8, 9)]
        # a consumer that keeps up loses nothing
        for n in range(10, 20):
            source.frames.put_nowait(_frame(n))
            await _settle()
            assert (await forward.recv()).pts == n * 960
        assert forward.dropped == 7
        await fanout.close()

    asyncio.run(main())


def test_the_source_ending_ends_every_consumer_after_its_frames() -> None:
    async def main() -> None:
        source, fanout = ScriptedTrack(), MediaFanOut()
        a, b = fanout.subscribe(source, 10), fanout.subscribe(source, 10)
        source.frames.put_nowait(_frame(0))
        source.frames.put_nowait(None)
        await _settle()
        for consumer in (a, b):
            assert (await consumer.recv()).pts == 0
            with pytest.raises(MediaStreamError):
                await consumer.recv()
            assert consumer.readyState == "ended"
        assert not fanout._readers  # the reader task is gone

    asyncio.run(main())


def test_a_stopped_consumer_holds_nothing_and_others_go_on() -> None:
    async def main() -> None:
        source, fanout = ScriptedTrack(), MediaFanOut()
        gone, staying = fanout.subscribe(source, 1000), fanout.subscribe(source, 1000)
        gone.stop()
        for n in range(50):
            source.frames.put_nowait(_frame(n))
        await _settle()
        assert gone.waiting == 0 and staying.waiting == 50
        with pytest.raises(MediaStreamError):
            await gone.recv()
        # a waiting consumer wakes when a frame arrives
        late = fanout.subscribe(source, 5)
        waiter = asyncio.ensure_future(late.recv())
        await _settle()
        assert not waiter.done()
        source.frames.put_nowait(_frame(99))
        assert (await asyncio.wait_for(waiter, 1)).pts == 99 * 960
        await fanout.close()

    asyncio.run(main())


def test_a_backlog_holds_at_least_one_frame() -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            MediaFanOut().subscribe(ScriptedTrack(), 0)

    asyncio.run(main())
