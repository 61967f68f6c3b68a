"""Users, passwords and assistant assignments."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from assistant.store.errors import AlreadyExistsError, NotFoundError
from assistant.store.models import AssignmentRow, UserRow
from assistant.store.records import ROLES, Role, User
from assistant.store.sql_base import SqlBase, one_of, utc_now


class UsersMixin(SqlBase):
    """Users, passwords and assistant assignments."""

    # -- users -------------------------------------------------------------------------------

    def add_user(self, username: str, role: Role, password: str) -> User:
        username = username.strip()
        if not username:
            raise ValueError("a user name must not be empty")
        one_of(role, ROLES, "role")
        row = UserRow(
            username=username,
            role=role,
            password_hash=self._passwords.hash(password),
            created_at=utc_now(),
            disabled=False,
        )
        try:
            with self._writing() as s:
                s.add(row)
                s.flush()
                return self._user(row)
        except IntegrityError:
            raise AlreadyExistsError(f"the user name {username!r} is taken") from None

    def verify_password(self, username: str, password: str) -> User | None:
        """The user when the password is right and the account enabled, else None."""
        with self._reading() as s:
            row = s.scalars(select(UserRow).where(UserRow.username == username)).one_or_none()
        if row is None:
            self._passwords.waste_time(password)
            return None
        if not self._passwords.check(row.password_hash, password) or row.disabled:
            return None
        if self._passwords.needs_rehash(row.password_hash):
            self._set_hash(row.id, self._passwords.hash(password))
        return self._user(row)

    def _set_hash(self, user_id: int, password_hash: str) -> None:
        with self._writing() as s:
            done = s.execute(
                update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash)
            )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no user {user_id}")

    def set_password(self, user_id: int, password: str) -> None:
        self._set_hash(user_id, self._passwords.hash(password))

    def set_user_disabled(self, user_id: int, disabled: bool) -> None:
        with self._writing() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFoundError(f"no user {user_id}")
            row.disabled = disabled

    def get_user(self, user_id: int) -> User | None:
        with self._reading() as s:
            row = s.get(UserRow, user_id)
            return None if row is None else self._user(row)

    def get_user_by_name(self, username: str) -> User | None:
        with self._reading() as s:
            row = s.scalars(select(UserRow).where(UserRow.username == username)).one_or_none()
            return None if row is None else self._user(row)

    def list_users(self, role: Role | None = None) -> list[User]:
        query = select(UserRow).order_by(UserRow.id)
        if role is not None:
            query = query.where(UserRow.role == one_of(role, ROLES, "role"))
        with self._reading() as s:
            return [self._user(r) for r in s.scalars(query)]

    def assign_assistant(self, assistant_id: int, therapist_id: int) -> None:
        """Let an assistant monitor a therapist's sessions (idempotent)."""
        with self._writing() as s:
            self._need_role(s, assistant_id, "assistant")
            self._need_role(s, therapist_id, "therapist")
            if s.get(AssignmentRow, (assistant_id, therapist_id)) is None:
                s.add(
                    AssignmentRow(
                        assistant_id=assistant_id, therapist_id=therapist_id, created_at=utc_now()
                    )
                )

    def unassign_assistant(self, assistant_id: int, therapist_id: int) -> None:
        with self._writing() as s:
            s.execute(
                delete(AssignmentRow).where(
                    AssignmentRow.assistant_id == assistant_id,
                    AssignmentRow.therapist_id == therapist_id,
                )
            )

    def therapists_of(self, assistant_id: int) -> list[User]:
        query = (
            select(UserRow)
            .join(AssignmentRow, AssignmentRow.therapist_id == UserRow.id)
            .where(AssignmentRow.assistant_id == assistant_id)
            .order_by(UserRow.id)
        )
        with self._reading() as s:
            return [self._user(r) for r in s.scalars(query)]

    def assistants_of(self, therapist_id: int) -> list[User]:
        query = (
            select(UserRow)
            .join(AssignmentRow, AssignmentRow.assistant_id == UserRow.id)
            .where(AssignmentRow.therapist_id == therapist_id)
            .order_by(UserRow.id)
        )
        with self._reading() as s:
            return [self._user(r) for r in s.scalars(query)]
