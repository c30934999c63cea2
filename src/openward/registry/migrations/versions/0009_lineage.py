"""lineage: a fingerprint per checked version, links to the versions it derives from,
and reviews of safety edits

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-10 12:00:00.000000

``fingerprints``: one row per checked version: the weight fingerprint (openward
fingerprint JSON, at most 256 KiB) and its 256-float index vector (float32 bytes), or,
for a version without fingerprintable weights, only a note saying why. ``id`` grows
with every row written, so a process's in-memory index catches up by reading the rows
after the last id it saw.

``lineage_links``: a version found identical to or derived from an earlier version of
another model (verdict, score, p-value, kind of derivation, the safety-edit evidence),
with the base model its card declares and whether that names another model;
``closer_to_id``: set when the version is nearer to that base's own base than to the base
(a sibling, not a derivative of it: no rule follows such a link).

``lineage_reviews``: a version held for review because its weights show a safety edit
(``needs-review``, a new version status: a string column), and the reviewer's decision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fingerprints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        # Last: SQLite reads a row's columns in order, so the index's reads of the vectors
        # never walk the fingerprint's overflow pages (PostgreSQL keeps it out of line).
        sa.Column("fingerprint", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version_id"),
    )
    op.create_table(
        "lineage_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column("derivation", sa.JSON(), nullable=False),
        sa.Column("safety_edit", sa.JSON(), nullable=True),
        sa.Column("declared_base", sa.JSON(), nullable=False),
        sa.Column("base_mismatch", sa.Boolean(), nullable=False),
        sa.Column("closer_to_id", sa.Integer(), nullable=True),
        sa.Column("tier_waived_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["base_version_id"], ["versions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["closer_to_id"], ["versions.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tier_waived_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version_id", "base_version_id"),
    )
    with op.batch_alter_table("lineage_links", schema=None) as batch_op:
        batch_op.create_index("ix_lineage_links_version_id", ["version_id"], unique=False)
        batch_op.create_index("ix_lineage_links_base_version_id", ["base_version_id"], unique=False)
    op.create_table(
        "lineage_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("held_status", sa.String(length=30), nullable=False),
        sa.Column("held_reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["base_version_id"], ["versions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lineage_reviews", schema=None) as batch_op:
        batch_op.create_index("ix_lineage_reviews_version_id", ["version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lineage_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_reviews_version_id")
    op.drop_table("lineage_reviews")
    with op.batch_alter_table("lineage_links", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_links_base_version_id")
        batch_op.drop_index("ix_lineage_links_version_id")
    op.drop_table("lineage_links")
    op.drop_table("fingerprints")
