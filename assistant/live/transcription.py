"""Live transcription: one recogniser shared by every session, behind a bounded queue.

Audio intake and media forwarding never wait on the model: speech jobs are queued and one
worker thread runs the recogniser. When the queue is full, interim work is dropped first (an
interim job is also dropped when a newer job of the same utterance is queued); a final job is
never dropped. Whoever submitted a job learns how long it waited, to tell the therapist when
transcription lags.

Speculation: a chain sends a speculative job as soon as a pause begins. If the pause then
ends the turn, the final job has the same audio, and the speculative transcript is reused
instead of transcribing again: the final reaches the panel a few hundred milliseconds sooner.

Delivery: each result goes to its session's outbox, which one task per session empties in
order (coding, storing, sending to the panel). The recogniser moves on to the next job at
once: when it awaited each delivery itself, it stood idle 40% of the time at six sessions
while 35 jobs waited (docs/reliability.md, "Load").
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from assistant.events import Utterance
from assistant.live.metrics import LiveMetrics
from assistant.speech.asr import Transcriber
from assistant.speech.chain import SpeechJob, recognise

log = logging.getLogger("attune.transcription")

Deliver = Callable[[Utterance, float], Awaitable[None]]
"""Called with the utterance and how long its job waited in the queue (seconds)."""


@dataclass
class _Queued:
    job: SpeechJob
    deliver: Deliver
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class TranscriptionStats:
    finals_done: int = 0
    interims_done: int = 0
    interims_dropped: int = 0
    finals_reused: int = 0
    last_wait_s: float = 0.0
    last_model_s: float = 0.0
    model_busy_s: float = 0.0
    """Seconds the worker has spent on jobs in all (the recogniser's share of the time)."""


class TranscriptionService:
    """Queue speech jobs from any session; run them on one recogniser, finals first."""

    def __init__(
        self,
        transcriber: Transcriber,
        max_interims: int = 4,
        *,
        metrics: LiveMetrics | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.max_interims = max_interims
        self.metrics = metrics
        self.stats = TranscriptionStats()
        self._finals: collections.deque[_Queued] = collections.deque()
        self._interims: collections.deque[_Queued] = collections.deque()
        self._speculated: dict[tuple[Deliver, str, float], Utterance] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outboxes: dict[Deliver, collections.deque[tuple[Utterance, float]]] = {}
        self._delivering: set[asyncio.Task[None]] = set()

    @property
    def depth(self) -> int:
        return len(self._finals) + len(self._interims)

    def oldest_wait(self) -> float:
        """How long the oldest queued job has waited (0 when the queue is empty)."""
        queued = [q[0].queued_at for q in (self._finals, self._interims) if q]
        return max(0.0, time.monotonic() - min(queued)) if queued else 0.0

    def _count(self, job: SpeechJob, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.jobs.labels(_kind(job), outcome).inc()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="asr-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        delivering = list(self._delivering)
        for task in delivering:
            task.cancel()
        await asyncio.gather(*delivering, return_exceptions=True)

    def _remember(self, key: tuple[Deliver, str, float], utterance: Utterance) -> None:
        self._speculated[key] = utterance
        while len(self._speculated) > 256:
            del self._speculated[next(iter(self._speculated))]

    def submit(self, job: SpeechJob, deliver: Deliver) -> None:
        # a newer job of the same utterance makes queued interims of it pointless
        stale = [
            q
            for q in self._interims
            if q.job.utterance_id == job.utterance_id and q.deliver == deliver
        ]
        for q in stale:
            self._interims.remove(q)
            self.stats.interims_dropped += 1
            self._count(q.job, "dropped")
        item = _Queued(job, deliver)
        if job.final:
            self._finals.append(item)
        else:
            if len(self._interims) >= self.max_interims or self._finals:
                # behind on finals, or full: interim work goes first
                if self._interims:
                    self._count(self._interims.popleft().job, "dropped")
                    self.stats.interims_dropped += 1
                if self._finals:
                    self.stats.interims_dropped += 1
                    self._count(job, "dropped")
                    return
            self._interims.append(item)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            if not self._finals and not self._interims:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._finals.popleft() if self._finals else self._interims.popleft()
            waited = time.monotonic() - item.queued_at
            t0 = time.monotonic()
            key = (item.deliver, item.job.utterance_id, item.job.end)
            try:
                reused = self._speculated.pop(key, None) if item.job.final else None
                outcome = "done"
                if reused is not None:
                    outcome = "reused"
                    self.stats.finals_reused += 1
                    utterance = Utterance(
                        reused.id, reused.speaker, reused.start, reused.end, reused.text, final=True
                    )
                else:
                    utterance = await asyncio.to_thread(recognise, item.job, self.transcriber)
                    if item.job.speculative:
                        self._remember(key, utterance)
            except Exception:  # a bad segment must not stop transcription for everyone
                log.exception("transcription failed for %s", item.job.utterance_id)
                self._count(item.job, "failed")
                if not item.job.final:
                    continue
                outcome = "failed"
                job = item.job
                utterance = Utterance(job.utterance_id, job.speaker, job.start, job.end, "")
            self.stats.last_model_s = time.monotonic() - t0
            self.stats.model_busy_s += self.stats.last_model_s
            self.stats.last_wait_s = waited
            if self.metrics is not None:
                kind = _kind(item.job)
                self.metrics.queue_wait.labels(kind).observe(waited)
                if outcome == "done":
                    self.metrics.model.labels(kind).observe(self.stats.last_model_s)
                if outcome != "failed":
                    self.metrics.jobs.labels(kind, outcome).inc()
            if item.job.final:
                self.stats.finals_done += 1
            else:
                self.stats.interims_done += 1
            self._hand_over(item.deliver, utterance, waited)

    def _hand_over(self, deliver: Deliver, utterance: Utterance, waited: float) -> None:
        """Queue a result for its session; one task per session delivers them in order."""
        box = self._outboxes.get(deliver)
        if box is None:
            box = self._outboxes[deliver] = collections.deque()
            task = asyncio.get_running_loop().create_task(self._deliver_all(deliver, box))
            self._delivering.add(task)
            task.add_done_callback(self._delivering.discard)
        box.append((utterance, waited))

    async def _deliver_all(
        self, deliver: Deliver, box: collections.deque[tuple[Utterance, float]]
    ) -> None:
        try:
            while box:
                utterance, waited = box.popleft()
                try:
                    await deliver(utterance, waited)
                except Exception:
                    log.exception("delivering %s failed", utterance.id)
        finally:
            if self._outboxes.get(deliver) is box:
                del self._outboxes[deliver]


def _kind(job: SpeechJob) -> str:
    return "final" if job.final else "speculative" if job.speculative else "interim"
