"""Roster details and per-return group totals (分组汇总, the return reported upward).

A database made by nianbao between the first release and migrations (create_all, no
alembic_version) may already have these tables: they are created only if missing, and on
PostgreSQL their group columns are widened to text (a rejected roster may hold any text).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    if "roster_details" not in existing:
        op.create_table(
            "roster_details",
            sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), primary_key=True),
            sa.Column("row", sa.Integer, primary_key=True),
            sa.Column("data", sa.JSON, nullable=False),
        )
    if "detail_totals" not in existing:
        op.create_table(
            "detail_totals",
            sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), primary_key=True),
            sa.Column("dimension", sa.String(16), primary_key=True),
            sa.Column("grp", sa.Text, primary_key=True),
            sa.Column("measure", sa.Text, primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    elif bind.dialect.name == "postgresql":
        for column in ("grp", "measure", "value"):
            op.alter_column("detail_totals", column, type_=sa.Text)


def downgrade() -> None:
    op.drop_table("detail_totals")
    op.drop_table("roster_details")
