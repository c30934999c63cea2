"""grants record whether an admin's authority made them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 18:00:00.000000

- ``grants.by_admin``: whether the grant was made with an admin's authority (an admin
  token of admin scope). Only such organisation grants open a restricted model; it was
  read from the granter's roles *now*, so promoting a publisher revived the grants they
  had made on a gated model once it became restricted, and demoting an admin ended
  every restricted grant they had made. Existing grants keep what they meant until now
  (the granter's current admin status).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("by_admin", sa.Boolean(), nullable=True))
    op.execute(
        "UPDATE grants SET by_admin = (SELECT users.is_admin FROM users "
        "WHERE users.id = grants.granted_by) WHERE granted_by IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_column("by_admin")
