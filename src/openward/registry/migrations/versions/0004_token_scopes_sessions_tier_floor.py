"""token scopes, server-side web sessions, who set a model's access tier

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-14 10:00:00.000000

- ``tokens.scope``: the most a token may do (reader, reviewer, publisher, admin);
  NULL for tokens made before scopes existed (they keep all of their user's rights).
- ``web_sessions``: one row per browser session, ended on sign-out.
- ``models.access_tier_set_by`` / ``models.access_tier_floor``: who set the tier,
  and the tier an admin set (publishers may not loosen a model below it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=20), nullable=True))

    op.create_table(
        "web_sessions",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["tokens.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_web_sessions_expires_at"), ["expires_at"], unique=False
        )

    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_tier_set_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("access_tier_floor", sa.String(length=20), nullable=True))
        batch_op.create_foreign_key(
            "fk_models_access_tier_set_by_users", "users", ["access_tier_set_by"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_constraint("fk_models_access_tier_set_by_users", type_="foreignkey")
        batch_op.drop_column("access_tier_floor")
        batch_op.drop_column("access_tier_set_by")

    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_expires_at"))
    op.drop_table("web_sessions")

    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("scope")
