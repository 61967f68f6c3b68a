"""Errors raised by the session store, each with a message an operator can act on."""

from __future__ import annotations

from assistant.errors import AttuneError


class StoreError(AttuneError):
    """Base class of every error the store raises on purpose."""


class NotFoundError(StoreError):
    """A user or session the call names does not exist."""


class ContentKeyError(StoreError):
    """The content key is missing, malformed, or not the key the database was written with."""


class BackupNotSupportedError(StoreError):
    """The store's backend has its own backup tools (PostgreSQL: pg_dump)."""


class AlreadyExistsError(StoreError):
    """A user name or session id is already taken."""
