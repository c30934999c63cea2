"""takedowns that reach copies: which files identify a model, takedowns carried to
copies, and the exceptions an admin decides

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-14 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("version_files", schema=None) as batch_op:
        # None until classified: versions checked before this revision are classified
        # on first use (their stored blob's first bytes).
        batch_op.add_column(sa.Column("weight", sa.Boolean(), nullable=True))

    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("takedown_of", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_versions_takedown_of_versions", "versions", ["takedown_of"], ["id"]
        )

    op.create_table(
        "takedown_exemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("original_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["original_id"], ["versions.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version_id", "original_id"),
    )
    with op.batch_alter_table("takedown_exemptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_takedown_exemptions_version_id"), ["version_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_takedown_exemptions_original_id"), ["original_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("takedown_exemptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_takedown_exemptions_original_id"))
        batch_op.drop_index(batch_op.f("ix_takedown_exemptions_version_id"))
    op.drop_table("takedown_exemptions")
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_versions_takedown_of_versions", type_="foreignkey")
        batch_op.drop_column("takedown_of")
    with op.batch_alter_table("version_files", schema=None) as batch_op:
        batch_op.drop_column("weight")
