"""signed safety audits attached to versions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 20:30:00.000000

``audits``: each signed audit attestation (predicate audit/v1) someone attached to a
version, after the registry checked its signature against a registered key and its
subject against the version's digest. ``needs-audit`` is a new version status (a
string column: no schema change).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("statement_sha256", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=False),
        sa.Column("bundle", sa.Text(), nullable=False),
        sa.Column("predicate", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["publisher_keys.id"]),
        sa.ForeignKeyConstraint(["submitted_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version_id", "statement_sha256"),
    )
    with op.batch_alter_table("audits", schema=None) as batch_op:
        batch_op.create_index("ix_audits_version_id", ["version_id"], unique=False)
        batch_op.create_index("ix_audits_statement_sha256", ["statement_sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audits", schema=None) as batch_op:
        batch_op.drop_index("ix_audits_statement_sha256")
        batch_op.drop_index("ix_audits_version_id")
    op.drop_table("audits")
