"""Administration commands: accounts, backup, retention.

attune user add --role therapist NAME        (password from a prompt, or --password-stdin)
attune user list | assign ASSISTANT THERAPIST | disable NAME | enable NAME | passwd NAME
attune backup DEST                           (a consistent copy of a running SQLite store)
attune purge --older-than 30d                (remove old sessions' content everywhere)
attune session delete SESSION_ID
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from datetime import timedelta
from pathlib import Path

from assistant.errors import AttuneError
from assistant.store import AlreadyExistsError, SqlStore, StoreError, backup, open_store
from assistant.store.records import ROLES

MIN_PASSWORD = 10


def open_from(args: argparse.Namespace) -> SqlStore:
    try:
        return open_store(args.database_url or args.data, data_dir=args.data)
    except StoreError as exc:
        raise AttuneError(f"the store could not be opened: {exc}") from exc


def read_password(args: argparse.Namespace, name: str) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        if not sys.stdin.isatty():
            raise AttuneError("no terminal to ask for a password: use --password-stdin")
        password = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("Again: ") != password:
            raise AttuneError("the two passwords differ")
    if len(password) < MIN_PASSWORD:
        raise AttuneError(f"the password must be at least {MIN_PASSWORD} characters")
    return password


def parse_age(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+)\s*([dhw])", text.strip())
    if not m:
        raise AttuneError(f"--older-than {text!r}: use a number and d, h or w (e.g. 30d)")
    n, unit = int(m.group(1)), m.group(2)
    return {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


def user_command(args: argparse.Namespace) -> int:
    store = open_from(args)
    try:
        if args.action == "add":
            if args.role not in ROLES:
                raise AttuneError(f"--role must be one of {', '.join(ROLES)}")
            password = read_password(args, args.name)
            try:
                user = store.add_user(args.name, args.role, password)
            except AlreadyExistsError as exc:
                raise AttuneError(f"a user called {args.name!r} already exists") from exc
            store.audit("cli", "user.added", None, {"user_id": user.id, "role": user.role})
            print(f"added {user.role} {user.username}", file=sys.stderr)
        elif args.action == "list":
            for user in store.list_users():
                state = " (disabled)" if user.disabled else ""
                print(f"{user.username}\t{user.role}{state}")
        elif args.action == "assign":
            assistant = store.get_user_by_name(args.name)
            therapist = store.get_user_by_name(args.therapist or "")
            if assistant is None or assistant.role != "assistant":
                raise AttuneError(f"{args.name!r} is not an assistant's account")
            if therapist is None or therapist.role != "therapist":
                raise AttuneError(f"{args.therapist!r} is not a therapist's account")
            store.assign_assistant(assistant.id, therapist.id)
            store.audit(
                "cli",
                "assistant.assigned",
                None,
                {"assistant_id": assistant.id, "therapist_id": therapist.id},
            )
            print(f"{assistant.username} now assists {therapist.username}", file=sys.stderr)
        elif args.action in ("disable", "enable", "passwd"):
            found = store.get_user_by_name(args.name)
            if found is None:
                raise AttuneError(f"no user called {args.name!r}")
            if args.action == "passwd":
                store.set_password(found.id, read_password(args, args.name))
            else:
                store.set_user_disabled(found.id, args.action == "disable")
            store.audit("cli", f"user.{args.action}", None, {"user_id": found.id})
            print(f"{args.action}: {found.username}", file=sys.stderr)
        return 0
    finally:
        store.close()


def backup_command(args: argparse.Namespace) -> int:
    store = open_from(args)
    try:
        dest = backup(store, args.dest)
    except StoreError as exc:
        raise AttuneError(str(exc)) from exc
    finally:
        store.close()
    print(
        f"backup written to {dest} (keep the key {args.data}/keys/content.key apart from it)",
        file=sys.stderr,
    )
    return 0


def purge_command(args: argparse.Namespace) -> int:
    age = parse_age(args.older_than)
    store = open_from(args)
    try:
        removed = store.purge(age, actor="cli")
    finally:
        store.close()
    print(f"purged {len(removed)} session(s) older than {args.older_than}", file=sys.stderr)
    return 0


def session_command(args: argparse.Namespace) -> int:
    store = open_from(args)
    try:
        if not store.delete_session(args.session, actor="cli"):
            raise AttuneError(f"no session {args.session!r}")
    finally:
        store.close()
    print(f"deleted session {args.session} and all its content", file=sys.stderr)
    return 0


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    store_arguments: object,
) -> None:
    add_store = store_arguments  # the same --data / --database-url as `attune serve`
    user = sub.add_parser("user", help="manage accounts (therapist, assistant, trainer, admin)")
    user.add_argument("action", choices=("add", "list", "assign", "disable", "enable", "passwd"))
    user.add_argument("name", nargs="?", help="the account's user name")
    user.add_argument("therapist", nargs="?", help="with assign: the therapist's user name")
    user.add_argument("--role", choices=ROLES, help="with add: the account's role")
    user.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of a prompt",
    )
    add_store(user)  # type: ignore[operator]
    user.set_defaults(run=user_command)
    b = sub.add_parser("backup", help="a consistent copy of the (running) SQLite store")
    b.add_argument("dest", type=Path, help="the copy's file name")
    add_store(b)  # type: ignore[operator]
    b.set_defaults(run=backup_command)
    p = sub.add_parser("purge", help="remove the content of sessions older than an age")
    p.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 30d, 12w, 48h")
    add_store(p)  # type: ignore[operator]
    p.set_defaults(run=purge_command)
    s = sub.add_parser("session", help="delete one session's content everywhere")
    s.add_argument("action", choices=("delete",))
    s.add_argument("session", help="the session id")
    add_store(s)  # type: ignore[operator]
    s.set_defaults(run=session_command)


def check(args: argparse.Namespace) -> None:
    if getattr(args, "command", None) == "user":
        if args.action != "list" and not args.name:
            raise AttuneError(f"attune user {args.action} needs a user name")
        if args.action == "add" and not args.role:
            raise AttuneError("attune user add needs --role")
        if args.action == "assign" and not args.therapist:
            raise AttuneError("attune user assign needs ASSISTANT THERAPIST")
