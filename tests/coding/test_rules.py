"""Model-free parts of the coder: lexical features, disclosure rule, decoding, metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from assistant.coding.decode import decode, zero_offsets
from assistant.coding.disclosure import detect_disclosure
from assistant.coding.labels import HEADS, normalise_speaker
from assistant.coding.lexical import (
    BASE_FEATURES,
    CLIENT_OVERLAP_FEATURES,
    FEATURE_NAMES,
    LexicalInput,
    lexical_features,
    lexical_matrix,
)
from assistant.coding.metrics import score


def _features(
    text: str, prev_speaker: str | None = None, prev: str = "", client_turns: tuple[str, ...] = ()
) -> dict[str, float]:
    features = lexical_features(text, prev_speaker, prev, client_turns)
    return dict(zip(FEATURE_NAMES, features, strict=True))


@pytest.mark.parametrize(
    "text",
    [
        "What brings you in today?",
        "So, what's been going on?",
        "Okay. Um, how do you feel about that?",
        "Wh-what makes you say that?",
    ],
)
def test_wh_question_opening(text: str) -> None:
    f = _features(text)
    assert f["has_qmark"] == 1.0
    assert f["q_wh_start"] == 1.0
    assert f["q_aux_start"] == 0.0


@pytest.mark.parametrize(
    "text",
    ["Do you drink every day?", "So, is that right?", "Okay. Have you tried to quit before?"],
)
def test_auxiliary_question_opening(text: str) -> None:
    f = _features(text)
    assert f["q_aux_start"] == 1.0
    assert f["q_wh_start"] == 0.0


def test_statement_has_no_question_features() -> None:
    f = _features("You've cut down a lot this month.")
    assert f["has_qmark"] == 0.0 and f["q_wh_start"] == 0.0 and f["q_aux_start"] == 0.0


def test_context_overlap_counts_words_of_previous_turn() -> None:
    prev = "I've been drinking more since my divorce."
    echo = _features("So the drinking got worse after the divorce.", "client", prev)
    other = _features("Let's look at your blood pressure.", "client", prev)
    assert echo["overlap_prev"] > 0.3
    assert other["overlap_prev"] == 0.0
    assert echo["prev_is_client"] == 1.0


def test_client_overlap_reads_the_client_s_earlier_turns_past_a_short_reply() -> None:
    """A reflection after a short "Yeah." restates what the client said before it: the
    previous-turn overlap misses it, the overlap with the client's earlier turns does not."""
    client_turns = (
        "My sister keeps telling me the drinking is ruining our weekends.",
        "I don't know.",
        "Work has been stressful.",
        "Yeah.",
    )
    reflection = "Your sister worries the drinking ruins your weekends together."
    f = _features(reflection, "client", "Yeah.", client_turns)
    assert f["overlap_prev"] == 0.0
    # the sister's turn is four client turns back: outside the last three, in the session's
    assert f["overlap_client_recent"] == 0.0
    # sister, drinking, weekends: 3 of its 6 content words
    assert f["overlap_client_session"] == pytest.approx(0.5)
    f = _features(reflection, "client", "Yeah.", client_turns[:2])
    assert f["overlap_client_recent"] == f["overlap_client_session"] == pytest.approx(0.5)
    assert f["overlap_client_recent_n"] == pytest.approx(3 / 6)
    unrelated = _features("Let's check your blood pressure.", "client", "Yeah.", client_turns)
    assert unrelated["overlap_client_session"] == 0.0
    # no client turns yet: zeros, and the base features do not depend on them
    alone = lexical_features(reflection, "client", "Yeah.")
    assert alone[len(BASE_FEATURES) :] == [0.0] * len(CLIENT_OVERLAP_FEATURES)
    assert alone[: len(BASE_FEATURES)] == list(f.values())[: len(BASE_FEATURES)]


def test_lexical_matrix_shape_and_columns() -> None:
    items = [LexicalInput("Hi.", None, ""), LexicalInput("How are you?", "client", "Fine.")]
    m = lexical_matrix(items)
    assert m.shape == (2, len(FEATURE_NAMES))
    assert m.dtype == np.float32
    base = lexical_matrix(items, BASE_FEATURES)
    assert base.shape == (2, len(BASE_FEATURES))
    np.testing.assert_array_equal(base, m[:, : len(BASE_FEATURES)])
    picked = lexical_matrix(items, ("ends_qmark", "has_qmark"))
    np.testing.assert_array_equal(picked, [[0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="unknown lexical features: shouting"):
        lexical_matrix(items, ("has_qmark", "shouting"))


@pytest.mark.parametrize(
    "text",
    [
        "I'm scared I'll lose her if I keep this up.",
        "It makes me feel so useless.",
        "My kids mean everything to me.",
        "I feel like nobody listens to me anymore.",
        "Honestly I've been so lonely since he left.",
    ],
)
def test_disclosure_fires_on_feelings_and_meaning(text: str) -> None:
    assert detect_disclosure(text)


@pytest.mark.parametrize(
    "text",
    [
        "I drink on weekends, mostly beer.",
        "I'm not worried about it at all.",
        "Yeah.",
        "When I get stressed I smoke.",
        "I feel like it is, yeah.",
    ],
)
def test_disclosure_stays_silent_on_facts(text: str) -> None:
    assert not detect_disclosure(text)


def test_normalise_speaker() -> None:
    assert normalise_speaker(" Therapist ") == "therapist"
    with pytest.raises(ValueError, match="speaker"):
        normalise_speaker("doctor")


def _logp(head: str, probs: list[float]) -> np.ndarray:
    assert len(probs) == len(HEADS[head])
    return np.log(np.asarray([probs], dtype=np.float32))


def test_decode_main_behaviour_implies_its_code() -> None:
    logp = {
        "behaviour": _logp("behaviour", [0.7, 0.1, 0.1, 0.1]),  # question
        "question": _logp("question", [0.6, 0.3, 0.1]),  # head alone says "none"
        "reflection": _logp("reflection", [0.2, 0.5, 0.3]),  # a reflection as well
        "input": _logp("input", [0.9, 0.05, 0.02, 0.02, 0.01]),
    }
    out = decode(logp, zero_offsets())
    assert out == {
        "behaviour": ["question"],
        "question": ["open"],
        "reflection": ["simple"],
        "input": ["none"],
    }


def test_decode_offsets_shift_rare_classes() -> None:
    logp = {"talk_type": _logp("talk_type", [0.2, 0.5, 0.3])}
    assert decode(logp, zero_offsets())["talk_type"] == ["neutral"]
    offsets = zero_offsets()
    offsets["talk_type"][2] = 1.0
    assert decode(logp, offsets)["talk_type"] == ["sustain"]


def test_score_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    gold = {h: list(rng.choice(c, 200)) for h, c in HEADS.items()}
    pred = {h: list(rng.choice(c, 200)) for h, c in HEADS.items()}
    s = score(gold, pred)
    assert s["behaviour_macro_f1"] == pytest.approx(
        f1_score(gold["behaviour"], pred["behaviour"], average="macro")
    )
    assert s["question_open_f1"] == pytest.approx(
        f1_score(np.array(gold["question"]) == "open", np.array(pred["question"]) == "open")
    )
    assert s["talk_type_macro_f1"] == pytest.approx(
        f1_score(gold["talk_type"], pred["talk_type"], average="macro")
    )


def test_reflection_offsets_decide_presence_not_subtype() -> None:
    logp = {
        "behaviour": _logp("behaviour", [0.1, 0.1, 0.1, 0.7]),  # other
        "question": _logp("question", [0.9, 0.05, 0.05]),
        "reflection": _logp("reflection", [0.5, 0.2, 0.3]),  # alone: none, complex > simple
        "input": _logp("input", [0.9, 0.05, 0.02, 0.02, 0.01]),
    }
    offsets = zero_offsets()
    assert decode(logp, offsets)["reflection"] == ["none"]
    offsets["reflection"] = [0.0, 1.0, 0.0]  # lifts simple above none ...
    assert decode(logp, offsets)["reflection"] == ["complex"]  # ... the split stays the model's
