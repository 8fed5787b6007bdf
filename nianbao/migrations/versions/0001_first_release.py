"""The first released schema (nianbao.store before migrations existed).

Databases made by that release have these tables and no ``alembic_version``; nianbao.schema
takes them as this revision. Frozen: never edit, add a revision instead.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("file_name", sa.String, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("township_code", sa.String, nullable=False),
        sa.Column("township_name", sa.String, nullable=False),
        sa.Column("period", sa.String(6), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("fill_date", sa.Date),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.Column("warning_count", sa.Integer, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("ledger_rows", sa.Integer, nullable=False),
        sa.Column("ledger_amount", sa.String(40)),
        sa.UniqueConstraint("sha256", "township_code", "period", name="uq_submission_file"),
        sa.CheckConstraint("status IN ('accepted', 'rejected', 'unreadable')", name="ck_submission_status"),
    )
    op.create_index("ix_submission_period_township", "submissions", ["period", "township_code", "received_at"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("period", sa.String(6), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        *(sa.Column(name, sa.Integer) for name in
          ("expected", "received", "valid", "on_time", "late", "sent_back", "missing", "findings")),
    )
    op.create_index("ix_runs_period", "runs", ["period"])
    op.create_table(
        "summary_values",
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), primary_key=True),
        sa.Column("indicator", sa.String(8), primary_key=True),
        sa.Column("value", sa.String(40), nullable=False),
    )
    op.create_table(
        "roster_units",
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), primary_key=True),
        sa.Column("row", sa.Integer, primary_key=True),
        sa.Column("uscc", sa.String),
        sa.Column("name", sa.String),
    )
    op.create_index("ix_roster_units_uscc", "roster_units", ["uscc"])
    op.create_table(
        "current_returns",
        sa.Column("township_code", sa.String, primary_key=True),
        sa.Column("period", sa.String(6), primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False, unique=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_current_period", "current_returns", ["period"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("township_code", sa.String, nullable=False),
        sa.Column("period", sa.String(6), nullable=False),
        sa.Column("decision", sa.String(4), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_by", sa.String, nullable=False),
        sa.Column("decided_at", sa.DateTime, nullable=False),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id")),
        sa.CheckConstraint("decision IN ('通过', '退回')", name="ck_decision_value"),
    )
    op.create_index("ix_decision_period_township", "decisions", ["period", "township_code", "decided_at"])


def downgrade() -> None:
    for table in ("decisions", "current_returns", "roster_units", "summary_values", "runs", "submissions"):
        op.drop_table(table)
