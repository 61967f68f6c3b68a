"""Turn per-head log-probabilities into labels: tuned per-class offsets plus consistency.

AnnoMI's main behaviour implies its code: behaviour ``question`` means a question is present,
``reflection`` a reflection, ``therapist_input`` an input. Decoding enforces that (the
subtype then comes from the head, "none" excluded), and lets each head add its own codes
otherwise (a reflection followed by a question has both). Presence is decided with the
offsets, so the floor metrics measured with them hold.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from assistant.coding.labels import BEHAVIOUR_HEAD, CLIENT_HEADS, HEADS, NONE, THERAPIST_HEADS
from assistant.coding.metrics import score

FloatArray = npt.NDArray[np.float32]

#: heads whose offsets decide only presence; the subtype is the model's own best. No floor
#: scores simple versus complex, so tuning would bend that split for nothing (it did: the
#: offsets tuned for "reflection present" pushed every complex reflection to simple).
SUBTYPE_BY_MODEL: frozenset[str] = frozenset({"reflection"})
Offsets = dict[str, list[float]]

_GRID = np.round(np.arange(-2.0, 3.01, 0.25), 2)


def zero_offsets() -> Offsets:
    return {head: [0.0] * len(classes) for head, classes in HEADS.items()}


def decode(logp: dict[str, FloatArray], offsets: Offsets) -> dict[str, list[str]]:
    """Labels for each head present in ``logp`` (rows: utterances of that head's speaker)."""
    out: dict[str, list[str]] = {}
    adj = {h: logp[h] + np.asarray(offsets[h], dtype=np.float32) for h in logp}
    if "behaviour" in adj:
        behaviour = [HEADS["behaviour"][i] for i in adj["behaviour"].argmax(1)]
        out["behaviour"] = behaviour
        for head in ("question", "reflection", "input"):
            classes = HEADS[head]
            present = adj[head][:, 1:].max(1) > adj[head][:, 0]
            ranking = logp[head] if head in SUBTYPE_BY_MODEL else adj[head]
            subtype = ranking[:, 1:].argmax(1) + 1  # best non-"none" class
            labels = []
            for b, p, c in zip(behaviour, present, subtype, strict=True):
                implied = BEHAVIOUR_HEAD.get(b) == head
                labels.append(classes[c] if implied or p else NONE)
            out[head] = labels
    if "talk_type" in adj:
        out["talk_type"] = [HEADS["talk_type"][i] for i in adj["talk_type"].argmax(1)]
    return out


# which metrics each head's offsets are tuned for
_TARGETS: dict[str, tuple[str, ...]] = {
    "behaviour": ("behaviour_macro_f1",),
    "question": ("question_open_f1", "question_closed_f1"),
    "reflection": ("reflection_f1",),
    "input": ("input_advice_f1",),
    "talk_type": ("talk_type_macro_f1",),
}


def tune_offsets(
    logp: dict[str, FloatArray], gold: dict[str, list[str]], rounds: int = 2
) -> Offsets:
    """Coordinate ascent on per-class logit offsets (class 0 fixed at 0) against the floors.

    Offsets shift rare classes (advice, sustain talk) up where the F1 gains; they are tuned on
    out-of-fold predictions only, never on the utterances they are then scored on.
    """
    offsets = zero_offsets()

    def objective(head: str) -> float:
        s = score(gold, decode(logp, offsets))
        return sum(s[m] for m in _TARGETS[head])

    heads = [h for h in (*THERAPIST_HEADS, *CLIENT_HEADS) if h in logp]
    for _ in range(rounds):
        for head in heads:
            for k in range(1, len(HEADS[head])):
                _line_search(offsets[head], k, functools.partial(objective, head))
    return offsets


def _line_search(vector: list[float], k: int, objective: Callable[[], float]) -> None:
    best_value, best_score = vector[k], objective()
    for value in _GRID:
        vector[k] = float(value)
        s = objective()
        if s > best_score + 1e-9:
            best_value, best_score = float(value), s
    vector[k] = best_value


def none_to_null(label: str) -> str | None:
    return None if label == NONE else label
