"""Benchmark: how much the cue coder's scores drop on speech against the same dialogues as text.

    .venv/bin/python bench/coder_on_speech.py --transcripts 4 --turns 40

Takes the first turns of a few AnnoMI training transcripts, speaks them with espeak-ng (one
voice per speaker, one file per speaker), runs them through `attune analyze`'s audio path
(VAD, Whisper tiny.en, the coder), matches each spoken turn to the utterance that overlaps it
most, and scores the coder's labels against the experts' on text and on speech. The coder was
trained on these transcripts, so the absolute scores flatter it: read the drop, not the level.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.analyze import analyze_audio  # noqa: E402
from assistant.coding import load_coder  # noqa: E402
from assistant.coding.data import load_annomi  # noqa: E402
from assistant.coding.metrics import FLOORS, score  # noqa: E402
from assistant.cues.coding_stage import CoderStage  # noqa: E402
from assistant.dialogue import DialogueStages  # noqa: E402
from assistant.events import Speaker, Utterance  # noqa: E402
from assistant.speech.asr import WhisperTranscriber  # noqa: E402
from assistant.testing.scoring import word_error_rate  # noqa: E402
from assistant.testing.synth import synth_dialogue  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "annomi"
HEADS = {"therapist": ("behaviour", "question", "reflection", "input"), "client": ("talk_type",)}


def as_gold(value: object) -> str:
    return "none" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcripts", type=int, default=4)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument(
        "--offset", type=int, default=0, help="start the evenly spaced choice at this transcript"
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--pairs", type=Path, help="write each turn's text, what was heard and both codings (JSONL)"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sessions = load_annomi(args.data)
    step = max(1, len(sessions) // args.transcripts)
    chosen = sessions[args.offset :: step][: args.transcripts]
    coder_stage = CoderStage(load_coder())
    transcriber = WhisperTranscriber()
    gold: dict[str, list[str]] = {h: [] for hs in HEADS.values() for h in hs}
    on_text: dict[str, list[str]] = {h: [] for h in gold}
    on_speech: dict[str, list[str]] = {h: [] for h in gold}
    refs, hyps, missed = [], [], 0
    pairs: list[dict[str, object]] = []
    for session in chosen:
        rows = [u for u in session.utterances if u.text.strip()][: args.turns]
        with tempfile.TemporaryDirectory() as tmp:
            script: list[tuple[Speaker, str]] = [
                ("therapist" if u.speaker == "therapist" else "client", u.text) for u in rows
            ]
            therapist, client, turns = synth_dialogue(script, Path(tmp))
            events = analyze_audio(
                therapist,
                client,
                session.transcript_id,
                transcriber,
                DialogueStages(annotators=[coder_stage]),
                progress=False,
            )
        spoken = [e for e in events if e["type"] == "utterance"]
        written = [
            Utterance(str(i), speaker, t.start, t.end, u.text)
            for i, ((speaker, _), u, t) in enumerate(zip(script, rows, turns, strict=True))
        ]
        coder_stage.annotate_all(written)
        for row, turn, text_u in zip(rows, turns, written, strict=True):
            overlaps = [
                (min(turn.end, e["end"]) - max(turn.start, e["start"]), e)
                for e in spoken
                if e["speaker"] == row.speaker
            ]
            best = max(overlaps, key=lambda x: x[0], default=(0.0, None))
            heard = best[1] if best[0] > 0 else None
            missed += heard is None
            refs.append(row.text)
            hyps.append(heard["text"] if heard else "")
            for head in HEADS[row.speaker]:
                gold[head].append(row.labels[head])
                on_text[head].append(as_gold((text_u.labels or {}).get(head)))
                speech_labels = heard.get("labels", {}) if heard else {}
                on_speech[head].append(as_gold(speech_labels.get(head)) if heard else "missed")
            pairs.append(
                {
                    "transcript": session.transcript_id,
                    "speaker": row.speaker,
                    "text": row.text,
                    "heard": heard["text"] if heard else None,
                    "gold": {h: row.labels[h] for h in HEADS[row.speaker]},
                    "on_text": {h: (text_u.labels or {}).get(h) for h in HEADS[row.speaker]},
                    "on_speech": {h: speech_labels.get(h) for h in HEADS[row.speaker]},
                }
            )
        print(f"transcript {session.transcript_id}: {len(rows)} turns", file=sys.stderr)
    if args.pairs:
        args.pairs.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    text_scores, speech_scores = score(gold, on_text), score(gold, on_speech)
    wer = word_error_rate(" ".join(refs), " ".join(hyps))
    # a word heard but put in the wrong turn is an error here, not in the WER over all turns
    per_turn = sum(word_error_rate(r, h) for r, h in zip(refs, hyps, strict=True)) / len(refs)
    print(
        f"{len(refs)} turns from {len(chosen)} AnnoMI transcripts; speech WER {wer:.3f} "
        f"(per turn, mean: {per_turn:.3f}); {missed} turns not heard"
    )
    print(f"{'metric':24s} {'text':>6s} {'speech':>7s} {'drop':>6s}")
    for metric in FLOORS:
        t, s = text_scores[metric], speech_scores[metric]
        print(f"{metric:24s} {t:6.3f} {s:7.3f} {t - s:+6.3f}")


if __name__ == "__main__":
    main()
