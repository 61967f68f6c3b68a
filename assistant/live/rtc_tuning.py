"""Four changes to aiortc/aioice that decide whether a busy relay degrades or drops its calls.

Measured with ``bench/load.py`` on the 2-core machine (docs/reliability.md, "Load"): at four
sessions the relay's event loop fell behind, the receive queues of its UDP sockets grew to
hundreds of kilobytes (seconds of media), and every call dropped 33-39 s in.

- **Consent freshness** (RFC 7675). aioice sends a consent check every ~5 s and waits
  0.5 s for the answer, with no retransmission; six unanswered checks in a row close the
  connection. An answer that waits behind a second of queued media counts as none, so a
  relay that is merely late closes every call 30 s into an overload, although each peer is
  there and answering. RFC 7675 expires consent when *no* answer has come for 30 s; that is
  what :func:`query_consent` does: each check is sent again 0.5 s and 1.5 s later, and any
  authenticated answer (up to 3.5 s late) renews consent. A peer that is really gone still
  expires after 30 s.
- **Audio level** (RFC 6465). aiortc computes the level of every outgoing audio frame in a
  pure-Python loop over its samples (~0.3 ms a frame, 50 frames a second a participant, on
  the event loop): a tenth of the relay's loop at three sessions. :func:`audio_level_dbov`
  gives the same figure (within 1 dB) from a few hundred of the samples.
- **Audio encoding**. aiortc encodes every outgoing frame in a thread of the loop's executor and
  awaits it: one thread hand-off and at least one loop iteration per 20 ms audio frame. On a
  busy loop (iterations of 50 ms and more at four sessions) an audio sender got through fewer
  than 50 frames a second and its listener's audio fell behind (half of it dropped, with
  fanout.py's bound). An Opus frame takes ~0.1 ms to encode, far less than the hand-off:
  :func:`next_encoded_frame` encodes audio on the loop; video still goes to the executor.
- **Decoded frames to the loop**. aiortc's decoder threads hand each decoded frame to the loop
  with ``asyncio.run_coroutine_threadsafe(queue.put(frame))``: a future, a task and their
  callbacks per frame, a fifth of the loop's time at four sessions (py-spy).
  :func:`decoder_worker` hands it over with one ``call_soon_threadsafe(queue.put_nowait)``.

``install()`` applies all four, once, in the server and in the test peers. Each is skipped with a
warning if aiortc/aioice no longer have what it replaces.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import random
import threading
import time
from typing import Any

import av
import numpy as np
from aioice import ice, stun
from aiortc import rtcrtpreceiver, rtcrtpsender, rtp
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import AudioFrame
from av.frame import Frame

log = logging.getLogger("attune.rtc")

CONSENT_TIMEOUT_S = 30.0
"""RFC 7675: consent expires when no answer to a consent check has come for this long."""
CONSENT_RETRANSMISSIONS = 2
"""Each check is sent again after 0.5 s and 1.5 s; an answer up to 3.5 s late still counts."""
LEVEL_SAMPLES = 240
"""Samples an audio level is computed from (of 1,920 in a 20 ms stereo frame at 48 kHz)."""

AIOICE_QUERY_CONSENT = getattr(ice.Connection, "query_consent", None)
AIORTC_AUDIO_LEVEL = getattr(rtp, "compute_audio_level_dbov", None)
AIORTC_NEXT_ENCODED_FRAME = getattr(rtcrtpsender.RTCRtpSender, "_next_encoded_frame", None)
AIORTC_DECODER_WORKER = getattr(rtcrtpreceiver, "decoder_worker", None)
"""What :func:`install` replaces (kept for comparison in the tests)."""
_SENDER_TRACK = "_RTCRtpSender__track"
_SENDER_ENCODER = "_RTCRtpSender__encoder"

_installed = False


async def query_consent(self: ice.Connection) -> None:
    """aioice's ``Connection.query_consent`` with RFC 7675's expiry: 30 s without an answer."""
    assert self.remote_password is not None
    key = self.remote_password.encode("utf8")
    answered = time.monotonic()
    while True:
        await asyncio.sleep(ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in list(self._nominated.values()):
            request = self.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=key,
                    retransmissions=CONSENT_RETRANSMISSIONS,
                )
                answered = time.monotonic()
            except stun.TransactionError:
                pass
        silent = time.monotonic() - answered
        if silent >= CONSENT_TIMEOUT_S:
            log.info("consent to send expired: no answer to consent checks for %.0f s", silent)
            self._query_consent_task = None
            await self.close()
            return


def audio_level_dbov(frame: AudioFrame) -> int:
    """RFC 6465 Appendix A's level, as ``aiortc.rtp.compute_audio_level_dbov`` defines it
    (s16 samples), from at most ``LEVEL_SAMPLES`` evenly spaced samples in integer arithmetic:
    a level for a header extension needs no more, and numpy works on so few values without
    releasing the GIL (which the relay's loop thread then waits to get back)."""
    samples = np.frombuffer(bytes(frame.planes[0]), dtype="<i2")
    if samples.size == 0:
        return -127
    step = -(-samples.size // LEVEL_SAMPLES)
    picked = samples[::step].astype(np.int64)
    # aiortc divides the sum over every channel's samples by the samples per channel
    channels = samples.size / max(frame.samples, 1)
    mean_square = int(picked @ picked) * channels / (picked.size * 32767 * 32767)
    if mean_square <= 0:
        return -127
    return round(min(max(10 * math.log10(mean_square), -127.0), 0.0))


async def next_encoded_frame(
    self: rtcrtpsender.RTCRtpSender, codec: RTCRtpCodecParameters
) -> rtcrtpsender.RTCEncodedFrame | None:
    """aiortc's ``RTCRtpSender._next_encoded_frame``, encoding audio on the loop."""
    if self.kind != "audio":
        assert AIORTC_NEXT_ENCODED_FRAME is not None  # install() checked
        return await AIORTC_NEXT_ENCODED_FRAME(self, codec)
    data = await getattr(self, _SENDER_TRACK).recv()
    if not self._enabled:
        return None  # a disabled sender still reads its track, as aiortc's does
    encoder = getattr(self, _SENDER_ENCODER)
    if encoder is None:
        encoder = rtcrtpsender.get_encoder(codec)
        setattr(self, _SENDER_ENCODER, encoder)
    level = None
    if isinstance(data, Frame):
        if isinstance(data, AudioFrame):
            level = rtp.compute_audio_level_dbov(data)
        payloads, timestamp = encoder.encode(data, False)
    else:
        payloads, timestamp = encoder.pack(data)
    if not payloads:
        return None
    # aiortc passes None for "no level" too, though its annotation says int
    return rtcrtpsender.RTCEncodedFrame(payloads, timestamp, level)  # type: ignore[arg-type]


def decoder_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[Any],
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    """aiortc's ``rtcrtpreceiver.decoder_worker`` (one thread per receiver), handing frames to
    the loop without a task each."""

    def hand_over(item: Any) -> bool:
        try:
            loop.call_soon_threadsafe(output_q.put_nowait, item)  # the queue is unbounded
            return True
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return False

    codec_name = None
    decoder = None
    while True:
        task = input_q.get()
        if task is None:
            hand_over(None)  # the track has ended
            break
        codec, encoded_frame = task
        if codec.name != codec_name:
            decoder = rtcrtpreceiver.get_decoder(codec)
            codec_name = codec.name
        assert decoder is not None
        try:
            frames = decoder.decode(encoded_frame)
        except av.FFmpegError as exc:
            # keep the decoder's state: a reset would fail every frame until the next keyframe
            log.warning("failed to decode a %s frame: %s", codec.name, exc)
            decode_error.set()
            continue
        if not all(hand_over(frame) for frame in frames):
            break


def install() -> None:
    """Apply the changes to the running process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    connection = ice.Connection
    if all(hasattr(connection, name) for name in ("query_consent", "build_request")):
        connection.query_consent = query_consent  # type: ignore[method-assign]
    else:
        log.warning("aioice changed: keeping its own consent checks (calls may drop when busy)")
    if hasattr(rtp, "compute_audio_level_dbov"):
        rtp.compute_audio_level_dbov = audio_level_dbov
    else:
        log.warning("aiortc changed: keeping its own audio level computation")
    if AIORTC_DECODER_WORKER is not None and hasattr(rtcrtpreceiver, "get_decoder"):
        rtcrtpreceiver.decoder_worker = decoder_worker
    else:
        log.warning("aiortc changed: keeping its own decoder threads")
    sender = rtcrtpsender.RTCRtpSender
    names = {*sender.__init__.__code__.co_names, *sender.replaceTrack.__code__.co_names}
    if (
        AIORTC_NEXT_ENCODED_FRAME is not None
        and hasattr(rtcrtpsender, "RTCEncodedFrame")
        and {_SENDER_TRACK, _SENDER_ENCODER, "_enabled"} <= names
    ):
        sender._next_encoded_frame = next_encoded_frame  # type: ignore[method-assign]
    else:
        log.warning("aiortc changed: audio is encoded in its executor as before")
