"""Benchmark: how often each cue fires on AnnoMI, by session quality, and how often the
coder's cues agree with the cues the experts' codes raise.

    .venv/bin/python bench/cue_rates.py --labels gold    # the experts' codes
    .venv/bin/python bench/cue_rates.py --labels coder   # the committed coder's codes
    .venv/bin/python bench/cue_rates.py --labels oof --oof CV.oof.safetensors \
        --client-oof CV-client.oof.safetensors           # out-of-fold codes of a CV run

Runs the cue rules (assistant/cues/rules.py) over every AnnoMI training transcript in
../shared/data/annomi, with utterance times from AnnoMI's timestamps (each turn ends where
the next begins, at most 150 words a minute), and prints cues raised and shown per 100
therapist utterances in high- and low-quality sessions. `judgmental_language` should almost
never fire on high-quality sessions.

With coder labels it also scores each cue kind against the cues the experts' codes raise
(same kind on the same utterance): precision of the cues raised and of the cues the panel
would show, and recall. The committed coder learnt from these transcripts, which flatters
it; out-of-fold labels (`--labels oof`: the log-probs `attune train-cues --metrics-out`
writes, decoded fold by fold with offsets tuned on the other folds, as the CV scores them)
code every transcript with a model that never saw it.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.coding.data import SIMPLE_FILE, Session, load_annomi  # noqa: E402
from assistant.coding.data import Utterance as AnnomiUtterance  # noqa: E402
from assistant.coding.decode import none_to_null  # noqa: E402
from assistant.coding.disclosure import detect_disclosure  # noqa: E402
from assistant.cues.catalog import KINDS, CueOptions  # noqa: E402
from assistant.dialogue import DialogueStages  # noqa: E402
from assistant.events import Event, Speaker, Utterance  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "annomi"
THERAPIST_CODES = ("behaviour", "question", "reflection", "input")
Labels = dict[str, object]
#: (transcript, utterance index) -> labels
LabelSource = Callable[[str, int], Labels]
#: (transcript, utterance id, cue kind)
CueKey = tuple[str, str, str]


def seconds(stamp: str) -> float:
    h, m, s = (int(x) for x in stamp.split(":"))
    return h * 3600 + m * 60 + s


def read_stamps(data: Path) -> tuple[dict[str, str], dict[tuple[str, int], float]]:
    """Each transcript's MI quality, and each utterance's start (s) by (transcript, index)."""
    quality: dict[str, str] = {}
    stamps: dict[tuple[str, int], float] = {}
    with (data / SIMPLE_FILE).open(newline="", encoding="utf-8") as fh:
        for line in csv.DictReader(fh):
            quality[line["transcript_id"]] = line["mi_quality"]
            stamps[(line["transcript_id"], int(line["utterance_id"]))] = seconds(line["timestamp"])
    return quality, stamps


def utterance_labels(u: AnnomiUtterance, codes: Mapping[str, str]) -> Labels:
    """The labels the coder would give ``u`` if it coded ``codes`` (head -> class)."""
    if u.speaker == "therapist":
        return {k: none_to_null(codes[k]) for k in THERAPIST_CODES}
    return {"talk_type": codes["talk_type"], "disclosure": detect_disclosure(u.text)}


def gold_labels(sessions: Sequence[Session]) -> dict[tuple[str, int], Labels]:
    return {
        (s.transcript_id, u.index): utterance_labels(u, u.labels)
        for s in sessions
        for u in s.utterances
    }


def read_oof(main: Path, client: Path | None) -> dict[str, np.ndarray]:
    """Out-of-fold log-probs of every head (talk type from ``client``'s where given)."""
    from safetensors.numpy import load_file

    logp = load_file(str(main))
    if client is not None:
        logp["talk_type"] = load_file(str(client))["talk_type"]
    return logp


def oof_labels(
    sessions: Sequence[Session], logp: dict[str, np.ndarray], folds: int = 5
) -> dict[tuple[str, int], Labels]:
    """Labels from out-of-fold log-probs (one row per utterance of ``sessions``, in order),
    each fold decoded with offsets tuned on the other folds, as the CV scores them."""
    from assistant.coding.decode import decode
    from assistant.coding.labels import CLIENT_HEADS, HEADS, THERAPIST_HEADS
    from assistant.coding.train import build_dataset, by_speaker, grouped_folds, held_out_offsets

    data = build_dataset(sessions)
    for head, classes in HEADS.items():
        if logp[head].shape != (len(data), len(classes)):
            raise ValueError(f"{head}: log-probs of shape {logp[head].shape}, not this data's")
    heads = (*THERAPIST_HEADS, *CLIENT_HEADS)
    speakers = np.array(data.speakers)
    decoded: dict[str, np.ndarray] = {h: np.empty(len(data), dtype=object) for h in heads}
    splits = grouped_folds(data, folds)
    for k, (test_rows, offsets) in enumerate(held_out_offsets(data, logp, splits, heads)):
        print(f"decoded fold {k + 1}/{folds} (offsets tuned on the others)", file=sys.stderr)
        sub, _ = by_speaker(data, {h: v[test_rows] for h, v in logp.items()}, test_rows, heads)
        labels = decode(sub, offsets)
        for head in heads:
            want = "client" if head in CLIENT_HEADS else "therapist"
            decoded[head][test_rows[speakers[test_rows] == want]] = labels[head]
    rows = [(s.transcript_id, u) for s in sessions for u in s.utterances]  # data's order
    return {
        (tid, u.index): utterance_labels(u, {h: str(decoded[h][i]) for h in heads})
        for i, (tid, u) in enumerate(rows)
    }


def session_utterances(
    session: Session, stamps: dict[tuple[str, int], float], labels: LabelSource | None
) -> list[Utterance]:
    """The session's utterances with times from AnnoMI's stamps (labels None: to be coded)."""
    utts: list[Utterance] = []
    rows = session.utterances
    for i, row in enumerate(rows):
        start = stamps[(session.transcript_id, row.index)]
        nxt = stamps[(session.transcript_id, rows[i + 1].index)] if i + 1 < len(rows) else None
        spoken = max(len(row.text.split()) * 0.4, 0.6)
        end = start + (min(spoken, max(nxt - start, 0.3)) if nxt is not None else spoken)
        speaker: Speaker = "therapist" if row.speaker == "therapist" else "client"
        utts.append(
            Utterance(
                f"{row.index}",
                speaker,
                start,
                end,
                row.text,
                labels=None if labels is None else labels(session.transcript_id, row.index),
            )
        )
    return utts


def run_cues(session_id: str, utts: Sequence[Utterance]) -> list[tuple[Utterance, Event]]:
    """Every cue event the rules raise on ``utts``, with the utterance that raised it."""
    dialogue = DialogueStages(cues=CueOptions()).dialogue(session_id, times_estimated=False)
    out: list[tuple[Utterance, Event]] = []
    for u in utts:
        out.extend((u, e) for e in dialogue.process(u) if e["type"] == "cue")
    return out


def ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "-"


def print_agreement(
    coder_cues: set[CueKey],
    coder_shown: set[CueKey],
    gold_cues: set[CueKey],
) -> None:
    print("\nagreement with the experts' codes (same kind, same utterance):")
    print(
        f"{'kind':28s} {'coder':>6s} {'experts':>7s} {'precision':>9s} "
        f"{'shown':>6s} {'shown precision':>15s} {'recall':>6s}"
    )
    for kind in KINDS:
        mine = {c for c in coder_cues if c[2] == kind}
        shown = {c for c in coder_shown if c[2] == kind}
        theirs = {c for c in gold_cues if c[2] == kind}
        if not mine and not theirs:
            continue
        print(
            f"{kind:28s} {len(mine):6d} {len(theirs):7d} "
            f"{ratio(len(mine & theirs), len(mine)):>9s} {len(shown):6d} "
            f"{ratio(len(shown & theirs), len(shown)):>15s} "
            f"{ratio(len(mine & theirs), len(theirs)):>6s}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", choices=("gold", "coder", "oof"), default="gold")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--oof", type=Path, help="out-of-fold log-probs (--labels oof)")
    parser.add_argument(
        "--client-oof", type=Path, help="the client model's out-of-fold log-probs (talk type)"
    )
    args = parser.parse_args()
    if args.labels == "oof" and args.oof is None:
        parser.error("--labels oof needs --oof FILE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    quality, stamps = read_stamps(args.data)
    sessions = load_annomi(args.data)
    gold = gold_labels(sessions)
    stage = None
    source: dict[tuple[str, int], Labels] | None = gold
    if args.labels == "coder":
        from assistant.coding import load_coder
        from assistant.cues.coding_stage import CoderStage

        stage, source = CoderStage(load_coder()), None
    elif args.labels == "oof":
        source = oof_labels(sessions, read_oof(args.oof, args.client_oof))
    raised: dict[str, Counter[str]] = defaultdict(Counter)
    shown: dict[str, Counter[str]] = defaultdict(Counter)
    therapist_turns: Counter[str] = Counter()
    judgmental_examples: list[str] = []
    coder_cues: set[CueKey] = set()
    coder_shown: set[CueKey] = set()
    gold_cues: set[CueKey] = set()
    for session in sessions:
        tid, q = session.transcript_id, quality[session.transcript_id]
        utts = session_utterances(
            session, stamps, None if source is None else lambda t, i: dict(source[(t, i)])
        )
        if stage is not None:
            stage.annotate_all(utts)
        for u, e in run_cues(tid, utts):
            raised[q][e["kind"]] += 1
            shown[q][e["kind"]] += e["shown"]
            key = (tid, str(u.id), str(e["kind"]))
            coder_cues.add(key)
            if e["shown"]:
                coder_shown.add(key)
            if e["kind"] == "judgmental_language":
                from assistant.cues.wording import judgmental_phrase

                phrase = judgmental_phrase(u.text)
                judgmental_examples.append(f'[{q}] "{phrase}" in: {u.text[:100]}')
        if args.labels != "gold":
            expert = session_utterances(session, stamps, lambda t, i: dict(gold[(t, i)]))
            gold_cues.update((tid, str(u.id), str(e["kind"])) for u, e in run_cues(tid, expert))
        therapist_turns[q] += sum(u.speaker == "therapist" for u in utts)
    print(f"AnnoMI training part, {len(sessions)} transcripts, labels: {args.labels}")
    print("cues per 100 therapist utterances, raised (shown):")
    print(f"{'kind':28s} {'high quality':>16s} {'low quality':>16s}")
    for kind in KINDS:
        cells = []
        for q in ("high", "low"):
            n = therapist_turns[q] / 100
            cells.append(f"{raised[q][kind] / n:6.2f} ({shown[q][kind] / n:5.2f})")
        print(f"{kind:28s} {cells[0]:>16s} {cells[1]:>16s}")
    print(f"therapist utterances: high {therapist_turns['high']}, low {therapist_turns['low']}")
    print(f"judgmental_language fired {len(judgmental_examples)} times:")
    for example in judgmental_examples[:10]:
        print("  ", example)
    if args.labels != "gold":
        print_agreement(coder_cues, coder_shown, gold_cues)


if __name__ == "__main__":
    main()
