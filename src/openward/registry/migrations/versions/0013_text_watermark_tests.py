"""text watermark tests: each user's text tests of the last hour, for the hourly limit

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 16:00:00.000000

``text_watermark_tests``: one row per text test a user ran against a model's key (user,
model, when), counted against ``OPENWARD_TEXT_WATERMARK_TESTS_PER_HOUR`` by every API
replica alike. A user's rows older than an hour are removed when they test again; the
index on (user_id, at) finds a user's tests of the hour.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "text_watermark_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_text_watermark_tests_user_at", "text_watermark_tests", ["user_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_text_watermark_tests_user_at", table_name="text_watermark_tests")
    op.drop_table("text_watermark_tests")
