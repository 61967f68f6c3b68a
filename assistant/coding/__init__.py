"""Utterance coder: MITI/AnnoMI codes for therapist and client utterances.

Importing this package is cheap; torch and sentence-transformers load on :func:`load_coder`.
"""

from assistant.coding.model import CoderWeightsError, UtteranceCoder, load_coder

__all__ = ["CoderWeightsError", "UtteranceCoder", "load_coder"]
