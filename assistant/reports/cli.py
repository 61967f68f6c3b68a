"""``attune export SESSION --format vtt|jsonl|csv|html [--out FILE]
[--data DIR | --database-url URL]``: one session's stored events as a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast

from assistant.files import write_atomically
from assistant.reports import FORMATS, Format, ReportMeta, render

DEFAULT_DATA = "./attune-data"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attune export",
        description="Export one session's stored events: WebVTT transcript, JSON lines (as "
        "`attune analyze` writes them), CSV (one row per utterance) or a printable HTML "
        "report with charts.",
    )
    p.add_argument("session", metavar="SESSION", help="the session's id")
    p.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    p.add_argument("--out", type=Path, help="output file (default: standard output)")
    p.add_argument(
        "--data",
        type=Path,
        help=f"the data directory (SQLite store and content key; default {DEFAULT_DATA})",
    )
    p.add_argument(
        "--database-url",
        help="a PostgreSQL URL instead of the SQLite store; the content key is still read "
        "from the data directory's keys folder (or ATTUNE_CONTENT_KEY)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from assistant.store import StoreError, open_store

    data_dir = args.data if args.data is not None else Path(DEFAULT_DATA)
    if args.database_url is None and not (data_dir / "attune.db").is_file():
        print(f"attune export: error: no Attune store in {data_dir}", file=sys.stderr)
        return 2
    try:
        store = open_store(args.database_url or data_dir, data_dir=data_dir)
    except (StoreError, OSError, ValueError) as exc:
        print(f"attune export: error: cannot open the store: {exc}", file=sys.stderr)
        return 2
    try:
        record = store.get_session(args.session)
        if record is None:
            print(f"attune export: error: no session {args.session!r}", file=sys.stderr)
            return 2
        meta = ReportMeta(
            session_id=record.id,
            label=record.label,
            planned_minutes=record.planned_minutes,
            created_at=record.created_at,
            ended_at=record.ended_at,
        )
        fmt = cast(Format, args.format)
        rendered = render(fmt, store.events(record.id), meta)
        if args.out is None:
            sys.stdout.buffer.write(rendered.content)
            sys.stdout.flush()
        else:
            try:
                write_atomically(args.out, rendered.content)
            except OSError as exc:
                print(f"attune export: error: cannot write {args.out}: {exc}", file=sys.stderr)
                return 2
        store.audit("cli", "session.exported", record.id, {"format": fmt})
        if args.out is not None:
            print(f"attune export: wrote {args.out} ({fmt})", file=sys.stderr)
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
