"""The event loop that `attune serve` and `attune loadtest` run on.

uvloop (libuv) is the default where it is installed: a relay spends its loop reading UDP
datagrams, and libuv reads up to 32 of a socket's queued datagrams each time the socket is
ready where asyncio's own loop reads one, so a busy relay drains its sockets instead of letting
media (and the ICE consent checks queued behind it) wait in the kernel. The standard loop stays
available (``--event-loop asyncio``) for comparison and for platforms without uvloop.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
EventLoop = Literal["uvloop", "asyncio"]
EVENT_LOOPS: tuple[EventLoop, ...] = ("uvloop", "asyncio")


def default_loop() -> EventLoop:
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def run(main: Coroutine[Any, Any, T], loop: EventLoop | None = None) -> T:
    """``asyncio.run(main)`` on the chosen loop (default: :func:`default_loop`)."""
    if (loop or default_loop()) == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
