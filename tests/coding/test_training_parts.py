"""Training helpers: class weights, the base-model override, and the GPU carry folder
(bench/train_on_gpu.py) rebuilding the bundled model from what travels."""

from __future__ import annotations

import csv
import importlib.util
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


def test_cli_defaults_are_the_committed_design() -> None:
    args = parse_args(["--data", "x"])
    config = (ROOT / "models" / "cue-coder" / "config.json").read_text()
    import json

    committed = json.loads(config)["train_config"]
    assert args.top_layers == committed["top_layers"]
    assert args.context == committed["context"]
    assert args.class_weight_power == committed["class_weight_power"]
    assert args.epochs == committed["epochs"]
    assert args.lr_encoder == committed["lr_encoder"]
    assert args.device == "cpu"


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
