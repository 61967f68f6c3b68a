"""Attune: a self-hosted telehealth session assistant.

Audio flows one way through small stages (see docs/architecture.md):
per speaker ``audio in -> 16 kHz mono -> VAD -> ASR``, the speakers merge into one
time-ordered dialogue stream, then dialogue stages (cue coding, summary) emit events.
"""

__version__ = "0.1.0"
