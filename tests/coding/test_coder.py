"""The committed coder weights (models/cue-coder): examples, shapes, errors, latency."""

from __future__ import annotations

import json
import shutil
import statistics
import time
from pathlib import Path

import pytest

from assistant.coding import CoderWeightsError, UtteranceCoder, load_coder
from assistant.coding.model import DEFAULT_MODEL_DIR, ENV_MODEL_DIR, WEIGHT_FILES, resolve_model_dir

THERAPIST_KEYS = {"behaviour", "question", "reflection", "input"}
CLIENT_KEYS = {"talk_type", "disclosure"}


@pytest.fixture(scope="module", params=[None, "fp32"], ids=["committed", "fp32"])
def coder(request: pytest.FixtureRequest) -> UtteranceCoder:
    """The committed coder as it ships (int8), and the same weights in fp32: both must code
    the hand-written examples alike."""
    return load_coder(precision=request.param)


def test_default_dir_is_the_repositorys_and_env_overrides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_MODEL_DIR, raising=False)
    assert resolve_model_dir() == Path(__file__).resolve().parents[2] / "models" / "cue-coder"
    assert resolve_model_dir() == DEFAULT_MODEL_DIR
    monkeypatch.setenv(ENV_MODEL_DIR, str(tmp_path))
    assert resolve_model_dir() == tmp_path
    assert resolve_model_dir(tmp_path / "x") == tmp_path / "x"


def test_committed_weights_are_complete_and_small() -> None:
    for name in (*WEIGHT_FILES, "metrics.json", "MODEL_CARD.md"):
        assert (DEFAULT_MODEL_DIR / name).is_file(), name
    total = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir() if p.is_file())
    assert total < 50 * 1024 * 1024


def test_missing_weights_dir_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CoderWeightsError, match=str(missing)):
        load_coder(missing)


def test_env_var_pointing_nowhere_names_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_MODEL_DIR, str(tmp_path / "gone"))
    with pytest.raises(CoderWeightsError, match="gone"):
        load_coder()


def test_incomplete_weights_dir(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_MODEL_DIR / "config.json", tmp_path / "config.json")
    with pytest.raises(CoderWeightsError, match="missing encoder_top.safetensors"):
        load_coder(tmp_path)


def test_corrupt_config(tmp_path: Path) -> None:
    for name in WEIGHT_FILES:
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CoderWeightsError, match="config.json"):
        load_coder(tmp_path)


@pytest.mark.model
def test_corrupt_weights_file(tmp_path: Path) -> None:
    for name in WEIGHT_FILES:
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    (tmp_path / "head.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CoderWeightsError, match=str(tmp_path)):
        load_coder(tmp_path)


def _copy_with_config(tmp_path: Path, **changes: object) -> Path:
    """The committed main model's files in ``tmp_path``, its config.json changed."""
    for name in WEIGHT_FILES:
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, **changes}))
    return tmp_path


def test_foreign_label_set_is_refused(tmp_path: Path) -> None:
    heads = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())["heads"]
    foreign = _copy_with_config(tmp_path, heads={**heads, "behaviour": ["question", "other"]})
    with pytest.raises(CoderWeightsError, match="label sets"):
        load_coder(foreign)


def test_unknown_precision_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CoderWeightsError, match="unknown precision 'fp8'"):
        load_coder(_copy_with_config(tmp_path, precision="fp8"))
    with pytest.raises(ValueError, match="precision must be one of"):
        load_coder(DEFAULT_MODEL_DIR, precision="int4")


def test_the_lexical_features_read_the_previous_turn_and_the_client_s_turns() -> None:
    from assistant.coding.model import lexical_input

    context = [("Client", "I hate it."), (" therapist", "Hm."), ("client", "Yeah.")]
    got = lexical_input("So you hate it.", context)
    assert got.prev_speaker == "client" and got.prev_text == "Yeah."
    assert got.client_turns == ("I hate it.", "Yeah.")
    assert lexical_input("Hello.", []) == ("Hello.", None, "", ())


def test_unknown_or_misfitting_lexical_features_are_refused(tmp_path: Path) -> None:
    from assistant.coding.lexical import BASE_FEATURES, FEATURE_NAMES

    with pytest.raises(CoderWeightsError, match="lexical features differ"):
        load_coder(_copy_with_config(tmp_path, lexical_features=[*BASE_FEATURES, "shouting"]))
    # the committed head reads the 37 base features: a config naming 40 does not fit it
    with pytest.raises(CoderWeightsError, match="weights do not fit the model"):
        load_coder(_copy_with_config(tmp_path, lexical_features=list(FEATURE_NAMES)))


def test_unknown_truncation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CoderWeightsError, match="unknown truncation 'middle'"):
        load_coder(_copy_with_config(tmp_path, truncation="middle"))


@pytest.mark.model
def test_a_model_is_run_with_the_truncation_it_was_trained_with(tmp_path: Path) -> None:
    """A config that says ``truncation: previous`` is run that way (one without the key, as
    the committed models', is cut longest first, as they were trained)."""
    assert "truncation" not in json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    cut = load_coder(_copy_with_config(tmp_path, truncation="previous"))
    assert cut.main.truncation == "previous"
    long_turn = " ".join(["I keep telling myself I will stop drinking after work."] * 30)
    labels = cut.code("therapist", "What would stopping mean for you?", [("client", long_turn)])
    assert labels["question"] == "open"


@pytest.mark.model
def test_committed_coder_runs_in_int8_where_its_offsets_were_tuned(coder: UtteranceCoder) -> None:
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    assert coder.client is not None  # the client model (talk type) ships beside the main one
    for folder, net in (
        (DEFAULT_MODEL_DIR, coder.main),
        (DEFAULT_MODEL_DIR / "client", coder.client),
    ):
        config = json.loads((folder / "config.json").read_text())
        assert config["precision"] == "int8"
        assert net.precision == coder.precision
        modules = list(net.transformer.modules())
        if coder.precision == "int8":
            assert sum(isinstance(m, DynamicInt8Linear) for m in modules) == 37  # 6 a layer, pooler
            assert not any(type(m) is torch.nn.Linear for m in modules)
        else:
            assert not any(isinstance(m, DynamicInt8Linear) for m in modules)


@pytest.mark.model
def test_client_utterances_are_coded_by_the_client_model(coder: UtteranceCoder) -> None:
    """Each speaker's utterances go through their own model; the two share the frozen token
    embeddings (one copy in memory)."""
    assert coder.client is not None
    assert coder.network("client") is coder.client and coder.network("therapist") is coder.main
    assert coder.client.transformer.embeddings is coder.main.transformer.embeddings
    calls: list[str] = []
    for name, net in (("main", coder.main), ("client", coder.client)):
        net.head.register_forward_hook(lambda *_, name=name: calls.append(name))
    try:
        coder.code("client", "I really want to stop drinking.", [("therapist", "What now?")])
        coder.code("therapist", "What would you like to change?", [])
    finally:
        for net in (coder.main, coder.client):
            net.head._forward_hooks.clear()
    assert calls == ["client", "main"]


CLIENT_TURN = [("client", "I've been drinking a lot more since my divorce, mostly at night.")]


@pytest.mark.model
@pytest.mark.parametrize(
    ("text", "context", "expected"),
    [
        (
            "What would you like to talk about today?",
            [],
            {"behaviour": "question", "question": "open"},
        ),
        (
            "How has the drinking affected your work?",
            CLIENT_TURN,
            {"behaviour": "question", "question": "open"},
        ),
        (
            "Do you drink every day?",
            CLIENT_TURN,
            {"behaviour": "question", "question": "closed"},
        ),
        (
            "Is that something you would be willing to try this week?",
            [("client", "I guess I could try walking after dinner.")],
            {"behaviour": "question", "question": "closed"},
        ),
        (
            "So since the divorce, drinking at night has become a way to get through the "
            "loneliness, and part of you is worried it's starting to take over.",
            CLIENT_TURN,
            {"behaviour": "reflection", "reflection": "complex"},
        ),
        (
            "You're drinking more since the divorce.",
            CLIENT_TURN,
            {"behaviour": "reflection", "reflection": "simple", "question": None},
        ),
        (
            "Thanks for coming in today.",
            [],
            {"behaviour": "other", "question": None, "reflection": None, "input": None},
        ),
        (
            "I'd really recommend that you cut down to two drinks a day, and you should "
            "talk to your doctor about it.",
            [("client", "I don't know what to do about it.")],
            {"behaviour": "therapist_input", "input": "advice"},
        ),
    ],
)
def test_therapist_examples(
    coder: UtteranceCoder,
    text: str,
    context: list[tuple[str, str]],
    expected: dict[str, object],
) -> None:
    labels = coder.code("therapist", text, context)
    assert set(labels) == THERAPIST_KEYS
    assert {k: labels[k] for k in expected} == expected


@pytest.mark.model
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "I really want to quit. I need to be around for my kids.",
            {"talk_type": "change"},
        ),
        ("I'm not ready to quit. I enjoy it too much.", {"talk_type": "sustain"}),
        (
            "Honestly, I don't see the problem. I like drinking and I'm not going to stop.",
            {"talk_type": "sustain"},
        ),
        ("I've decided I'm going to cut down to weekends only.", {"talk_type": "change"}),
        (
            "I'm scared I'm turning into my father, and I feel so ashamed.",
            {"disclosure": True},
        ),
        ("I drink mostly beer on weekends.", {"disclosure": False}),
    ],
)
def test_client_examples(coder: UtteranceCoder, text: str, expected: dict[str, object]) -> None:
    context = [("therapist", "What do you make of your smoking these days?")]
    labels = coder.code("client", text, context)
    assert set(labels) == CLIENT_KEYS
    assert isinstance(labels["disclosure"], bool)
    assert {k: labels[k] for k in expected} == expected


@pytest.mark.model
def test_label_dict_shapes_and_batch_matches_single(coder: UtteranceCoder) -> None:
    items = [
        ("therapist", "How are you feeling today?", []),
        ("client", "Not great, honestly.", [("therapist", "How are you feeling today?")]),
        ("therapist", "   ", [("client", "Not great, honestly.")]),
        ("Client", "Yeah.", [("therapist", "Anything else?")]),
    ]
    batch = coder.code_batch(items)
    assert len(batch) == len(items)
    for (speaker, text, context), labels in zip(items, batch, strict=True):
        assert labels == coder.code(speaker, text, context)
    assert set(batch[0]) == THERAPIST_KEYS and set(batch[2]) == THERAPIST_KEYS
    assert set(batch[1]) == CLIENT_KEYS and set(batch[3]) == CLIENT_KEYS
    assert batch[2] == {"behaviour": "other", "question": None, "reflection": None, "input": None}
    for labels in batch:
        for key in ("question", "reflection", "input"):
            assert labels.get(key) is None or isinstance(labels[key], str)
    assert coder.code_batch([]) == []
    with pytest.raises(ValueError, match="speaker"):
        coder.code("nurse", "Hello.", [])


@pytest.mark.model
def test_an_utterance_gets_the_same_labels_in_a_batch_as_alone(coder: UtteranceCoder) -> None:
    """`attune analyze` codes in batches, the live panel one utterance at a time: both must
    give the same labels. (In int8 they did not, for 9 of 100 AnnoMI therapist utterances:
    dynamic quantization scales activations over the whole batch.)"""
    turns = [
        ("therapist", "What brings you in today?"),
        ("client", "My wife says I drink too much, and honestly I think she might be right."),
        ("therapist", "So she's worried, and part of you is worried too."),
        ("client", "Yeah. I mean, I don't want to end up like my dad."),
        ("therapist", "Do you drink every day?"),
        ("client", "Mostly weekends, but it's been creeping into weeknights since I lost my job."),
        ("therapist", "You should try cutting down to two drinks a night."),
        ("client", "I don't know. It's the only thing that helps me relax."),
        ("therapist", "Drinking is how you unwind after a hard day."),
        ("client", "I guess. But I really want to be there for my kids."),
        ("therapist", "What would being there for them look like?"),
        ("client", "Okay."),
        ("therapist", "Is it okay if I share what has worked for other people?"),
        ("client", "I'm scared I'll fail again, like the last time I tried to stop."),
    ]
    items = [(speaker, text, turns[max(0, i - 3) : i]) for i, (speaker, text) in enumerate(turns)]
    alone = [coder.code(speaker, text, context) for speaker, text, context in items]
    assert coder.code_batch(items) == alone
    assert coder.code_batch(items[::-1]) == alone[::-1]


@pytest.mark.model
def test_one_utterance_codes_quickly(coder: UtteranceCoder) -> None:
    """The budget is 30 ms median on one core (see bench/coder_latency.py); the bound here
    is generous so that a busy CI machine does not make it flaky. One torch thread, as the
    live pipeline runs it (`assistant/cli.py`): on two threads a core taken by another
    process stalls every step (0.53 s a call, measured here while a training job ran)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        context = [("client", "I've cut down a bit, but weekends are still hard.")]
        coder.code("therapist", "What makes weekends harder?", context)  # warm-up
        times = []
        for _ in range(20):
            start = time.perf_counter()
            coder.code("therapist", "What makes weekends harder than weekdays for you?", context)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    assert statistics.median(times) < 0.200, f"median {statistics.median(times) * 1000:.0f} ms"
