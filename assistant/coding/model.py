"""``UtteranceCoder``: code one utterance (or a batch) with the committed weights."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.coding import encoder
from assistant.coding.decode import Offsets, decode, none_to_null
from assistant.coding.disclosure import detect_disclosure
from assistant.coding.labels import (
    CLIENT_HEADS,
    HEADS,
    THERAPIST,
    THERAPIST_HEADS,
    normalise_speaker,
)
from assistant.coding.lexical import FEATURE_NAMES, lexical_matrix

if TYPE_CHECKING:
    from assistant.coding.network import CoderHead

ENV_MODEL_DIR = "ATTUNE_CUE_MODEL_DIR"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "cue-coder"
FORMAT_VERSION = 1
WEIGHT_FILES = ("config.json", "encoder_top.safetensors", "head.safetensors")

Context = Sequence[tuple[str, str]]
Item = tuple[str, str, Context]


class CoderWeightsError(RuntimeError):
    """The coder's weights folder is missing, incomplete or does not match this code."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cue-coder weights at {path}: {reason}")
        self.path = path
        self.reason = reason


def _empty_labels(speaker: str) -> dict[str, object]:
    if speaker == THERAPIST:
        return {"behaviour": "other", "question": None, "reflection": None, "input": None}
    return {"talk_type": "neutral", "disclosure": False}


class UtteranceCoder:
    """Codes therapist utterances (behaviour, question, reflection, input) and client
    utterances (talk type, disclosure). Build it with :func:`load_coder`."""

    def __init__(
        self,
        tokenizer: Any,
        transformer: Any,
        head: CoderHead,
        offsets: Offsets,
        path: Path,
        context: bool,
        batch_size: int = 32,
        precision: str = "fp32",
    ) -> None:
        self.context = context
        self.precision = precision
        self._tokenizer = tokenizer
        self._transformer = transformer
        self._head = head
        self.offsets = offsets
        self.path = path
        self.batch_size = batch_size

    def code(self, speaker: str, text: str, context: Context) -> dict[str, object]:
        """Labels of one utterance; ``context`` holds the previous (speaker, text) turns,
        oldest first (only the last one is read)."""
        return self.code_batch([(speaker, text, context)])[0]

    def code_batch(self, items: Sequence[Item]) -> list[dict[str, object]]:
        """Labels of many utterances, encoded in batches."""
        import torch

        speakers = [normalise_speaker(s) for s, _, _ in items]
        texts = [" ".join(t.split()) for _, t, _ in items]
        results: list[dict[str, object] | None] = [None] * len(items)

        # similar lengths (with the previous turn, where it is encoded too) share a batch
        def length(i: int) -> int:
            ctx = items[i][2]
            return len(texts[i]) + (len(ctx[-1][1]) if self.context and ctx else 0)

        todo = sorted((i for i, t in enumerate(texts) if t), key=length)
        for i in range(len(items)):
            if not texts[i]:
                results[i] = _empty_labels(speakers[i])
        for start in range(0, len(todo), self.batch_size):
            part = todo[start : start + self.batch_size]
            lex_items: list[tuple[str, str | None, str]] = []
            for i in part:
                ctx = items[i][2]
                prev_speaker, prev_text = (ctx[-1][0], ctx[-1][1]) if ctx else (None, "")
                if prev_speaker is not None:
                    prev_speaker = prev_speaker.strip().lower()
                lex_items.append((texts[i], prev_speaker, prev_text))
            previous = [p for _, _, p in lex_items] if self.context else None
            encoded = encoder.token_ids(self._tokenizer, [texts[i] for i in part], previous)
            with torch.inference_mode():
                emb = encoder.pooled(self._transformer, encoder.collate(encoded), self.context)
                logits = self._head(emb, torch.from_numpy(lexical_matrix(lex_items)))
                logp = {h: torch.log_softmax(v, dim=1).numpy() for h, v in logits.items()}
            for j, i in enumerate(part):
                results[i] = self._labels(speakers[i], texts[i], {h: v[j] for h, v in logp.items()})
        return [r for r in results if r is not None]

    def _labels(self, speaker: str, text: str, logp: dict[str, np.ndarray]) -> dict[str, object]:
        heads = THERAPIST_HEADS if speaker == THERAPIST else CLIENT_HEADS
        decoded = decode({h: logp[h][None, :] for h in heads}, self.offsets)
        if speaker == THERAPIST:
            return {
                "behaviour": decoded["behaviour"][0],
                "question": none_to_null(decoded["question"][0]),
                "reflection": none_to_null(decoded["reflection"][0]),
                "input": none_to_null(decoded["input"][0]),
            }
        return {"talk_type": decoded["talk_type"][0], "disclosure": detect_disclosure(text)}


def resolve_model_dir(path: Path | None = None) -> Path:
    """``path``, else ``$ATTUNE_CUE_MODEL_DIR``, else the repository's ``models/cue-coder``."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_MODEL_DIR)
    return Path(env) if env else DEFAULT_MODEL_DIR


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise CoderWeightsError(path, "folder not found (train with `attune train-cues`)")
    missing = [f for f in WEIGHT_FILES if not (path / f).is_file()]
    if missing:
        raise CoderWeightsError(path, f"missing {', '.join(missing)}")
    try:
        config: dict[str, Any] = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise CoderWeightsError(path, f"unreadable config.json ({exc})") from exc
    if config.get("format_version") != FORMAT_VERSION:
        raise CoderWeightsError(path, f"format_version {config.get('format_version')!r}")
    if config.get("lexical_features") != list(FEATURE_NAMES):
        raise CoderWeightsError(path, "lexical features differ from this code's")
    if config.get("heads") != {h: list(c) for h, c in HEADS.items()}:
        raise CoderWeightsError(path, "label sets differ from this code's")
    return config


def load_coder(path: Path | None = None, precision: str | None = None) -> UtteranceCoder:
    """Load the committed coder (see :func:`resolve_model_dir`).

    The encoder computes in the precision its offsets were tuned for (``precision`` in
    config.json: ``int8``, or ``fp32`` where absent); ``precision`` overrides it, for
    comparisons. Raises :class:`CoderWeightsError` naming the folder when it is missing or
    corrupt.
    """
    if precision is not None and precision not in encoder.PRECISIONS:
        raise ValueError(f"precision must be one of {encoder.PRECISIONS}, got {precision!r}")
    model_dir = resolve_model_dir(path)
    config = _read_config(model_dir)
    precision = precision or str(config.get("precision", "fp32"))
    if precision not in encoder.PRECISIONS:
        raise CoderWeightsError(model_dir, f"unknown precision {precision!r}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from assistant.coding.network import CoderHead

    try:
        top = load_file(str(model_dir / "encoder_top.safetensors"))
        head_state = load_file(str(model_dir / "head.safetensors"))
    except (OSError, SafetensorError) as exc:
        raise CoderWeightsError(model_dir, f"unreadable weights ({exc})") from exc
    tokenizer, transformer = encoder.load_base()
    expected = set(encoder.trainable_state(transformer, int(config["top_layers"])))
    if set(top) != expected:
        raise CoderWeightsError(model_dir, "encoder_top.safetensors has unexpected tensors")
    current = transformer.state_dict()
    try:
        transformer.load_state_dict(
            {**current, **{k: v.to(current[k].dtype) for k, v in top.items()}}, strict=True
        )
        head = CoderHead(
            int(transformer.config.hidden_size), len(FEATURE_NAMES), int(config["hidden"]), 0.0
        )
        head.load_state_dict(head_state, strict=True)
    except (RuntimeError, KeyError) as exc:
        raise CoderWeightsError(model_dir, f"weights do not fit the model ({exc})") from exc
    transformer.eval()
    head.eval()
    if precision == "int8":
        transformer = encoder.quantized(transformer, inplace=True)  # peak RSS 100 MB lower
    offsets: Offsets = {h: [float(x) for x in v] for h, v in config["offsets"].items()}
    context = bool(config.get("context", False))
    return UtteranceCoder(
        tokenizer, transformer, head, offsets, model_dir, context, precision=precision
    )
