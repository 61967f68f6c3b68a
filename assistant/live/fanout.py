"""Fan-out of received media: each incoming track is read once and handed to its consumers
(the participant's speech tap, the other participant's forwarded track), each through its own
bounded backlog.

aiortc's ``MediaRelay`` gives each consumer either every frame (an unbounded queue) or only the
newest. On a relay whose event loop is saturated the unbounded queues of the forwarded audio
grew by about 350 frames a second at four sessions on the 2-core machine (RSS 1.2 -> 2.1 GB in two
minutes; ``bench/load.py``): the listener's audio fell further and further behind and memory
ran away. Here every consumer states how far behind it may fall: when it is further behind,
its oldest frames are dropped and counted. The forwarded audio keeps half a second (a burst
after a network hiccup still plays), video the newest picture, the speech tap a few seconds
(the tap turns dropped frames into silence by their timestamps, as it does for lost packets, so
the session clock stays true, and the room tells the therapist). Consumers share each frame:
none may modify one (the forwarded track re-stamps a copy).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame as AvFrame

Frame = AvFrame | av.Packet
"""What a received track gives."""


class Subscription(MediaStreamTrack):
    """One consumer's view of a received track: frames in order, at most ``backlog`` waiting."""

    def __init__(self, fanout: MediaFanOut, source: MediaStreamTrack, backlog: int) -> None:
        super().__init__()
        if backlog < 1:
            raise ValueError("a backlog holds at least one frame")
        self.kind = source.kind
        self.source: MediaStreamTrack | None = source
        self.backlog = backlog
        self.dropped = 0
        """Frames dropped because this consumer was ``backlog`` frames behind."""
        self._fanout: MediaFanOut | None = fanout
        self._frames: collections.deque[Frame | None] = collections.deque()
        self._arrived = asyncio.Event()

    @property
    def waiting(self) -> int:
        """Frames received and not yet taken: how far behind this consumer is."""
        return len(self._frames)

    def put(self, frame: Frame | None) -> None:
        """A frame from the source (None: the source ended)."""
        if frame is not None and len(self._frames) >= self.backlog:
            self._frames.popleft()
            self.dropped += 1
        self._frames.append(frame)
        self._arrived.set()

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        while not self._frames:
            self._arrived.clear()
            await self._arrived.wait()
        frame = self._frames.popleft()
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        super().stop()
        fanout, self._fanout = self._fanout, None
        if fanout is not None:
            fanout.unsubscribe(self)
        self._frames.clear()


class MediaFanOut:
    """Reads each subscribed source track in one task and hands every frame to its
    subscriptions."""

    def __init__(self) -> None:
        self._subscriptions: dict[MediaStreamTrack, set[Subscription]] = {}
        self._readers: dict[MediaStreamTrack, asyncio.Task[None]] = {}

    def subscribe(self, track: MediaStreamTrack, backlog: int) -> Subscription:
        """A new consumer of ``track``; it receives the frames that arrive from now on."""
        subscription = Subscription(self, track, backlog)
        self._subscriptions.setdefault(track, set()).add(subscription)
        if track not in self._readers:
            self._readers[track] = asyncio.get_running_loop().create_task(
                self._read(track), name=f"fanout-{track.kind}-{track.id}"
            )
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        source = subscription.source
        subscription.source = None
        if source is not None:
            self._subscriptions.get(source, set()).discard(subscription)

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                try:
                    frame: Frame | None = await track.recv()
                except MediaStreamError:
                    frame = None
                for subscription in list(self._subscriptions.get(track, ())):
                    subscription.put(frame)
                if frame is None:
                    break
        finally:
            self._subscriptions.pop(track, None)
            self._readers.pop(track, None)

    async def close(self) -> None:
        """Stop every reader (the room is closing)."""
        readers = list(self._readers.values())
        for reader in readers:
            reader.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader
