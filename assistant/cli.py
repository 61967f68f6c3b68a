"""The `attune` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from assistant import logs
from assistant.errors import AttuneError
from assistant.eventloop import EVENT_LOOPS, default_loop

if TYPE_CHECKING:
    from assistant.dialogue import DialogueStages
    from assistant.server.security import SecurityOptions

log = logging.getLogger("attune")


def sample_dialogue() -> Path:
    """The bundled sample dialogue (a short, invented counselling conversation)."""
    return Path(str(resources.files("assistant").joinpath("samples/dialogue.jsonl")))


def _analyze_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "analyze",
        help="transcribe and code a recorded or written session into JSON-lines events",
        description=(
            "Analyse recordings (one audio file per speaker, aligned in time; anything FFmpeg "
            "decodes) or a written dialogue (JSON lines) and write the events (utterances, "
            "cues, summary) as JSON lines."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--transcript", type=Path, help="written dialogue, JSON lines")
    src.add_argument("--therapist", type=Path, help="the therapist's recording")
    src.add_argument("--sample", action="store_true", help="analyse the bundled sample dialogue")
    p.add_argument("--client", type=Path, help="the client's recording (with --therapist)")
    p.add_argument("--out", type=Path, help="output file (default: standard output)")
    p.add_argument("--session", help="session id for the events (default: the input's name)")
    p.add_argument(
        "--asr-model",
        default="tiny.en",
        help="faster-whisper model name or local CTranslate2 folder (default: the bundled "
        "English-only tiny.en; other names may be downloaded by faster-whisper)",
    )
    p.add_argument("--beam-size", type=int, default=5, help="beam size of the recogniser")
    p.add_argument(
        "--max-hours",
        type=float,
        default=4.0,
        help="refuse recordings longer than this many hours (default 4)",
    )
    _cue_arguments(p)
    p.add_argument(
        "--planned-minutes",
        type=float,
        help="the session's agreed length, for the time_check cue",
    )
    p.add_argument("--threads", type=int, default=2, help="CPU threads for the recogniser")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _cue_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-cues", action="store_true", help="transcribe only: no coding, no cues")
    p.add_argument(
        "--cues-off",
        default="",
        metavar="KIND,...",
        help="cue kinds never shown (still raised, with shown=false); see docs/cues.md",
    )
    p.add_argument(
        "--cue-interval",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="at most one shown cue in this many seconds (default 20)",
    )


def build_stages(args: argparse.Namespace) -> DialogueStages:
    """The dialogue stages the command line asked for: the cue coder and rules, unless
    --no-cues."""
    from assistant.cues.catalog import KINDS, CueOptions
    from assistant.dialogue import DialogueStages

    if args.no_cues:
        return DialogueStages()
    off = frozenset(k.strip() for k in args.cues_off.split(",") if k.strip())
    unknown = sorted(off - set(KINDS))
    if unknown:
        raise AttuneError(f"unknown cue kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    if args.cue_interval < 0:
        raise AttuneError("--cue-interval must not be negative")
    from assistant.coding import CoderWeightsError, load_coder
    from assistant.cues.coding_stage import CoderStage

    try:
        coder = load_coder()
    except CoderWeightsError as exc:
        raise AttuneError(str(exc)) from exc
    import torch

    # One utterance at a time: a second thread only contends with Whisper for the 2 cores
    # (measured: 10-25 ms per utterance on 1 thread, about 0.5 s on 2 when the machine is busy).
    torch.set_num_threads(1)
    return DialogueStages(
        annotators=[CoderStage(coder)],
        cues=CueOptions(min_interval_s=args.cue_interval, disabled=off),
    )


def _analyze(args: argparse.Namespace) -> int:
    from assistant.analyze import analyze_audio, analyze_transcript, write_events

    stages = build_stages(args)
    progress = not args.no_progress
    if args.therapist is not None:
        if args.client is None:
            raise AttuneError("--therapist needs --client (one recording per speaker)")
        if not args.max_hours > 0:
            raise AttuneError("--max-hours must be positive")
        from assistant.speech.asr import AsrOptions, WhisperTranscriber

        transcriber = WhisperTranscriber(
            AsrOptions(model=args.asr_model, beam_size=args.beam_size, cpu_threads=args.threads)
        )
        session = args.session or args.therapist.stem
        events = analyze_audio(
            args.therapist,
            args.client,
            session,
            transcriber,
            stages,
            progress=progress,
            planned_minutes=args.planned_minutes,
            max_hours=args.max_hours,
        )
    else:
        if args.client is not None:
            raise AttuneError("--client goes with --therapist, not with --transcript")
        path = sample_dialogue() if args.sample else args.transcript
        events = analyze_transcript(
            path,
            args.session or path.stem,
            stages,
            progress=progress,
            planned_minutes=args.planned_minutes,
        )
    write_events(events, args.out)
    if args.out is not None:
        print(f"attune: wrote {len(events)} events to {args.out}", file=sys.stderr)
    return 0


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the live session server (WebRTC relay, transcription, therapist panel)",
        description="Run the live session server on the embedded defaults: SQLite records in "
        "--data, the bundled speech and cue models.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="STUN or TURN server for WebRTC (repeatable; none by default). TURN credentials "
        "come from --turn-username and --turn-credential",
    )
    p.add_argument("--turn-username", help="username for the TURN servers")
    p.add_argument("--turn-credential", help="credential for the TURN servers")
    _store_arguments(p)
    p.add_argument(
        "--secure-cookies",
        action="store_true",
        help="mark login cookies Secure (when a TLS reverse proxy serves Attune over HTTPS)",
    )
    _security_arguments(p)
    p.add_argument(
        "--consent-text",
        type=Path,
        metavar="FILE",
        help="the consent text both people see before transcription (UTF-8 text file)",
    )
    p.add_argument("--asr-model", default="tiny.en", help="faster-whisper model (see analyze)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for the recogniser")
    p.add_argument(
        "--alert-silent-mic",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="the monitor alerts when a connected microphone carries no sound this long "
        "(default 30)",
    )
    p.add_argument(
        "--max-live-sessions",
        type=int,
        default=0,
        metavar="N",
        help="sessions running at once; a new one waits until one ends (default 0: no fixed "
        "limit; a server that had to drop a running session's audio refuses new ones for a "
        "minute either way). `attune loadtest` measures what this machine holds",
    )
    p.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        default=default_loop(),
        help="uvloop (the default where installed: drains busy UDP sockets) or Python's "
        "own asyncio loop",
    )
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="server log lines as text, or as JSON objects for a log collector (default text)",
    )
    _cue_arguments(p)


def _security_arguments(p: argparse.ArgumentParser) -> None:
    from assistant.server.security import SecurityOptions

    d = SecurityOptions()
    p.add_argument("--certfile", type=Path, help="serve HTTPS: the certificate chain (PEM)")
    p.add_argument("--keyfile", type=Path, help="the certificate's private key (PEM)")
    p.add_argument(
        "--forwarded-allow-ips",
        default=d.forwarded_allow_ips,
        metavar="IPS",
        help="reverse proxies whose X-Forwarded-Proto/-For are believed (comma-separated, or "
        f"'*'; default {d.forwarded_allow_ips})",
    )
    p.add_argument(
        "--max-open-sessions",
        type=int,
        default=d.max_open_sessions,
        metavar="N",
        help=f"open sessions per therapist (default {d.max_open_sessions}; 0: no limit)",
    )
    p.add_argument(
        "--api-rate",
        type=int,
        default=d.api_rate_per_minute,
        metavar="PER_MINUTE",
        help="JSON API requests per minute per login or address (default "
        f"{d.api_rate_per_minute}, bursts of {d.api_burst}; 0: no limit)",
    )


def _security_options(args: argparse.Namespace) -> SecurityOptions:
    from assistant.server.security import SecurityOptions

    if (args.certfile is None) != (args.keyfile is None):
        raise AttuneError("--certfile and --keyfile go together")
    for path in (args.certfile, args.keyfile):
        if path is not None and not path.is_file():
            raise AttuneError(f"{path}: no such file")
    if args.max_open_sessions < 0 or args.api_rate < 0:
        raise AttuneError("--max-open-sessions and --api-rate must not be negative")
    return SecurityOptions(
        certfile=args.certfile,
        keyfile=args.keyfile,
        forwarded_allow_ips=args.forwarded_allow_ips,
        api_rate_per_minute=args.api_rate,
        max_open_sessions=args.max_open_sessions,
    )


def _store_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("ATTUNE_DATA", "attune-data")),
        help="data folder: SQLite records, the content key, recorded audio (default "
        "./attune-data, or ATTUNE_DATA); created private to this user",
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("ATTUNE_DATABASE_URL"),
        help="PostgreSQL instead of SQLite, e.g. postgresql://attune@/attune (or "
        "ATTUNE_DATABASE_URL); the key and audio stay in --data",
    )


def _serve(args: argparse.Namespace) -> int:
    from aiortc import RTCIceServer

    from assistant.live.health import Thresholds
    from assistant.live.room import LiveOptions
    from assistant.server.app import ServeConfig
    from assistant.server.run import serve
    from assistant.speech.asr import LIVE_WINDOW_S, AsrOptions

    if args.max_live_sessions < 0:
        raise AttuneError("--max-live-sessions must not be negative")
    servers = []
    for url in args.ice_server:
        if not url.startswith(("stun:", "turn:", "turns:")):
            raise AttuneError(f"--ice-server {url!r}: expected a stun:, turn: or turns: URL")
        if url.startswith("turn"):
            servers.append(
                RTCIceServer(urls=url, username=args.turn_username, credential=args.turn_credential)
            )
        else:
            servers.append(RTCIceServer(urls=url))
    config = ServeConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data,
        database_url=args.database_url,
        secure_cookies=args.secure_cookies,
        security=_security_options(args),
        max_live_sessions=args.max_live_sessions,
        live=LiveOptions(
            ice_servers=tuple(servers),
            thresholds=Thresholds(silent_mic_s=args.alert_silent_mic),
        ),
    )
    if args.consent_text is not None:
        try:
            text = args.consent_text.read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise AttuneError(f"{args.consent_text}: cannot be read as UTF-8 text ({exc})") from exc
        if not text:
            raise AttuneError(f"{args.consent_text}: the consent text is empty")
        config.consent_text = text
    # Whisper's encoder dominates a short segment's cost, so beam 5 on finals costs little;
    # interims are greedy (AsrOptions.interim_beam_size)
    asr = AsrOptions(model=args.asr_model, cpu_threads=args.threads, segment_window_s=LIVE_WINDOW_S)
    return serve(config, asr, build_stages(args), event_loop=args.event_loop)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attune", description="Attune: a self-hosted telehealth session assistant."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    _analyze_parser(sub)
    _serve_parser(sub)
    from assistant import admin_cli

    admin_cli.add_parsers(sub, _store_arguments)
    sub.add_parser(
        "train-cues",
        help="train the utterance coder on AnnoMI and write its weights and model card",
        add_help=False,
    )
    sub.add_parser(
        "score-cues",
        help="score the utterance coder against expert codes (AnnoMI-format CSV files)",
        add_help=False,
    )
    sub.add_parser(
        "export",
        help="export a stored session: SESSION --format vtt|jsonl|csv|html [--out FILE]",
        add_help=False,
    )
    from assistant import loadtest

    loadtest.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train-cues"]:  # the trainer parses its own options
        from assistant.coding.train import main as train_main

        return train_main(argv[1:])
    if argv[:1] == ["score-cues"]:  # so does the coder's scorer
        from assistant.coding.evaluate import main as score_main

        return score_main(argv[1:])
    if argv[:1] == ["export"]:  # so does the exporter
        from assistant.reports.cli import main as export_main

        return export_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(verbose=args.verbose, json_lines=getattr(args, "log_format", "") == "json")
    if not args.verbose:
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    try:
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "loadtest":
            from assistant import loadtest

            return loadtest.main_args(args)
        if hasattr(args, "run"):
            from assistant import admin_cli

            admin_cli.check(args)
            return int(args.run(args))
    except AttuneError as exc:
        print(f"attune: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attune: interrupted; no output written", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2
