"""A conservative detector of client disclosure: "the client just shared a feeling or meaning".

AnnoMI has no such label, so this is a documented rule, not a learned model. It fires only
when a client utterance has a first-person anchor tied to a feeling word or a
personal-meaning phrase, for example "I'm scared I'll lose her", "it makes me feel useless",
"my kids mean everything to me". It stays silent on plain facts ("I drink on weekends"),
on negated feelings ("I'm not worried") and on very short replies. Precision over recall: a
missed-reflection cue built on it should rather stay quiet than nag.
"""

from __future__ import annotations

import re
from typing import Final

FEELINGS: Final = (
    "afraid",
    "scared",
    "frightened",
    "terrified",
    "anxious",
    "nervous",
    "worried",
    "panicky",
    "sad",
    "unhappy",
    "miserable",
    "depressed",
    "down",
    "low",
    "hopeless",
    "helpless",
    "lonely",
    "alone",
    "isolated",
    "empty",
    "numb",
    "lost",
    "stuck",
    "trapped",
    "angry",
    "mad",
    "furious",
    "resentful",
    "frustrated",
    "annoyed",
    "irritated",
    "fed up",
    "ashamed",
    "embarrassed",
    "guilty",
    "humiliated",
    "stupid",
    "worthless",
    "useless",
    "a failure",
    "weak",
    "hurt",
    "heartbroken",
    "devastated",
    "upset",
    "overwhelmed",
    "stressed",
    "exhausted",
    "tired of",
    "sick of",
    "desperate",
    "confused",
    "torn",
    "disappointed",
    "betrayed",
    "rejected",
    "judged",
    "unloved",
    "insecure",
    "jealous",
    "happy",
    "proud",
    "relieved",
    "hopeful",
    "grateful",
    "excited",
    "loved",
    "glad",
)
_FEELING = "|".join(re.escape(f) for f in sorted(FEELINGS, key=len, reverse=True))
_FILL = r"(?:\s+(?:so|really|very|just|kind\s+of|kinda|sort\s+of|a\s+bit|a\s+little|pretty|"
_FILL += r"too|quite|totally|completely|always|sometimes|still|actually|like|more|even|also))*"

_PATTERNS: Final = (
    # I'm / I feel / I felt / I get / I've been ... <feeling>
    re.compile(
        r"\bi(?:'m|\s+am|\s+was|\s+feel|\s+felt|\s+get|\s+got|\s+become|'ve\s+been|"
        r"\s+have\s+been|\s+had\s+been|\s+keep\s+feeling|\s+just\s+feel)"
        + _FILL
        + r"\s+(?:"
        + _FEELING
        + r")\b"
    ),
    # it makes/made me (feel) <feeling>
    re.compile(
        r"\b(?:makes?|made|making|leaves?|left)\s+me(?:\s+feel)?"
        + _FILL
        + r"\s+(?:"
        + _FEELING
        + r")\b"
    ),
    # I feel like / I feel that + a personal clause ("I feel like nobody listens to me")
    re.compile(
        r"\bi\s+(?:feel|felt)\s+(?:like|that|as\s+if)(?:\s+\S+){0,5}?\s+"
        r"(?:i|i'm|i've|me|my|myself|nobody|no\s+one|everyone|everybody|nothing)\b"
    ),
    # personal meaning
    re.compile(
        r"\b(?:means?|meant)\s+(?:so\s+much|a\s+lot|everything|the\s+world)\s+to\s+me\b"
        r"|\b(?:matters?|mattered)\s+(?:so\s+much\s+|a\s+lot\s+)?to\s+me\b"
        r"|\b(?:is|was|are|were)\s+(?:really\s+|so\s+|very\s+)?important\s+to\s+me\b"
        r"|\bi\s+(?:really\s+)?care\s+(?:so\s+much\s+)?about\b"
        r"|\bi(?:'m|\s+am)\s+(?:so\s+)?(?:afraid|scared|worried)\s+(?:that|of|i'll|i\s+will)\b"
        r"|\bi(?:'ve|\s+have)\s+never\s+told\b"
        r"|\bi\s+(?:just\s+)?don't\s+know\s+what\s+to\s+do\b"
        r"|\bi\s+(?:hate|can't\s+stand)\s+(?:myself|who\s+i)\b"
        r"|\bi\s+miss\s+(?:him|her|them|my|the\s+way)\b"
        r"|\bmy\s+(?:whole\s+)?life\s+(?:is|has\s+been|feels)\b"
    ),
)
_NEGATED: Final = re.compile(
    r"\bi(?:'m|\s+am)\s+not\b|\bi\s+(?:don't|do\s+not|didn't|never)\s+(?:feel|get|care)\b"
)
# habits, not disclosures: "when I get stressed I smoke", "if I'm bored"
_CONDITIONAL: Final = re.compile(r"\b(?:if|when|whenever)\s+i(?:'m|\s+am|\s+feel|\s+get)\b")
MIN_WORDS: Final = 4


def detect_disclosure(text: str) -> bool:
    """True when a client utterance discloses a feeling or personal meaning (conservative)."""
    low = " ".join(text.lower().replace("\u2019", "'").split())
    if len(low.split()) < MIN_WORDS:
        return False
    for clause in re.split(r"(?<=[.!?;])\s+|\s+but\s+", low):
        if _NEGATED.search(clause) or _CONDITIONAL.search(clause):
            continue
        if any(p.search(clause) for p in _PATTERNS):
            return True
    return False
