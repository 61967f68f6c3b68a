"""Password hashing with Argon2id (argon2-cffi's RFC 9106 low-memory defaults)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    """Hashes and checks passwords; a failed lookup costs as much as a failed check."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        if not password:
            raise ValueError("a password must not be empty")
        return self.hasher.hash(password)

    def check(self, stored_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.hasher.check_needs_rehash(stored_hash)

    def waste_time(self, password: str) -> None:
        """Spend a check's time for an unknown user, so timing does not reveal user names."""
        if self._dummy is None:
            self._dummy = self.hasher.hash("attune-no-such-user")
        self.check(self._dummy, password)
