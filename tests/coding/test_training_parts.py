"""Training helpers: class weights, the base-model override, and the GPU carry folder
(bench/train_on_gpu.py) rebuilding the bundled model from what travels."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from assistant.coding import encoder
from assistant.coding.data import SIMPLE_FILE
from assistant.coding.train import TrainConfig, class_weights, parse_args

ROOT = Path(__file__).resolve().parents[2]
ANNOMI = ROOT.parent / "shared" / "data" / "annomi"


def _bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "train_on_gpu", ROOT / "bench" / "train_on_gpu.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_on_gpu"] = module
    spec.loader.exec_module(module)
    return module


def test_class_weights_lift_rare_classes_and_keep_the_average_example_at_one() -> None:
    targets = np.array([0] * 90 + [1] * 10 + [-1] * 7)  # -1: the head does not apply
    weights = class_weights(targets, 3, TrainConfig(class_weight_power=0.5))
    assert weights[1] / weights[0] == pytest.approx(3.0)  # sqrt(90 / 10)
    assert (90 * weights[0] + 10 * weights[1]) / 100 == pytest.approx(1.0)
    assert weights[2] == 0.0  # absent from these rows
    plain = class_weights(targets, 3, TrainConfig(class_weight_power=0.0))
    assert plain[:2].tolist() == [1.0, 1.0]


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


def test_cli_defaults_are_the_committed_design() -> None:
    args = parse_args(["--data", "x"])
    config = (ROOT / "models" / "cue-coder" / "config.json").read_text()
    runs_in = json.loads(config)["precision"]
    committed = json.loads(config)["train_config"]
    assert args.top_layers == committed["top_layers"]
    assert args.context == committed["context"]
    assert args.class_weight_power == committed["class_weight_power"]
    assert args.epochs == committed["epochs"]
    assert args.lr_encoder == committed["lr_encoder"]
    assert args.precision == runs_in == "int8"
    assert args.device == "cpu"
    assert args.models == "both"  # the committed coder has its client model beside it
    assert args.main_utterances == json.loads(config).get("utterances", "all") == "all"
    client = json.loads((ROOT / "models" / "cue-coder" / "client" / "config.json").read_text())
    assert client["utterances"] == "client"
    for key in ("top_layers", "context", "class_weight_power", "epochs", "lr_encoder"):
        assert client["train_config"][key] == getattr(args, key), key


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

    bench = _bench_module()
    carry = tmp_path / "carry"
    bench.pack(ANNOMI, carry, transcripts=3)
    assert sum(p.stat().st_size for p in carry.rglob("*") if p.is_file()) < 40 * 2**20
    rebuilt = tmp_path / "minilm"
    bench.rebuild(carry, rebuilt)
    base = encoder.base_model_path()
    original = load_file(str(base / bench.WEIGHTS))
    state = load_file(str(rebuilt / bench.WEIGHTS))
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

    # a client folder that holds some other model is refused, naming that folder, and so is
    # a client model where the main one should be
    client_config["utterances"] = "all"
    (out / "client" / "config.json").write_text(json.dumps(client_config))
    with pytest.raises(CoderWeightsError, match="client.*not a client model"):
        load_coder(out)
    with pytest.raises(CoderWeightsError, match="not a main model"):
        load_coder(therapist / "client")
