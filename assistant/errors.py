"""Errors raised by Attune, each with a message a user can act on."""

from __future__ import annotations

from pathlib import Path


class AttuneError(Exception):
    """Base class of every error Attune raises on purpose."""


class InputError(AttuneError):
    """Bad input: names the file (and line, when there is one) and what is wrong."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")

    def __repr__(self) -> str:
        return f"InputError(path={self.path!r}, line={self.line!r}, reason={self.reason!r})"


class ModelLoadError(AttuneError):
    """A speech or text model could not be found or loaded."""
