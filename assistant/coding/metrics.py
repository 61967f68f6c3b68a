"""Scores of the coder, as the team's held-out check defines them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: metric name -> floor the held-out evaluation checks
FLOORS: dict[str, float] = {
    "behaviour_macro_f1": 0.80,
    "question_open_f1": 0.80,
    "question_closed_f1": 0.72,
    "reflection_f1": 0.78,
    "input_advice_f1": 0.30,
    "talk_type_macro_f1": 0.55,
}


def _f1(gold: np.ndarray, pred: np.ndarray) -> float:
    """F1 of boolean arrays (0.0 when there is no positive in either)."""
    tp = float(np.sum(gold & pred))
    denom = float(np.sum(gold) + np.sum(pred))
    return 0.0 if denom == 0 else 2.0 * tp / denom


def _binary(gold: Sequence[str], pred: Sequence[str], positive: str) -> float:
    return _f1(np.asarray(gold) == positive, np.asarray(pred) == positive)


def _macro(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Macro-F1 over the classes present in ``gold`` or ``pred`` (as scikit-learn computes it)."""
    g, p = np.asarray(gold), np.asarray(pred)
    classes = np.union1d(g, p)
    return float(np.mean([_f1(g == c, p == c) for c in classes]))


def score(gold: Mapping[str, Sequence[str]], pred: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Floor metrics plus a few diagnostics.

    ``gold``/``pred`` map each head to the labels of every utterance of its speaker (therapist
    heads over all therapist utterances, ``talk_type`` over all client utterances), ``none``
    standing for an absent optional code.
    """
    out: dict[str, float] = {}
    if "behaviour" in gold:
        out["behaviour_macro_f1"] = _macro(gold["behaviour"], pred["behaviour"])
        out["question_open_f1"] = _binary(gold["question"], pred["question"], "open")
        out["question_closed_f1"] = _binary(gold["question"], pred["question"], "closed")
        out["reflection_f1"] = _f1(
            np.asarray(gold["reflection"]) != "none", np.asarray(pred["reflection"]) != "none"
        )
        out["input_advice_f1"] = _binary(gold["input"], pred["input"], "advice")
        out["reflection_simple_f1"] = _binary(gold["reflection"], pred["reflection"], "simple")
        out["reflection_complex_f1"] = _binary(gold["reflection"], pred["reflection"], "complex")
        out["input_information_f1"] = _binary(gold["input"], pred["input"], "information")
    if "talk_type" in gold:
        out["talk_type_macro_f1"] = _macro(gold["talk_type"], pred["talk_type"])
    return out
