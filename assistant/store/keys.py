"""Where the content key comes from: ``ATTUNE_CONTENT_KEY`` or ``DATA/keys/content.key``."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from assistant.store.crypto import KEY_BYTES, key_id
from assistant.store.errors import ContentKeyError

KEY_ENV = "ATTUNE_CONTENT_KEY"
KEY_FILE = Path("keys") / "content.key"


def decode_key(text: str, where: str) -> bytes:
    """Decode a base64 (standard or URL-safe) 32-byte key."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ContentKeyError(f"{where}: the content key is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise ContentKeyError(
            f"{where}: the content key must decode to {KEY_BYTES} bytes, not {len(raw)}"
        )
    return raw


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) private to the service user (0700)."""
    existed = path.is_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not existed:
        os.chmod(path, 0o700)


def _create_key_file(path: Path) -> None:
    make_private_dir(path.parent)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (encode_key(secrets.token_bytes(KEY_BYTES)) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic, and never replaces a key another process just made
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def load_key(data_dir: Path | None, expected_key_id: str | None) -> bytes:
    """The content key, creating ``DATA/keys/content.key`` (0600) for a new database.

    ``expected_key_id`` is the fingerprint the database was written with (None for a new
    database). A key is only created when the database holds no content yet.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        key = decode_key(env, KEY_ENV)
        where = KEY_ENV
    else:
        if data_dir is None:
            raise ContentKeyError(
                f"no content key: set {KEY_ENV} (base64 of {KEY_BYTES} random bytes) or give "
                "a data directory whose keys/content.key holds it"
            )
        path = data_dir / KEY_FILE
        where = str(path)
        if not path.exists():
            if expected_key_id is not None:
                raise ContentKeyError(
                    f"the database was encrypted with content key {expected_key_id}, but "
                    f"{path} does not exist and {KEY_ENV} is not set: restore the key file"
                )
            _create_key_file(path)
        key = decode_key(path.read_text("ascii"), where)
    if expected_key_id is not None and key_id(key) != expected_key_id:
        raise ContentKeyError(
            f"{where} holds content key {key_id(key)}, but the database was encrypted with "
            f"key {expected_key_id}: use the original key"
        )
    return key
