"""Receipts owed for newly recorded submissions (written with the submission, marked done).

Created only if missing: a database made by nianbao before migrations covered it already has it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "receipts_due" not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table(
            "receipts_due",
            sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), primary_key=True),
            sa.Column("done_at", sa.DateTime),
        )


def downgrade() -> None:
    op.drop_table("receipts_due")
