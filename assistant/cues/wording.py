"""Wording rules used by the cues: permission, requests for advice, fact checks, judgmental
language, and open rewordings of closed questions. Conservative on purpose: a cue that
fires wrongly costs the therapist's trust."""

from __future__ import annotations

import re

_PERMISSION = re.compile(
    r"\b(is it (ok|okay|alright|all right) (with you )?if i|would it be (ok|okay|alright|all "
    r"right) (if i|for me to)|(may|can|could) i (share|suggest|offer|tell you|give you|make a "
    r"suggestion|mention|add)|would you like (me to (share|tell|suggest|give|offer)|to hear|some "
    r"(ideas|information|suggestions|advice)|to know (what|more about what))|would you be "
    r"interested in (hearing|some|knowing|learning)|do you mind if i|are you interested in "
    r"(hearing|some)|would you want (me to|to hear))",
    re.I,
)
_ASKS_ADVICE = re.compile(
    r"\b(what (should|can|could|do) i do|what do you (think|suggest|recommend)|(any|some) "
    r"(advice|suggestions|ideas|tips)|what would you (do|suggest|recommend)|how (do|can|should) i"
    r"|should i\b|can you (help|tell) me (how|what)|tell me what to do|what are my options)",
    re.I,
)
_FACT_CHECK = re.compile(
    r"^\s*(so,?\s*)?(how (many|much|long|often|old)|when (did|do|was|is|will)|what time|which "
    r"(day|one)|where (do|did|is))\b|\b(is that right|did i get that right|right\?$|correct\?$)",
    re.I,
)
# Blaming, labelling, lecturing. Each phrase was chosen to be rare in good MI practice.
_JUDGMENTAL = re.compile(
    r"\b(you should have (known|listened|thought)|you (need to|have to|must) (just )?stop making "
    r"excuses|what were you thinking|shame on "
    r"you|you('re| are) (just )?(being )?(lazy|stupid|irresponsible|selfish|weak|in denial|making "
    r"excuses|an? (alcoholic|addict|junkie))|that('s| is| was) (so )?(stupid|irresponsible|"
    r"selfish|ridiculous|pathetic|wrong of you)|you (always|never) (do|mess|screw|make|listen|"
    r"follow)|you know better( than that)?|you only have yourself to blame|(it's|it is) your "
    r"(own )?fault|you('re| are) (non-?compliant|a hopeless case)|how could you (do|say|let) "
    r"(that|this|such)|why would you (ever )?"
    r"do (that|something like that)|you have no excuse|"
    r"stop (whining|complaining|making excuses))\b",
    re.I,
)

_SWAP = {"my": "your", "i": "you", "me": "you", "mine": "yours", "am": "are", "myself": "yourself"}


def asks_permission(text: str) -> bool:
    return bool(_PERMISSION.search(text))


def asks_for_advice(text: str) -> bool:
    return bool(_ASKS_ADVICE.search(text))


def checks_a_fact(text: str) -> bool:
    """A closed question that confirms a fact or asks permission is fine as it is."""
    return bool(_FACT_CHECK.search(text)) or asks_permission(text)


def judgmental_phrase(text: str) -> str | None:
    found = _JUDGMENTAL.search(text)
    return found.group(0) if found else None


def last_question(text: str) -> str:
    sentences = re.findall(r"[^.?!]*\?", text)
    return sentences[-1].strip() if sentences else text.strip()


_OPENERS = {
    # yes/no opening -> template for the rest of the question (pronouns flipped)
    ("do", "you"): "What is it like for you to {rest}?",
    ("does", "it"): "How does it {rest}?",
    ("did", "you"): "What was it like to {rest}?",
    ("would", "you"): "What would it take for you to {rest}?",
    ("could", "you"): "What would it take for you to {rest}?",
    ("will", "you"): "What would it take for you to {rest}?",
    ("can", "you"): "What would help you {rest}?",
    ("are", "you"): "How do you feel about being {rest}?",
    ("is", "it"): "What makes it {rest}?",
    ("is", "that"): "What makes that {rest}?",
}


def open_rewording(question: str) -> str | None:
    """An open version of a yes/no question, where a simple one can be made."""
    q = last_question(question).rstrip("?").strip()
    q = re.sub(r"^(so|and|but|okay|ok|well|now),?\s+", "", q, flags=re.I)
    words = q.split()
    if len(words) < 3 or len(words) > 14:
        return None
    template = _OPENERS.get((words[0].lower(), words[1].lower()))
    if template is None:
        return None
    rest = " ".join(_SWAP.get(w.lower(), w) for w in words[2:])
    return template.format(rest=rest)
