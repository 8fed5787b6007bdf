"""Lineage and publishes: the sheet and cell of every indicator of a submission (with its
情况说明), and what each consolidation showed (变动情况 compares with the previous one).

Created only if missing: a database made between these tables' arrival and this migration
already has them.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "summary_cells" not in existing:
        op.create_table(
            "summary_cells",
            sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), primary_key=True),
            sa.Column("indicator", sa.String(8), primary_key=True),
            sa.Column("sheet", sa.String),
            sa.Column("cell", sa.String(16)),
            sa.Column("note", sa.Text),
        )
    if "publishes" not in existing:
        op.create_table(
            "publishes",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("period", sa.String(6), nullable=False),
            sa.Column("published_at", sa.DateTime, nullable=False),
            sa.Column("snapshot", sa.JSON, nullable=False),
        )
        op.create_index("ix_publish_period", "publishes", ["period", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_publish_period", table_name="publishes")
    op.drop_table("publishes")
    op.drop_table("summary_cells")
