"""Training helpers: class weights, the base-model override, and the GPU carry folder
(bench/train_on_gpu.py) rebuilding the bundled model from what travels."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assistant.coding import encoder
from assistant.coding.data import SIMPLE_FILE
from assistant.coding.train import TrainConfig, class_weights, parse_args, recorded_config
from bench import coder_accuracy, train_on_gpu

ROOT = Path(__file__).resolve().parents[2]
ANNOMI = ROOT.parent / "shared" / "data" / "annomi"


def test_class_weights_lift_rare_classes_and_keep_the_average_example_at_one() -> None:
    targets = np.array([0] * 90 + [1] * 10 + [-1] * 7)  # -1: the head does not apply
    weights = class_weights(targets, 3, TrainConfig(class_weight_power=0.5))
    assert weights[1] / weights[0] == pytest.approx(3.0)  # sqrt(90 / 10)
    assert (90 * weights[0] + 10 * weights[1]) / 100 == pytest.approx(1.0)
    assert weights[2] == 0.0  # absent from these rows
    plain = class_weights(targets, 3, TrainConfig(class_weight_power=0.0))
    assert plain[:2].tolist() == [1.0, 1.0]
    # one head weighted more steeply than the rest (--head-weight-power input=1)
    steep = TrainConfig(class_weight_power=0.5, head_weight_power=(("input", 1.0),))
    advice = class_weights(targets, 3, steep, "input")
    assert advice[1] / advice[0] == pytest.approx(9.0)  # (90 / 10) ** 1
    assert (90 * advice[0] + 10 * advice[1]) / 100 == pytest.approx(1.0)
    assert class_weights(targets, 3, steep, "question").tolist() == weights.tolist()


def test_head_weight_power_and_layer_lr_decay_options() -> None:
    args = parse_args(["--data", "x", "--head-weight-power", "input=1", "--layer-lr-decay", "0.8"])
    assert args.head_weight_power == [("input", 1.0)]
    assert args.layer_lr_decay == 0.8
    for bad in ("advice=1", "input", "input=much"):
        with pytest.raises(SystemExit):
            parse_args(["--data", "x", "--head-weight-power", bad])


def test_a_speaker_model_learns_from_and_is_scored_on_its_speaker_only() -> None:
    """``--main-utterances therapist`` and the client model: each learns from its speaker's
    rows (the other speaker's heads have no target there) and is scored on its heads."""
    from assistant.coding.labels import CLIENT_HEADS, THERAPIST_HEADS
    from assistant.coding.train import Dataset, scored_heads, training_rows

    speakers = ["therapist", "client", "client", "therapist", "therapist"]
    data = Dataset(
        texts=["t"] * 5,
        previous=[""] * 5,
        speakers=speakers,
        groups=np.zeros(5, dtype=np.int64),
        lexical=np.zeros((5, 1), dtype=np.float32),
        targets={},
    )
    rows = [4, 0, 1, 2]
    assert training_rows(data, rows, TrainConfig(utterances="therapist")) == [4, 0]
    assert training_rows(data, rows, TrainConfig(utterances="client")) == [1, 2]
    assert training_rows(data, rows, TrainConfig()) == rows
    assert scored_heads(TrainConfig(utterances="therapist")) == THERAPIST_HEADS
    assert scored_heads(TrainConfig(utterances="client")) == CLIENT_HEADS
    assert scored_heads(TrainConfig()) == (*THERAPIST_HEADS, *CLIENT_HEADS)


DESIGN_KEYS = (
    "top_layers", "context", "truncation", "class_weight_power", "head_weight_power",
    "layer_lr_decay", "annotator_bias", "epochs", "lr_encoder", "lr_head", "batch_size", "seed",
    "precision", "utterances", "client_overlap",
)  # fmt: skip


def _committed(folder: Path) -> dict[str, object]:
    """A committed model's training settings, as its metrics.json records them."""
    recorded = json.loads((folder / "metrics.json").read_text())["train_config"]
    return _design(recorded_config(recorded))


def _design(cfg: TrainConfig) -> dict[str, object]:
    return {k: json.loads(json.dumps(getattr(cfg, k))) for k in DESIGN_KEYS}


def test_cli_defaults_are_the_committed_design() -> None:
    """`attune train-cues --data DIR` trains both committed models again, each as it was
    trained (the main model with layer-wise learning rates, the client model without)."""
    from assistant.coding.train import jobs

    args = parse_args(["--data", "x"])
    config = json.loads((ROOT / "models" / "cue-coder" / "config.json").read_text())
    assert args.precision == config["precision"] == "int8"
    assert args.device == "cpu"
    (client, client_dir), (main, main_dir) = jobs(args)
    assert (client_dir, main_dir) == (args.out / "client", args.out)
    assert _design(main) == _committed(ROOT / "models" / "cue-coder")
    assert _design(client) == _committed(ROOT / "models" / "cue-coder" / "client")
    assert main.layer_lr_decay == 0.8 and client.layer_lr_decay == 1.0
    # one explicit value applies to both models
    (client, _), (main, _) = jobs(parse_args(["--data", "x", "--layer-lr-decay", "0.9"]))
    assert client.layer_lr_decay == main.layer_lr_decay == 0.9
    assert [c.utterances for c, _ in jobs(parse_args(["--data", "x", "--models", "main"]))] == [
        "all"
    ]


def test_the_gpu_bench_s_committed_design_is_the_committed_model() -> None:
    from assistant.coding.train import jobs

    [(design, _)] = jobs(parse_args(["--data", "x", *train_on_gpu.DESIGNS[train_on_gpu.COMMITTED]]))
    assert _design(design) == _committed(ROOT / "models" / "cue-coder")
    # the design before it names its one learning rate, whatever the CLI's default
    [(before, _)] = jobs(parse_args(["--data", "x", *train_on_gpu.DESIGNS["l6-e3-ctx-w5"]]))
    assert before.layer_lr_decay == 1.0
    # a client design trains the client model: the committed one's design, written where
    # `run` looks for it, ranked on talk type alone
    name = train_on_gpu.COMMITTED_CLIENT
    [(client, _)] = jobs(parse_args(["--data", "x", *train_on_gpu.DESIGNS[name]]))
    assert _design(client) == _committed(ROOT / "models" / "cue-coder" / "client")
    work = Path("work")
    assert train_on_gpu.outputs(work, name) == (
        work / name / "cv-client.json",
        work / name / "model" / "client",
    )
    assert train_on_gpu.outputs(work, "l6-e3-ctx-w5")[1] == work / "l6-e3-ctx-w5" / "model"
    talk = {"talk_type_macro_f1": {"mean": 0.55 * 0.9}}
    assert train_on_gpu.rank_score(talk, client=True) == pytest.approx(0.9)


def test_the_accuracy_bench_retrains_each_committed_model_as_it_was_trained() -> None:
    """bench/coder_accuracy.py re-runs each CV with the settings its metrics.json records."""
    from assistant.coding.train import jobs

    for folder, models in (("cue-coder", "main"), ("cue-coder/client", "client")):
        committed = ROOT / "models" / folder
        cfg = json.loads((committed / "metrics.json").read_text())["train_config"]
        argv = [*coder_accuracy._settings(cfg), "--data", "x", "--models", models]
        [(rerun, _)] = jobs(parse_args(argv))
        assert _design(rerun) == _committed(committed), folder


@pytest.mark.model
def test_out_of_fold_predictions_use_the_shipped_arithmetic() -> None:
    """as_coded rounds the trained layers through fp16 (as they are stored) and quantizes the
    encoder to int8, which moves its embeddings only a little."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    from assistant.coding.network import CoderHead
    from assistant.coding.train import Fitted, as_coded

    tokenizer, transformer = encoder.load_base()
    transformer.eval()
    texts = ["How has the drinking affected your work?", "I'm scared I'll lose my job."]
    previous = ["I drink most nights.", "How is work?"]
    batch = encoder.collate(encoder.token_ids(tokenizer, texts, previous))
    with torch.inference_mode():
        before = encoder.pooled(transformer, batch, True)
    head = CoderHead(int(transformer.config.hidden_size), 3, 8, 0.0)
    fitted = Fitted(tokenizer, transformer, head, TrainConfig(top_layers=2, precision="int8"))
    coded = as_coded(fitted)
    layer5 = dict(transformer.named_parameters())["encoder.layer.5.output.dense.weight"]
    assert torch.equal(layer5, layer5.half().float())  # rounded as stored
    assert sum(isinstance(m, DynamicInt8Linear) for m in coded.transformer.modules()) == 37
    assert coded.config.device == "cpu" and coded.head is head
    with torch.inference_mode():
        after = encoder.pooled(coded.transformer, batch, True)
    # measured 0.975-0.980 for these two pairs; the coder's labels agree with fp32's on
    # 96-99% of AnnoMI's utterances (docs/coder.md)
    assert torch.nn.functional.cosine_similarity(before, after).min() > 0.95
    fp32 = as_coded(Fitted(tokenizer, transformer, head, TrainConfig(precision="fp32")))
    assert fp32.transformer is transformer


def test_base_model_dir_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(encoder.BASE_MODEL_ENV, str(tmp_path))
    assert encoder.base_model_path() == tmp_path
    monkeypatch.setenv(encoder.BASE_MODEL_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="missing"):
        encoder.base_model_path()


@pytest.mark.skipif(not (ANNOMI / SIMPLE_FILE).is_file(), reason="AnnoMI (../shared) not present")
def test_gpu_carry_rebuilds_the_bundled_model(tmp_path: Path) -> None:
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    carry = tmp_path / "carry"
    train_on_gpu.pack(ANNOMI, carry, transcripts=3)
    assert sum(p.stat().st_size for p in carry.rglob("*") if p.is_file()) < 40 * 2**20
    rebuilt = tmp_path / "minilm"
    train_on_gpu.rebuild(carry, rebuilt)
    base = encoder.base_model_path()
    original = load_file(str(base / train_on_gpu.WEIGHTS))
    state = load_file(str(rebuilt / train_on_gpu.WEIGHTS))
    assert set(state) == set(original)
    tokenizer = Tokenizer.from_file(str(rebuilt / "tokenizer.json"))
    with (carry / "annomi" / SIMPLE_FILE).open(newline="", encoding="utf-8") as fh:
        texts = [row["utterance_text"] for row in csv.DictReader(fh)]
    ids = sorted({i for enc in tokenizer.encode_batch(texts) for i in enc.ids})
    packed = load_file(str(carry / "base" / "exact.safetensors"))["word_ids"]
    assert set(ids) <= set(packed.tolist())
    for key, value in original.items():
        assert state[key].shape == value.shape and state[key].dtype == value.dtype, key
        if key.endswith("word_embeddings.weight"):
            assert np.array_equal(state[key][ids], value[ids])  # exact where AnnoMI reads
            unused = np.setdiff1d(np.arange(len(value)), packed)
            assert not state[key][unused].any()  # rows no AnnoMI text uses stay empty
        elif key.startswith("embeddings."):
            assert np.array_equal(state[key], value)
        else:  # transformer layers travel as fp16
            np.testing.assert_allclose(state[key], value, rtol=1e-3, atol=1e-4)
    assert (rebuilt / "modules.json").is_file() and (rebuilt / "1_Pooling").is_dir()


def _small_annomi(out: Path, transcripts: int) -> Path:
    """The first ``transcripts`` transcripts of both AnnoMI files, as a data folder."""
    from assistant.coding.data import FULL_FILE

    out.mkdir()
    keep: set[str] = set()
    for name in (SIMPLE_FILE, FULL_FILE):
        with (ANNOMI / name).open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
        if not keep:
            keep = set(sorted({r["transcript_id"] for r in rows}, key=int)[:transcripts])
        with (out / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=reader.fieldnames or [])
            writer.writeheader()
            writer.writerows(r for r in rows if r["transcript_id"] in keep)
    return out


@pytest.mark.model
@pytest.mark.skipif(not (ANNOMI / SIMPLE_FILE).is_file(), reason="AnnoMI (../shared) not present")
def test_train_cues_writes_an_int8_coder_that_loads(tmp_path: Path) -> None:
    """`attune train-cues` end to end on four transcripts (2-fold CV, one epoch, one layer):
    the CV runs the fold models in int8, both models are written (the client model into
    ``client/``, scored on talk type only), and the folder loads and codes in int8."""
    from assistant.coding import CoderWeightsError, load_coder
    from assistant.coding.train import main

    data = _small_annomi(tmp_path / "annomi", 4)
    out = tmp_path / "coder"
    args = ["--data", str(data), "--out", str(out), "--folds", "2", "--epochs", "1"]
    assert main([*args, "--top-layers", "1", "--threads", "1"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["precision"] == config["train_config"]["precision"] == "int8"
    assert config["utterances"] == "all"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cv"]["folds"] == 2 and len(metrics["cv"]["per_fold"]) == 2
    card = (out / "MODEL_CARD.md").read_text()
    assert "int8" in card and "## Client model (`client/`)" in card
    client_config = json.loads((out / "client" / "config.json").read_text())
    assert client_config["utterances"] == "client" and client_config["precision"] == "int8"
    client_metrics = json.loads((out / "client" / "metrics.json").read_text())
    assert set(client_metrics["cv"]["summary"]) == {
        "talk_type_macro_f1",
        "untuned_talk_type_macro_f1",
    }
    assert 0 < client_metrics["data"]["utterances"] < metrics["data"]["utterances"]
    assert "talk type" in (out / "client" / "MODEL_CARD.md").read_text()
    coder = load_coder(out)
    assert coder.precision == "int8" and coder.client is not None
    assert coder.client.offsets["talk_type"] == client_config["offsets"]["talk_type"]
    labels = coder.code("therapist", "How has the drinking affected your work?", [])
    assert labels["behaviour"] in ("question", "reflection", "therapist_input", "other")
    labels = coder.code("client", "I want to cut down.", [("therapist", "What now?")])
    assert labels["talk_type"] in ("change", "neutral", "sustain")

    # a main model trained on therapist utterances only (scored on the therapist heads) needs
    # the client model beside it to code talk type
    therapist = tmp_path / "therapist-coder"
    assert main([*args, "--out", str(therapist), "--models", "main", "--top-layers", "1",
                 "--main-utterances", "therapist", "--threads", "1"]) == 0  # fmt: skip
    assert json.loads((therapist / "config.json").read_text())["utterances"] == "therapist"
    therapist_metrics = json.loads((therapist / "metrics.json").read_text())
    assert "talk_type_macro_f1" not in therapist_metrics["cv"]["summary"]
    assert "behaviour_macro_f1" in therapist_metrics["cv"]["summary"]
    counts = [m["data"]["utterances"] for m in (therapist_metrics, client_metrics, metrics)]
    assert counts[0] + counts[1] == counts[2]
    assert "therapist utterances only" in (therapist / "MODEL_CARD.md").read_text()
    with pytest.raises(CoderWeightsError, match="therapist utterances only.*client/"):
        load_coder(therapist)
    shutil.copytree(out / "client", therapist / "client")
    assert load_coder(therapist).client is not None

    # a main model that also reads the overlap with the client's earlier turns records those
    # features, and the coder computes them from the context it is given
    from assistant.coding.lexical import BASE_FEATURES, FEATURE_NAMES

    assert config["lexical_features"] == list(BASE_FEATURES)
    # (its CV run first, then a final fit that takes that run's CV and offsets)
    overlap, cv = tmp_path / "overlap-coder", tmp_path / "overlap-cv.json"
    overlap_args = [*args, "--out", str(overlap), "--models", "main", "--top-layers", "1",
                    "--client-overlap", "--threads", "1"]  # fmt: skip
    assert main([*overlap_args, "--cv-only", "--metrics-out", str(cv)]) == 0
    assert not overlap.exists()
    assert main([*overlap_args, "--cv-from", str(cv)]) == 0
    recorded = json.loads(cv.read_text())
    assert json.loads((overlap / "metrics.json").read_text())["cv"] == recorded["cv"]
    # the offsets are those the CV and the fit in one run give (CPU training is repeatable)
    at_once = tmp_path / "overlap-at-once"
    assert main([*overlap_args, "--out", str(at_once)]) == 0
    offsets = [json.loads((d / "config.json").read_text())["offsets"] for d in (overlap, at_once)]
    assert offsets[0] == offsets[1]
    # a CV of another design, or none, is refused before anything is trained
    other = tmp_path / "other-coder"
    with_base = [*args, "--out", str(other), "--models", "main", "--top-layers", "1"]
    assert main([*with_base, "--cv-from", str(cv)]) == 2
    assert main([*with_base, "--cv-from", str(tmp_path / "none.json")]) == 2
    assert not other.exists()
    overlap_config = json.loads((overlap / "config.json").read_text())
    assert overlap_config["lexical_features"] == list(FEATURE_NAMES)
    assert overlap_config["train_config"]["client_overlap"] is True
    assert "client's last three turns" in (overlap / "MODEL_CARD.md").read_text()
    assert "client's last three turns" not in card
    overlap_coder = load_coder(overlap)
    assert overlap_coder.main.features == FEATURE_NAMES
    history = [("client", "My sister hates it."), ("therapist", "Hm."), ("Client", "Yeah.")]
    labels = overlap_coder.code("therapist", "Your sister worries about the drinking.", history)
    assert labels["behaviour"] in ("question", "reflection", "therapist_input", "other")

    # a client folder that holds some other model is refused, naming that folder, and so is
    # a client model where the main one should be
    client_config["utterances"] = "all"
    (out / "client" / "config.json").write_text(json.dumps(client_config))
    with pytest.raises(CoderWeightsError, match="client.*not a client model"):
        load_coder(out)
    with pytest.raises(CoderWeightsError, match="not a main model"):
        load_coder(therapist / "client")


@pytest.mark.model
def test_layer_lr_decay_gives_each_trained_layer_its_rate() -> None:
    from assistant.coding.train import _encoder_groups

    _tokenizer, transformer = encoder.load_base()
    encoder.freeze_below(transformer, 3)
    cfg = TrainConfig(top_layers=3, lr_encoder=1e-4, layer_lr_decay=0.5)
    groups = _encoder_groups(transformer, cfg)
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 5e-5, 2.5e-5])  # layers 5, 4, 3
    named = dict(transformer.named_parameters())
    assert groups[0]["params"][0] is named["encoder.layer.5.attention.self.query.weight"]
    trained = {id(p) for p in transformer.parameters() if p.requires_grad}
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(trained)  # every trained weight once, nothing frozen
    plain = _encoder_groups(transformer, replace(cfg, layer_lr_decay=1.0))
    assert {g["lr"] for g in plain} == {1e-4}  # the default: one rate for every layer


def test_the_committed_model_card_is_written_from_its_metrics(tmp_path: Path) -> None:
    """The card says how the model was trained, including where the client model's design
    differs from the main model's, and is what `train-cues` writes from metrics.json."""
    from assistant.coding.card import write_model_card

    committed = ROOT / "models" / "cue-coder"
    (tmp_path / "client").mkdir()
    shutil.copy(committed / "client" / "metrics.json", tmp_path / "client" / "metrics.json")
    metrics = json.loads((committed / "metrics.json").read_text())
    card = write_model_card(tmp_path, metrics).read_text()
    assert card == (committed / "MODEL_CARD.md").read_text()
    assert "each encoder layer learning at 0.8 times the rate of the one above" in card
    assert "encoder learning rate 8e-05 for the top layer" in card
    assert "of the same design but for layer_lr_decay = 1.0 (the main model's: 0.8)" in card


def test_a_long_pair_is_cut_in_the_previous_turn_first() -> None:
    """``truncation="previous"`` keeps the utterance whole and the previous turn's last words;
    where nothing needs cutting both ways give the tokenizer's own pair encoding."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(encoder.base_model_path()))
    short = (["How is work?"], ["I drink most nights."])
    assert encoder.token_ids(tokenizer, *short, "previous") == encoder.token_ids(
        tokenizer, *short, "longest"
    )
    utterance = "So you want to cut down, and you are not sure how. " * 6  # 85 tokens
    previous = " ".join(f"word{i}" for i in range(200)) + " the very last words"
    [(ids, segments)] = encoder.token_ids(tokenizer, [utterance], [previous], "previous")
    assert len(ids) == encoder.MAX_TOKENS
    first, second = segments.index(1), len(segments)
    assert tokenizer.decode(ids[first:second]) == tokenizer.decode(
        tokenizer(utterance)["input_ids"][1:]
    )  # the whole utterance and its [SEP]
    assert str(tokenizer.decode(ids[1 : first - 1])).endswith("the very last words")
    [(longest, _)] = encoder.token_ids(tokenizer, [utterance], [previous], "longest")
    assert len(longest) == encoder.MAX_TOKENS and longest[first:] != ids[first:]
    # a very long utterance keeps at least MIN_PREVIOUS tokens of the turn before it
    [(ids, segments)] = encoder.token_ids(tokenizer, [utterance * 3], [previous], "previous")
    assert len(ids) == encoder.MAX_TOKENS
    assert segments.index(1) == encoder.MIN_PREVIOUS + 2  # [CLS] previous [SEP]
    with pytest.raises(ValueError, match="truncation must be one of"):
        encoder.token_ids(tokenizer, short[0], short[1], "middle")


def test_truncation_option() -> None:
    from assistant.coding.train import jobs

    (client, _), (main, _) = jobs(parse_args(["--data", "x"]))
    assert client.truncation == main.truncation == "longest"  # as the committed models
    (client, _), (main, _) = jobs(parse_args(["--data", "x", "--truncation", "previous"]))
    assert client.truncation == main.truncation == "previous"
    with pytest.raises(SystemExit):
        parse_args(["--data", "x", "--truncation", "middle"])


def test_annotator_biases_apply_to_single_annotator_rows_only() -> None:
    """``--annotator-bias``: each utterance one annotator coded gets that annotator's bias on
    every head's logits in training; rows several annotators coded get none."""
    import torch

    from assistant.coding.labels import HEADS
    from assistant.coding.train import Dataset, _with_bias, annotator_biases

    data = Dataset(
        texts=["t"] * 3,
        previous=[""] * 3,
        speakers=["therapist"] * 3,
        groups=np.zeros(3, dtype=np.int64),
        lexical=np.zeros((3, 1), dtype=np.float32),
        targets={},
        annotators=np.array([2, -1, 0]),
    )
    assert len(annotator_biases(data, TrainConfig())) == 0  # off by default
    bias = annotator_biases(data, TrainConfig(annotator_bias=True))
    assert set(bias) == set(HEADS) and bias["question"].shape == (3, 3)  # annotators 0-2
    assert not any(p.any() for p in bias.parameters())  # a zero start: the model alone
    with torch.no_grad():
        bias["question"][2] = torch.tensor([0.0, 5.0, -5.0])
    logits = {h: torch.zeros(3, len(c)) for h, c in HEADS.items()}
    out = _with_bias(logits, bias, torch.tensor([2, -1, 0]))
    assert out["question"].tolist() == [[0.0, 5.0, -5.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert parse_args(["--data", "x", "--annotator-bias"]).annotator_bias
    assert not parse_args(["--data", "x"]).annotator_bias
