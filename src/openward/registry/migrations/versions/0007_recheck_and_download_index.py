"""rechecks keep the verdict; a download index by (version, user, path)

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-06 17:30:00.000000

``versions.recheck_requested_at``: a rescan marks versions for a new check instead of
setting them to ``checking``, so they stay visible (and downloadable, if published)
under their last verdict until the new one replaces it.

``ix_downloads_version_user_path``: each download by a known user looks for that user's
earlier download of the same file in the last hour; with only ``version_id`` indexed,
that read every download of the version (quadratic over a many-file pull).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recheck_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("downloads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_downloads_version_user_path", ["version_id", "user_id", "path"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("downloads", schema=None) as batch_op:
        batch_op.drop_index("ix_downloads_version_user_path")
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.drop_column("recheck_requested_at")
