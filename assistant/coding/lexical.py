"""Hand-written lexical features: question form, reflection stems, advice and change-talk cues.

Open/closed question coding is mostly a matter of surface form (wh-word versus auxiliary-verb
opening, a tag question, an "or" alternative), which sentence embeddings blur; these features
give the classifier that form explicitly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"[a-z']+|[0-9]+|\?")
_SENTENCE_SPLIT = re.compile(r"(?<=[.?!])\s+")
_FILLERS: Final = frozenset(
    "so and but okay ok well now um uh hmm mm mm-hmm yeah yes alright right oh then "
    "like just i mean".split()
)
WH_WORDS: Final = frozenset("what how why where when who whom whose which".split())
AUXILIARIES: Final = frozenset(
    "do does did is are was were am can could would will have has had should shall may might "
    "must don't doesn't didn't isn't aren't wasn't weren't can't couldn't won't wouldn't "
    "haven't hasn't shouldn't you've you're".split()
)
_OPEN_PHRASES: Final = (
    "tell me",
    "describe",
    "help me understand",
    "say more",
    "talk about",
    "what else",
    "how about",
    "what about",
    "walk me through",
    "explain",
    "i wonder",
    "i'm wondering",
    "i'm curious",
)
_TAG_QUESTIONS: Final = re.compile(
    r"\b(right|correct|yes|no|okay|ok|yeah|huh|isn't it|is that right|is that it|"
    r"don't you|aren't you|do you|is it)\s*\?\s*$"
)
_REFLECTION_STEMS: Final = (
    "sounds like",
    "it sounds",
    "you feel",
    "you're feeling",
    "you feel like",
    "it seems",
    "you seem",
    "you're saying",
    "you are saying",
    "so you",
    "you're worried",
    "you want",
    "you'd like",
    "you don't want",
    "you're not",
    "part of you",
    "on one hand",
    "on the other hand",
    "what i'm hearing",
    "i hear",
    "it's like",
    "you've",
    "you really",
)
_ADVICE: Final = (
    "you should",
    "you need to",
    "you could",
    "you might want",
    "you may want",
    "i suggest",
    "i'd suggest",
    "i would suggest",
    "i recommend",
    "i'd recommend",
    "i would recommend",
    "i encourage",
    "i'd encourage",
    "i want you to",
    "i'd like you to",
    "try to",
    "make sure",
    "you ought",
    "you have to",
    "you must",
    "it would be good",
    "it might be helpful",
    "it might help",
    "would be a good idea",
    "my advice",
    "consider",
    "i'd like to see you",
)
_INFORMATION: Final = (
    "research",
    "studies",
    "study",
    "percent",
    "%",
    "recommended",
    "guidelines",
    "limit",
    "risk",
    "increase",
    "decrease",
    "causes",
    "can cause",
    "associated",
    "according",
    "the law",
    "doctor",
    "medication",
    "program",
    "drinks",
    "per week",
    "a day",
)
_PERMISSION: Final = (
    "would it be okay",
    "is it okay if",
    "would you mind",
    "can i share",
    "may i",
    "would you like",
    "would it be all right",
    "do you mind if",
    "would it be alright",
)
_OPTIONS: Final = ("some people", "one option", "options", "another option", "other people")
_CHANGE: Final = (
    "i want to",
    "i'd like to",
    "i need to",
    "i should",
    "i will",
    "i'm going to",
    "i'm gonna",
    "i could",
    "i can",
    "i'd be",
    "i'd rather",
    "i'm ready",
    "i'll",
    "i have to",
    "i wanna",
    "i'm willing",
    "i'm trying",
    "i tried",
    "i've been trying",
    "quit",
    "stop",
    "cut down",
    "cut back",
    "better",
    "healthier",
    "help",
    "worried",
    "scared",
    "concerned",
)
_SUSTAIN: Final = (
    "i don't want",
    "i don't think",
    "i can't",
    "i won't",
    "not gonna",
    "not going to",
    "i like",
    "i enjoy",
    "it helps me",
    "relax",
    "no big deal",
    "not a problem",
    "i don't see",
    "i'm fine",
    "everybody",
    "everyone",
    "i don't need",
    "i'm not",
    "why should",
    "it's not",
    "i don't have",
    "i'm not ready",
    "i just don't",
    "i have no",
    "there's no way",
)
_NEGATIONS: Final = frozenset("not no never don't can't won't didn't isn't nothing n't".split())


_CONTRACTION = re.compile(r"^(what|how|where|when|who|why|which)('s|'re|'d|'ll|'ve)$")
_STOPWORDS: Final = frozenset(
    "a an the and or but so to of in on at for with is are was were be been it that this "
    "you your i me my we they he she them do does did have has had not just like know "
    "um uh yeah okay ok mm hmm well really very what how about there then if as".split()
)


def _words(text: str) -> list[str]:
    """Lower-cased word tokens; ``what's`` -> ``what``, stutter fragments (``wh-what``) dropped."""
    out = []
    for w in _WORD.findall(text.lower().replace("\u2019", "'")):
        m = _CONTRACTION.match(w)
        out.append(m.group(1) if m else w)
    return out


def _first_content_words(words: list[str], n: int = 2) -> list[str]:
    i = 0
    while i < len(words) and (
        words[i] in _FILLERS
        or (len(words[i]) <= 2 and words[i] not in ("i", "do", "is", "am", "we", "so"))
        or (i + 1 < len(words) and words[i + 1].startswith(words[i]) and words[i] != words[i + 1])
    ):
        i += 1
    return words[i : i + n]


def _count(text: str, phrases: tuple[str, ...]) -> float:
    return float(sum(text.count(p) for p in phrases))


def _question_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_SPLIT.split(text) if "?" in s]


BASE_FEATURES: Final = (
    "has_qmark",
    "n_qmark",
    "ends_qmark",
    "q_wh_start",
    "q_aux_start",
    "q_wh_any",
    "q_or",
    "q_tag",
    "last_wh_start",
    "last_aux_start",
    "open_phrase",
    "first_wh",
    "first_aux",
    "log_words",
    "n_sentences",
    "you_rate",
    "i_rate",
    "we_rate",
    "reflection_stem",
    "starts_so",
    "advice",
    "information",
    "permission",
    "options",
    "change",
    "sustain",
    "negations",
    "digits",
    "short",
    "prev_is_client",
    "prev_has_qmark",
    "prev_log_words",
    "overlap_prev",
    "overlap_prev_n",
    "sentence_is_question_last",
    "q_how_much",
    "q_anything",
)
CLIENT_OVERLAP_FEATURES: Final = (
    "overlap_client_recent",
    "overlap_client_recent_n",
    "overlap_client_session",
)
"""Word overlap with the client's earlier turns, beyond the previous one: a reflection after a
short "Yeah." restates what the client said before it. A model uses them where its config's
``lexical_features`` names them (``train-cues --client-overlap``)."""
FEATURE_NAMES: Final = BASE_FEATURES + CLIENT_OVERLAP_FEATURES
"""Every feature :func:`lexical_features` computes, in its order."""
RECENT_CLIENT_TURNS: Final = 3


class LexicalInput(NamedTuple):
    """What the features of one utterance read: its text, the previous turn's speaker and
    text, and the text of every earlier client turn of the session, oldest first."""

    text: str
    prev_speaker: str | None
    prev_text: str
    client_turns: Sequence[str] = ()


def _content(text: str) -> frozenset[str]:
    """Content words of ``text`` (no stopwords, three letters or more)."""
    return frozenset(w for w in _words(text) if w not in _STOPWORDS and len(w) > 2)


def lexical_features(
    text: str, prev_speaker: str | None, prev_text: str, client_turns: Sequence[str] = ()
) -> list[float]:
    """Features of one utterance (its previous turn, and the session's earlier client turns),
    in ``FEATURE_NAMES`` order."""
    low = text.lower().replace("\u2019", "'")
    words = _words(low)
    n = max(len(words), 1)
    qsents = _question_sentences(low)
    q_first = [_first_content_words(_words(s)) for s in qsents]
    q_wh_start = any(f and f[0] in WH_WORDS for f in q_first)
    q_aux_start = any(f and f[0] in AUXILIARIES for f in q_first)
    q_wh_any = any(WH_WORDS.intersection(_words(s)) for s in qsents)
    last = q_first[-1] if q_first else []
    first = _first_content_words(words)
    sentences = [s for s in _SENTENCE_SPLIT.split(low) if s.strip()]
    prev_words = _words(prev_text)
    content = _content(text)
    prev_content = _content(prev_text)
    client_content = [_content(t) for t in client_turns]
    recent = frozenset().union(*client_content[-RECENT_CLIENT_TURNS:])
    session = frozenset().union(*client_content)
    return [
        float("?" in low),
        min(low.count("?"), 3) / 3.0,
        float(low.rstrip(" -.\"'").endswith("?")),
        float(q_wh_start),
        float(q_aux_start),
        float(q_wh_any),
        float(any(" or " in s for s in qsents)),
        float(any(_TAG_QUESTIONS.search(s) for s in qsents)),
        float(bool(last) and last[0] in WH_WORDS),
        float(bool(last) and last[0] in AUXILIARIES),
        min(_count(low, _OPEN_PHRASES), 2.0),
        float(bool(first) and first[0] in WH_WORDS),
        float(bool(first) and first[0] in AUXILIARIES),
        math.log1p(len(words)),
        min(len(sentences), 8) / 8.0,
        sum(w in ("you", "your", "you're", "you've", "yourself") for w in words) / n,
        sum(w in ("i", "me", "my", "i'm", "i've", "myself", "i'd", "i'll") for w in words) / n,
        sum(w in ("we", "us", "our", "we're", "let's") for w in words) / n,
        min(_count(low, _REFLECTION_STEMS), 3.0),
        float(bool(words) and words[0] in ("so", "sounds")),
        min(_count(low, _ADVICE), 3.0),
        min(_count(low, _INFORMATION), 3.0),
        min(_count(low, _PERMISSION), 2.0),
        min(_count(low, _OPTIONS), 2.0),
        min(_count(low, _CHANGE), 3.0),
        min(_count(low, _SUSTAIN), 3.0),
        min(sum(w in _NEGATIONS or w.endswith("n't") for w in words), 4) / 4.0,
        float(any(w.isdigit() for w in words)),
        float(len(words) <= 3),
        float(prev_speaker == "client"),
        float("?" in prev_text),
        math.log1p(len(prev_words)),
        len(content & prev_content) / max(len(content), 1),
        min(len(content & prev_content), 6) / 6.0,
        float(bool(sentences) and "?" in sentences[-1]),
        float(any(re.search(r"\bhow (much|many|often|long|old)\b", s) for s in qsents)),
        float(any(re.search(r"\b(anything|something) else\b", s) for s in qsents)),
        len(content & recent) / max(len(content), 1),
        min(len(content & recent), 6) / 6.0,
        len(content & session) / max(len(content), 1),
    ]


def lexical_matrix(
    items: Sequence[LexicalInput], names: Sequence[str] = FEATURE_NAMES
) -> npt.NDArray[np.float32]:
    """Stack :func:`lexical_features` of ``items``, the columns ``names`` (each one of
    ``FEATURE_NAMES``) in that order."""
    columns = feature_columns(names)
    if not set(names) & set(CLIENT_OVERLAP_FEATURES):  # then the client's turns go unread
        items = [LexicalInput(*item[:3]) for item in items]
    rows = [lexical_features(*item) for item in items]
    full = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURE_NAMES))
    return full[:, columns]


def feature_columns(names: Sequence[str]) -> list[int]:
    """Where each of ``names`` is in ``FEATURE_NAMES``; ValueError naming an unknown one."""
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        raise ValueError(f"unknown lexical features: {', '.join(unknown)}")
    return [FEATURE_NAMES.index(n) for n in names]
