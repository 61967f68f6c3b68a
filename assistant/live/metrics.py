"""Operational metrics of the live path, in Prometheus form (``/metrics``).

Figures only: counts, durations and queue depths. No metric carries a session id, a name or
any text, so scraping them reveals nothing of what was said. Each application has its own
registry (tests run several servers in one process).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
FAST_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LiveMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.speech_to_transcript = Histogram(
            "attune_speech_to_transcript_seconds",
            "End of a turn's speech to its final transcript reaching the panel.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.transcript_to_cue = Histogram(
            "attune_transcript_to_cue_seconds",
            "A final transcript arriving to a cue it raised reaching the panel.",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.coding = Histogram(
            "attune_coding_seconds",
            "Coding one final utterance and running the cue rules.",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.model = Histogram(
            "attune_asr_model_seconds",
            "The recogniser's time for one speech job.",
            ["job"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "attune_transcription_wait_seconds",
            "Time a speech job waited in the transcription queue.",
            ["job"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.jobs = Counter(
            "attune_transcription_jobs",
            "Speech jobs by kind and what became of them.",
            ["job", "outcome"],
            registry=r,
        )
        self.events_stored = Counter(
            "attune_events_stored", "Events written to the store.", ["type"], registry=r
        )
        self.store_failures = Counter(
            "attune_store_failures", "Events that could not be stored.", registry=r
        )
        self.notices = Counter(
            "attune_notices", "Notices shown on therapists' panels.", ["code"], registry=r
        )
        self.audio_dropped = Counter(
            "attune_audio_dropped_seconds",
            "Audio a speech tap dropped because the server fell 5 s behind (overload).",
            ["role"],
            registry=r,
        )
        self.nudges = Counter(
            "attune_nudges", "Setup messages assistants sent to participants.", registry=r
        )
        self.checks = Counter(
            "attune_setup_checks", "Connection tests run from the setup check page.", registry=r
        )

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A figure read when scraped (sessions live, queue depth)."""
        Gauge(name, documentation, registry=self.registry).set_function(read)
