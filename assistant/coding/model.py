"""``UtteranceCoder``: code one utterance (or a batch) with the committed weights.

The coder's folder holds the multi-task model (every head) and, in ``client/``, a model of the
same design trained on client utterances only, which codes the client's talk type where it is
present (one encoder pass per utterance either way; the two share the frozen token embeddings).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.coding import encoder
from assistant.coding.decode import Offsets, decode, none_to_null
from assistant.coding.disclosure import detect_disclosure
from assistant.coding.labels import (
    CLIENT,
    CLIENT_HEADS,
    HEADS,
    THERAPIST,
    THERAPIST_HEADS,
    normalise_speaker,
)
from assistant.coding.lexical import BASE_FEATURES, FEATURE_NAMES, LexicalInput, lexical_matrix

if TYPE_CHECKING:
    from assistant.coding.network import CoderHead

ENV_MODEL_DIR = "ATTUNE_CUE_MODEL_DIR"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "cue-coder"
FORMAT_VERSION = 1
WEIGHT_FILES = ("config.json", "encoder_top.safetensors", "head.safetensors")
CLIENT_DIR = "client"
"""Subfolder of the client model (``attune train-cues`` writes it)."""

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


@dataclass(frozen=True)
class Network:
    """One trained model: the fine-tuned encoder, its head and its decoding offsets."""

    transformer: Any
    head: CoderHead
    offsets: Offsets
    context: bool
    precision: str
    truncation: str = "longest"  # how a pair too long is cut (encoder.TRUNCATIONS)
    features: tuple[str, ...] = BASE_FEATURES  # the lexical features its head reads


class UtteranceCoder:
    """Codes therapist utterances (behaviour, question, reflection, input) and client
    utterances (talk type, disclosure). Build it with :func:`load_coder`.

    ``client``, where given, codes the client's utterances instead of ``main``."""

    def __init__(
        self,
        tokenizer: Any,
        main: Network,
        path: Path,
        client: Network | None = None,
        batch_size: int = 32,
        precision: str = "fp32",
    ) -> None:
        self.precision = precision
        self._tokenizer = tokenizer
        self.main = main
        self.client = client
        self.path = path
        self.batch_size = batch_size

    @property
    def offsets(self) -> Offsets:
        """The main model's decoding offsets (every therapist head)."""
        return self.main.offsets

    def network(self, speaker: str) -> Network:
        """The model that codes ``speaker``'s utterances."""
        if speaker == THERAPIST or self.client is None:
            return self.main
        return self.client

    def code(self, speaker: str, text: str, context: Context) -> dict[str, object]:
        """Labels of one utterance; ``context`` holds the previous (speaker, text) turns,
        oldest first: the last one is encoded with the utterance, and a model that reads the
        overlap with the client's earlier turns (``lexical.CLIENT_OVERLAP_FEATURES``) reads
        the client's among them, so pass the session's every earlier turn."""
        return self.code_batch([(speaker, text, context)])[0]

    def code_batch(self, items: Sequence[Item]) -> list[dict[str, object]]:
        """Labels of many utterances, encoded in batches (one model per batch; in int8 one
        utterance a pass, so that each gets the labels it gets alone: see
        :func:`encoder.batch_size_for`)."""
        speakers = [normalise_speaker(s) for s, _, _ in items]
        texts = [" ".join(t.split()) for _, t, _ in items]
        results: list[dict[str, object] | None] = [None] * len(items)
        for i in range(len(items)):
            if not texts[i]:
                results[i] = _empty_labels(speakers[i])
        networks = [self.main] if self.client is None else [self.main, self.client]
        for net in networks:
            mine = [i for i, t in enumerate(texts) if t and self.network(speakers[i]) is net]

            # similar lengths (with the previous turn, where it is encoded too) share a batch
            def length(i: int, context: bool = net.context) -> int:
                ctx = items[i][2]
                return len(texts[i]) + (len(ctx[-1][1]) if context and ctx else 0)

            mine.sort(key=length)
            size = encoder.batch_size_for(net.transformer, self.batch_size)
            for start in range(0, len(mine), size):
                part = mine[start : start + size]
                self._code_part(net, items, speakers, texts, part, results)
        return [r for r in results if r is not None]

    def _code_part(
        self,
        net: Network,
        items: Sequence[Item],
        speakers: Sequence[str],
        texts: Sequence[str],
        part: Sequence[int],
        results: list[dict[str, object] | None],
    ) -> None:
        """Code the utterances ``part`` (indices into ``items``) with ``net`` in one batch."""
        import torch

        lex_items = [lexical_input(texts[i], items[i][2]) for i in part]
        previous = [x.prev_text for x in lex_items] if net.context else None
        encoded = encoder.token_ids(
            self._tokenizer, [texts[i] for i in part], previous, net.truncation
        )
        with torch.inference_mode():
            emb = encoder.pooled(net.transformer, encoder.collate(encoded), net.context)
            lexical = lexical_matrix(lex_items, net.features)
            logits = net.head(emb, torch.from_numpy(lexical))
            logp = {h: torch.log_softmax(v, dim=1).numpy() for h, v in logits.items()}
        for j, i in enumerate(part):
            results[i] = self._labels(
                speakers[i], texts[i], {h: v[j] for h, v in logp.items()}, net.offsets
            )

    def _labels(
        self, speaker: str, text: str, logp: dict[str, np.ndarray], offsets: Offsets
    ) -> dict[str, object]:
        heads = THERAPIST_HEADS if speaker == THERAPIST else CLIENT_HEADS
        decoded = decode({h: logp[h][None, :] for h in heads}, offsets)
        if speaker == THERAPIST:
            return {
                "behaviour": decoded["behaviour"][0],
                "question": none_to_null(decoded["question"][0]),
                "reflection": none_to_null(decoded["reflection"][0]),
                "input": none_to_null(decoded["input"][0]),
            }
        return {"talk_type": decoded["talk_type"][0], "disclosure": detect_disclosure(text)}


def lexical_input(text: str, context: Context) -> LexicalInput:
    """What the lexical features of ``text`` read from its ``context`` (earlier turns)."""
    prev_speaker, prev_text = (context[-1][0], context[-1][1]) if context else (None, "")
    if prev_speaker is not None:
        prev_speaker = prev_speaker.strip().lower()
    client_turns = tuple(t for s, t in context if s.strip().lower() == CLIENT)
    return LexicalInput(text, prev_speaker, prev_text, client_turns)


def resolve_model_dir(path: Path | None = None) -> Path:
    """``path``, else ``$ATTUNE_CUE_MODEL_DIR``, else the repository's ``models/cue-coder``."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_MODEL_DIR)
    return Path(env) if env else DEFAULT_MODEL_DIR


def _read_config(path: Path, role: str, learnt_from: tuple[str, ...]) -> dict[str, Any]:
    """``path``'s config.json, checked against this code and against the ``role`` the model
    plays in the coder: what it learnt from (``utterances``; "all" where absent) must be one
    of ``learnt_from``."""
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
    features = config.get("lexical_features")
    if not isinstance(features, list) or not all(f in FEATURE_NAMES for f in features):
        raise CoderWeightsError(path, "lexical features differ from this code's")
    if config.get("heads") != {h: list(c) for h, c in HEADS.items()}:
        raise CoderWeightsError(path, "label sets differ from this code's")
    if config.get("truncation", "longest") not in encoder.TRUNCATIONS:
        raise CoderWeightsError(path, f"unknown truncation {config.get('truncation')!r}")
    utterances = config.get("utterances", "all")
    if utterances not in learnt_from:
        raise CoderWeightsError(path, f"not a {role} model (utterances = {utterances!r})")
    return config


def load_coder(path: Path | None = None, precision: str | None = None) -> UtteranceCoder:
    """Load the committed coder (see :func:`resolve_model_dir`), with its client model where
    the folder has one (``client/``; required where the main model learnt from therapist
    utterances only, ``train-cues --main-utterances therapist``).

    Each model computes in the precision its offsets were tuned for (``precision`` in its
    config.json: ``int8``, or ``fp32`` where absent); ``precision`` overrides it for both, for
    comparisons. Raises :class:`CoderWeightsError` naming the folder when it is missing or
    corrupt.
    """
    if precision is not None and precision not in encoder.PRECISIONS:
        raise ValueError(f"precision must be one of {encoder.PRECISIONS}, got {precision!r}")
    model_dir = resolve_model_dir(path)
    config = _read_config(model_dir, "main", ("all", THERAPIST))
    client_dir = model_dir / CLIENT_DIR
    if config.get("utterances") == THERAPIST and not client_dir.exists():
        raise CoderWeightsError(
            model_dir, f"trained on therapist utterances only, and no client model in {CLIENT_DIR}/"
        )
    forced = precision
    precision = forced or _precision(model_dir, config)
    weights = _read_weights(model_dir)  # files are checked before the slow imports
    client_parts: tuple[dict[str, Any], dict[str, Any], str] | None = None
    if client_dir.exists():
        client_config = _read_config(client_dir, "client", (CLIENT,))
        client_precision = forced or _precision(client_dir, client_config)
        client_parts = (client_config, _read_weights(client_dir), client_precision)
    tokenizer, transformer = encoder.load_base()
    client: Network | None = None
    if client_parts is not None:
        # a second bundled MiniLM for the client model, sharing the first one's token
        # embeddings (frozen in training: both models read the bundled ones)
        shared = transformer.embeddings
        base = copy.deepcopy(transformer, memo={id(shared): shared})
        client = _load_network(client_dir, *client_parts[:2], base, client_parts[2])
    main = _load_network(model_dir, config, weights, transformer, precision)
    return UtteranceCoder(tokenizer, main, model_dir, client, precision=precision)


def _precision(model_dir: Path, config: dict[str, Any]) -> str:
    precision = str(config.get("precision", "fp32"))
    if precision not in encoder.PRECISIONS:
        raise CoderWeightsError(model_dir, f"unknown precision {precision!r}")
    return precision


def _read_weights(model_dir: Path) -> dict[str, Any]:
    """The fine-tuned layers (``top``) and the head's state (``head``) stored in
    ``model_dir``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return {
            "top": load_file(str(model_dir / "encoder_top.safetensors")),
            "head": load_file(str(model_dir / "head.safetensors")),
        }
    except (OSError, SafetensorError) as exc:
        raise CoderWeightsError(model_dir, f"unreadable weights ({exc})") from exc


def _load_network(
    model_dir: Path,
    config: dict[str, Any],
    weights: dict[str, Any],
    transformer: Any,
    precision: str,
) -> Network:
    """``weights`` (:func:`_read_weights` of ``model_dir``) loaded into ``transformer`` (the
    bundled MiniLM, freshly loaded) and a new head, computing in ``precision``."""
    from assistant.coding.network import CoderHead

    top, head_state = weights["top"], weights["head"]
    expected = set(encoder.trainable_state(transformer, int(config["top_layers"])))
    if set(top) != expected:
        raise CoderWeightsError(model_dir, "encoder_top.safetensors has unexpected tensors")
    current = transformer.state_dict()
    try:
        transformer.load_state_dict(
            {**current, **{k: v.to(current[k].dtype) for k, v in top.items()}}, strict=True
        )
        features = tuple(config["lexical_features"])
        head = CoderHead(
            int(transformer.config.hidden_size), len(features), int(config["hidden"]), 0.0
        )
        head.load_state_dict(head_state, strict=True)
    except (RuntimeError, KeyError) as exc:
        raise CoderWeightsError(model_dir, f"weights do not fit the model ({exc})") from exc
    transformer.eval()
    head.eval()
    if precision == "int8":
        transformer = encoder.quantized(transformer, inplace=True)  # peak RSS 100 MB lower
    offsets: Offsets = {h: [float(x) for x in v] for h, v in config["offsets"].items()}
    return Network(
        transformer,
        head,
        offsets,
        bool(config.get("context", False)),
        precision,
        str(config.get("truncation", "longest")),
        features,
    )
