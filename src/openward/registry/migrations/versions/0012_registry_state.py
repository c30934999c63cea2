"""registry state: facts about the registry itself (the mark secret's fingerprint)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00.000000

``registry_state``: one row per named fact. ``mark-secret`` holds a fingerprint of the
secret per-recipient marks are keyed with (HMAC-SHA256 of a fixed label under the
secret), recorded the first time an API process reads the secret: a replica that reads
another secret (a lost or replaced ``registry-mark-secret``) refuses to start.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_state",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("registry_state")
