"""Join links: token digests of the therapist's and the client's links, so that links keep
working across a restart of the server.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "join_links",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('therapist', 'client')", name=op.f("ck_join_links_role")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_join_links_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_join_links")),
    )
    op.create_index(op.f("ix_join_links_session_id"), "join_links", ["session_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_join_links_session_id"), table_name="join_links")
    op.drop_table("join_links")
