"""Benchmark: grouped 5-fold cross-validated accuracy of the utterance coder on AnnoMI.

    .venv/bin/python bench/coder_accuracy.py --threads 2  # re-run both CVs (70 min on 2 cores)
    .venv/bin/python bench/coder_accuracy.py --models client --threads 2  # client model (25 min)
    .venv/bin/python bench/coder_accuracy.py --committed    # print the committed metrics.json

Folds are grouped by transcript (GroupKFold on transcript_id); each fold fine-tunes the
encoder's layers and the head from scratch, so no transcript is both trained and scored.
The re-run calls `assistant.coding.train.main --cv-only` with the committed model's settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.coding import train  # noqa: E402
from assistant.coding.model import CLIENT_DIR, DEFAULT_MODEL_DIR  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "annomi"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--committed", action="store_true", help="print the committed CV table")
    p.add_argument("--device", default="", help="torch device (default cpu; cuda on a GPU)")
    p.add_argument("--models", choices=("both", "main", "client"), default="both")
    args = p.parse_args()
    metrics = json.loads((DEFAULT_MODEL_DIR / "metrics.json").read_text())
    if args.committed:
        cv = metrics["cv"]
        print(
            f"Grouped {cv['folds']}-fold CV (committed {DEFAULT_MODEL_DIR.name}, "
            f"{metrics['date']}):"
        )
        print(train.format_table(cv["summary"]))
        client = DEFAULT_MODEL_DIR / CLIENT_DIR / "metrics.json"
        if client.is_file():
            cv = json.loads(client.read_text())["cv"]
            print("\nClient model (codes talk type in the coder):")
            print(train.format_table(cv["summary"]))
        return 0
    models = ["client", "main"] if args.models == "both" else [args.models]
    for model in models:  # each with its committed model's settings
        folder = DEFAULT_MODEL_DIR / CLIENT_DIR if model == "client" else DEFAULT_MODEL_DIR
        cfg = json.loads((folder / "metrics.json").read_text())["train_config"]
        status = train.main([*_settings(cfg), "--data", str(args.data), "--folds", str(args.folds),
                             "--cv-only", "--threads", str(args.threads), "--models", model,
                             *(["--device", args.device] if args.device else [])])  # fmt: skip
        if status:
            return status
    return 0


def _settings(recorded: dict[str, Any]) -> list[str]:
    """``train-cues`` arguments that train a model as ``recorded`` (a metrics.json's
    ``train_config``) says."""
    cfg = train.recorded_config(recorded)
    return [
        *("--epochs", str(cfg.epochs), "--top-layers", str(cfg.top_layers)),
        *("--seed", str(cfg.seed), "--context" if cfg.context else "--no-context"),
        *("--lr-encoder", str(cfg.lr_encoder), "--lr-head", str(cfg.lr_head)),
        *("--batch-size", str(cfg.batch_size)),
        *("--class-weight-power", str(cfg.class_weight_power)),
        *[f"--head-weight-power={h}={w}" for h, w in cfg.head_weight_power],
        *("--layer-lr-decay", str(cfg.layer_lr_decay), "--truncation", cfg.truncation),
        "--annotator-bias" if cfg.annotator_bias else "--no-annotator-bias",
        "--client-overlap" if cfg.client_overlap else "--no-client-overlap",
        *("--precision", cfg.precision),
        *([] if cfg.utterances == "client" else ["--main-utterances", cfg.utterances]),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
