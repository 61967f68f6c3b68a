"""Encryption at rest of session content (AES-256-GCM, key kept outside the database).

Every encrypted value is ``MAGIC | key id (8 bytes) | nonce (12 bytes) | ciphertext+tag``.
The associated data binds a value to its place (table, session, row), so a ciphertext
copied into another row or session does not decrypt.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from assistant.store.errors import ContentKeyError

KEY_BYTES = 32
MAGIC = b"A1"
_NONCE = 12
_KEY_ID = 8


def key_id(key: bytes) -> str:
    """A short public fingerprint of ``key`` (it reveals nothing usable about the key)."""
    return hashlib.sha256(b"attune-content-key-id\x00" + key).hexdigest()[: 2 * _KEY_ID]


class ContentCipher:
    """Encrypts and decrypts content with one 256-bit key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ContentKeyError(f"the content key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)
        self.magic = MAGIC
        self._key_id_bytes = bytes.fromhex(self.key_id)

    def encrypt(self, plaintext: bytes, aad: str) -> bytes:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext, aad.encode("utf-8"))
        return MAGIC + self._key_id_bytes + nonce + sealed

    def decrypt(self, blob: bytes, aad: str) -> bytes:
        blob = bytes(blob)
        head = len(MAGIC) + _KEY_ID + _NONCE
        if len(blob) < head or not blob.startswith(MAGIC):
            raise ContentKeyError("stored content is not in Attune's encrypted format")
        stored_id = blob[len(MAGIC) : len(MAGIC) + _KEY_ID].hex()
        if stored_id != self.key_id:
            raise ContentKeyError(
                f"content was encrypted with content key {stored_id}, "
                f"but the loaded key is {self.key_id}: use the original key"
            )
        nonce = blob[len(MAGIC) + _KEY_ID : head]
        try:
            return self._aead.decrypt(nonce, blob[head:], aad.encode("utf-8"))
        except InvalidTag:
            raise ContentKeyError(
                "stored content failed authentication: it was altered or moved to another row"
            ) from None

    def encrypt_json(self, value: Any, aad: str) -> bytes:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return self.encrypt(text.encode("utf-8"), aad)

    def decrypt_json(self, blob: bytes, aad: str) -> Any:
        return json.loads(self.decrypt(blob, aad).decode("utf-8"))

    def encrypt_text(self, value: str, aad: str) -> bytes:
        return self.encrypt(value.encode("utf-8"), aad)

    def decrypt_text(self, blob: bytes, aad: str) -> str:
        return self.decrypt(blob, aad).decode("utf-8")
