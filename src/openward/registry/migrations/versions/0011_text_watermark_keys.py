"""text watermark keys: the key a model's publisher registered for its generated text

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:00:00.000000

``text_watermark_keys``: at most one per model: its public identity (``key_id``,
``scheme``, ``tokenizer`` name, the vocabulary's SHA-256) and the key file, sealed
(``sealed``: a 12-byte nonce and the AES-256-GCM ciphertext of the key file's JSON,
under a key derived from the registry's secret, bound to the model and key id). The key
file is never returned by the API; texts are tested against it in the registry.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "text_watermark_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("scheme", sa.String(length=20), nullable=False),
        sa.Column("tokenizer", sa.String(length=200), nullable=False),
        sa.Column("vocab_sha256", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("registered_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["registered_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_id"),
    )


def downgrade() -> None:
    op.drop_table("text_watermark_keys")
