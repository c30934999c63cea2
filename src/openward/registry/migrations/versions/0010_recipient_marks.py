"""recipient marks: a model's watermark setting, and each grant's marked copies

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00.000000

``models.watermark``: ``none`` (the default) or ``per-recipient`` (each grantee downloads
a copy whose weights carry a mark of their grant, produced as the download streams).

``recipient_copies``: what one grant's copy of one version is (the SHA-256 of each
marked file, the copy's manifest digest, the registry-signed OMS bundle over it),
computed once; ``recipient_files``: each marked file by its SHA-256 with the SHA-256 of
the published file it marks, so `openward check` relates a copy on disk to its version.
No marked bytes are stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("watermark", sa.String(length=20), nullable=False, server_default="none")
        )
    op.create_table(
        "recipient_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bundle", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("grant_id", "version_id"),
    )
    with op.batch_alter_table("recipient_copies", schema=None) as batch_op:
        batch_op.create_index("ix_recipient_copies_version_id", ["version_id"], unique=False)
        batch_op.create_index("ix_recipient_copies_digest", ["digest"], unique=False)
    op.create_table(
        "recipient_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("copy_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("original", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["copy_id"], ["recipient_copies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("recipient_files", schema=None) as batch_op:
        batch_op.create_index("ix_recipient_files_copy_id", ["copy_id"], unique=False)
        batch_op.create_index("ix_recipient_files_sha256", ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recipient_files", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_files_sha256")
        batch_op.drop_index("ix_recipient_files_copy_id")
    op.drop_table("recipient_files")
    with op.batch_alter_table("recipient_copies", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_copies_digest")
        batch_op.drop_index("ix_recipient_copies_version_id")
    op.drop_table("recipient_copies")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("watermark")
