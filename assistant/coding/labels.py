"""Label vocabularies of the utterance coder (AnnoMI / MITI codes)."""

from __future__ import annotations

from typing import Final

THERAPIST: Final = "therapist"
CLIENT: Final = "client"
SPEAKERS: Final = (THERAPIST, CLIENT)

# Therapist heads. The first class of each optional head stands for "absent" (None in the API).
BEHAVIOURS: Final = ("question", "reflection", "therapist_input", "other")
QUESTIONS: Final = ("none", "open", "closed")
REFLECTIONS: Final = ("none", "simple", "complex")
INPUTS: Final = ("none", "information", "advice", "negotiation", "options")
# Client head.
TALK_TYPES: Final = ("change", "neutral", "sustain")

NONE: Final = "none"

#: head name -> class names, in the order the classifier's outputs use.
HEADS: Final[dict[str, tuple[str, ...]]] = {
    "behaviour": BEHAVIOURS,
    "question": QUESTIONS,
    "reflection": REFLECTIONS,
    "input": INPUTS,
    "talk_type": TALK_TYPES,
}
THERAPIST_HEADS: Final = ("behaviour", "question", "reflection", "input")
CLIENT_HEADS: Final = ("talk_type",)

#: head whose non-null value the main behaviour implies (AnnoMI: behaviour X => X_exists).
BEHAVIOUR_HEAD: Final[dict[str, str]] = {
    "question": "question",
    "reflection": "reflection",
    "therapist_input": "input",
}


def normalise_speaker(speaker: str) -> str:
    """Map a speaker name to ``therapist`` or ``client``; raise ``ValueError`` otherwise."""
    value = speaker.strip().lower()
    if value not in SPEAKERS:
        raise ValueError(f"speaker must be 'therapist' or 'client', got {speaker!r}")
    return value
