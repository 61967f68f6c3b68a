"""Initial schema: users, assignments, sessions, consents, events, feedback, annotations,
audio files, audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "store_meta",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_store_meta")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "role IN ('therapist', 'assistant', 'trainer', 'admin')", name=op.f("ck_users_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "assistant_assignments",
        sa.Column("assistant_id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assistant_id"],
            ["users.id"],
            name=op.f("fk_assistant_assignments_assistant_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["users.id"],
            name=op.f("fk_assistant_assignments_therapist_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "assistant_id", "therapist_id", name=op.f("pk_assistant_assignments")
        ),
    )
    op.create_index(
        op.f("ix_assistant_assignments_therapist_id"),
        "assistant_assignments",
        ["therapist_id"],
        unique=False,
    )

    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "actor_user_id IS NOT NULL OR actor_label IS NOT NULL",
            name=op.f("ck_audit_log_actor_present"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_actor_user_id"), "audit_log", ["actor_user_id"], unique=False
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(
        op.f("ix_audit_log_session_id_at"), "audit_log", ["session_id", "at"], unique=False
    )

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.LargeBinary(), nullable=False),
        sa.Column("planned_minutes", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("record_audio", sa.Boolean(), nullable=False),
        sa.Column("shared_for_training", sa.Boolean(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["users.id"],
            name=op.f("fk_sessions_therapist_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_created_at"), "sessions", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_sessions_shared_for_training_created_at"),
        "sessions",
        ["shared_for_training", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sessions_therapist_id_created_at"),
        "sessions",
        ["therapist_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("utterance_id", sa.String(length=128), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('comment', 'label_correction')", name=op.f("ck_annotations_kind")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_annotations_author_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_annotations_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
    )
    op.create_index(op.f("ix_annotations_author_id"), "annotations", ["author_id"], unique=False)
    op.create_index(
        op.f("ix_annotations_session_id_utterance_id"),
        "annotations",
        ["session_id", "utterance_id"],
        unique=False,
    )

    op.create_table(
        "audio_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('therapist', 'client')", name=op.f("ck_audio_files_role")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_audio_files_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audio_files")),
    )
    op.create_index(op.f("ix_audio_files_session_id"), "audio_files", ["session_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agreed", sa.Boolean(), nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('therapist', 'client')", name=op.f("ck_consents_role")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_consents_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(
        op.f("ix_consents_session_id_role_id"),
        "consents",
        ["session_id", "role", "id"],
        unique=False,
    )

    op.create_table(
        "cue_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("cue_id", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "value IN ('dismissed', 'helpful', 'not_helpful')", name=op.f("ck_cue_feedback_value")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_cue_feedback_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_cue_feedback_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cue_feedback")),
    )
    op.create_index(
        op.f("ix_cue_feedback_session_id_cue_id"),
        "cue_feedback",
        ["session_id", "cue_id"],
        unique=False,
    )
    op.create_index(op.f("ix_cue_feedback_user_id"), "cue_feedback", ["user_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("utterance_id", sa.String(length=128), nullable=True),
        sa.Column("speaker", sa.String(length=16), nullable=True),
        sa.Column("start", sa.Float(), nullable=True),
        sa.Column("end", sa.Float(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_events_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "seq", name=op.f("pk_events")),
    )
    op.create_index(
        op.f("ix_events_session_id_utterance_id"),
        "events",
        ["session_id", "utterance_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_events_session_id_utterance_id"), table_name="events")

    op.drop_table("events")
    op.drop_index(op.f("ix_cue_feedback_user_id"), table_name="cue_feedback")
    op.drop_index(op.f("ix_cue_feedback_session_id_cue_id"), table_name="cue_feedback")

    op.drop_table("cue_feedback")
    op.drop_index(op.f("ix_consents_session_id_role_id"), table_name="consents")

    op.drop_table("consents")
    op.drop_index(op.f("ix_audio_files_session_id"), table_name="audio_files")

    op.drop_table("audio_files")
    op.drop_index(op.f("ix_annotations_session_id_utterance_id"), table_name="annotations")
    op.drop_index(op.f("ix_annotations_author_id"), table_name="annotations")

    op.drop_table("annotations")
    op.drop_index(op.f("ix_sessions_therapist_id_created_at"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_shared_for_training_created_at"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_created_at"), table_name="sessions")

    op.drop_table("sessions")
    op.drop_index(op.f("ix_audit_log_session_id_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor_user_id"), table_name="audit_log")

    op.drop_table("audit_log")
    op.drop_index(op.f("ix_assistant_assignments_therapist_id"), table_name="assistant_assignments")

    op.drop_table("assistant_assignments")
    op.drop_table("users")
    op.drop_table("store_meta")
