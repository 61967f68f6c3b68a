"""Outgoing media: a track that forwards the other participant's media when there is some,
and silence or a still black picture while there is none.

Each participant's peer connection gets one ``ForwardTrack`` per kind from the start, so the
other participant can join, leave and rejoin without renegotiating: only the source changes.
Frames are re-stamped on the track's own clock so timestamps never jump when it does. A
received frame is shared with the participant's speech tap (``fanout``), which reads the
sender's timestamps to find lost audio, so the track re-stamps a copy, never the frame itself.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from assistant.live.fanout import Subscription

AUDIO_RATE = 48_000
AUDIO_PTIME = 0.020
VIDEO_CLOCK = 90_000
VIDEO_FPS = 15
SOURCE_TIMEOUT_S = 0.5  # a source silent this long is treated as gone


class ForwardTrack(MediaStreamTrack):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._source: MediaStreamTrack | None = None
        self._start: float | None = None
        self._samples = 0
        self._black: av.VideoFrame | None = None
        self._next_blank: float | None = None
        self._resampler: av.AudioResampler | None = None
        self._quiet = False  # the source sent nothing for a while: blanks, still listening

    @property
    def source(self) -> MediaStreamTrack | None:
        return self._source

    def set_source(self, source: MediaStreamTrack | None) -> None:
        self._source = source
        self._next_blank = None
        self._quiet = False

    async def recv(self) -> av.AudioFrame | av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        source = self._source
        frame: av.AudioFrame | av.VideoFrame | None = None
        if source is not None:
            # a quiet source (its media not connected yet, or its network down) is kept and
            # polled between blank frames: when its media flows again, so does this track
            wait = AUDIO_PTIME if self.kind == "audio" else 1 / VIDEO_FPS
            try:
                if isinstance(source, Subscription) and source.waiting:
                    # a frame is there: take it now (wait_for would cost a task and a turn
                    # of the event loop per frame, more than a busy loop has for 50 a second)
                    got = await source.recv()
                else:
                    got = await asyncio.wait_for(
                        source.recv(), wait if self._quiet else SOURCE_TIMEOUT_S
                    )
                self._quiet = False
                if isinstance(got, av.VideoFrame):
                    frame = _copy_video(got)
                elif isinstance(got, av.AudioFrame):
                    frame = self._conform(got)
            except TimeoutError:
                self._quiet = True
            except MediaStreamError:
                if self._source is source:
                    self._source = None
        if frame is None:
            frame = await self._blank()
        return self._stamp(frame)

    def _conform(self, frame: av.AudioFrame) -> av.AudioFrame | None:
        """Audio as the encoder was set up for: s16 stereo at 48 kHz (it keeps the format of
        the first frame it saw, and sources differ)."""
        if (
            frame.format.name == "s16"
            and frame.layout.name == "stereo"
            and frame.sample_rate == AUDIO_RATE
        ):
            return _copy_audio(frame)
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)
        out = self._resampler.resample(frame)
        return out[0] if out else None

    async def _blank(self) -> av.AudioFrame | av.VideoFrame:
        interval = AUDIO_PTIME if self.kind == "audio" else 1 / VIDEO_FPS
        now = time.monotonic()
        due = self._next_blank
        if due is None or due < now - 1.0:
            due = now
        self._next_blank = due + interval
        if due > now:
            await asyncio.sleep(due - now)
        if self.kind == "audio":
            samples = int(AUDIO_RATE * AUDIO_PTIME)
            audio = av.AudioFrame(format="s16", layout="stereo", samples=samples)
            for audio_plane in audio.planes:
                audio_plane.update(bytes(audio_plane.buffer_size))
            audio.sample_rate = AUDIO_RATE
            return audio
        if self._black is None:
            self._black = av.VideoFrame(width=320, height=240, format="yuv420p")
            for i, plane in enumerate(self._black.planes):
                plane.update(bytes([16 if i == 0 else 128]) * plane.buffer_size)
        return self._black

    def _stamp(self, frame: av.AudioFrame | av.VideoFrame) -> av.AudioFrame | av.VideoFrame:
        if isinstance(frame, av.AudioFrame):
            rate = frame.sample_rate or AUDIO_RATE
            frame.pts = int(self._samples * rate / AUDIO_RATE)
            frame.time_base = fractions.Fraction(1, rate)
            self._samples += int(frame.samples * AUDIO_RATE / rate)
        else:
            assert self._start is not None
            frame.pts = int((time.monotonic() - self._start) * VIDEO_CLOCK)
            frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


def _copy_audio(frame: av.AudioFrame) -> av.AudioFrame:
    """The same samples in a frame of this track's own (a decoder's frame may hold a larger
    buffer than its samples: Opus allocates for 120 ms)."""
    copy = av.AudioFrame.from_ndarray(
        frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name
    )
    copy.sample_rate = frame.sample_rate
    return copy


def _copy_video(frame: av.VideoFrame) -> av.VideoFrame:
    """The same picture in a frame of this track's own (a decoder may pad its rows
    differently: rows are then copied one by one)."""
    copy = av.VideoFrame(width=frame.width, height=frame.height, format=frame.format.name)
    for mine, theirs in zip(copy.planes, frame.planes, strict=True):
        if mine.line_size == theirs.line_size and mine.buffer_size == theirs.buffer_size:
            mine.update(bytes(theirs))
            continue
        width = min(mine.line_size, theirs.line_size)
        rows = np.frombuffer(bytes(theirs), np.uint8)[: theirs.height * theirs.line_size]
        padded = np.zeros((mine.height, mine.line_size), np.uint8)
        padded[:, :width] = rows.reshape(theirs.height, theirs.line_size)[:, :width]
        mine.update(padded.tobytes())
    return copy
