"""Concurrency and hostile values: unbounded decimals, pointer received time, decision seq,
run locks, indexes for unidentified() and decisions.submission_id (sha256 look-ups use the
unique index uq_submission_file, whose first column it is).

No table is rebuilt (SQLite would copy the whole history): new NOT NULL columns are added
with a placeholder default, filled from existing rows, and the default dropped on
PostgreSQL. SQLite does not enforce VARCHAR lengths, so only PostgreSQL's columns change type.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UNIDENTIFIED = "township_code = ''"


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.alter_column("summary_values", "value", type_=sa.Text, existing_nullable=False)
        op.alter_column("submissions", "ledger_amount", type_=sa.Text, existing_nullable=True)

    op.add_column("current_returns", sa.Column("received_at", sa.DateTime, nullable=False,
                                               server_default="1970-01-01 00:00:00"))
    op.execute(
        "UPDATE current_returns SET received_at = "
        "(SELECT s.received_at FROM submissions s WHERE s.id = current_returns.submission_id)"
    )

    op.add_column("decisions", sa.Column("seq", sa.Integer, nullable=False, server_default="0"))
    decisions = sa.table("decisions", sa.column("id", sa.Integer), sa.column("township_code", sa.String),
                         sa.column("period", sa.String), sa.column("decided_at", sa.DateTime), sa.column("seq", sa.Integer))
    rows = bind.execute(
        sa.select(decisions.c.id, decisions.c.township_code, decisions.c.period)
        .order_by(decisions.c.township_code, decisions.c.period, decisions.c.decided_at, decisions.c.id)
    ).all()
    seq: dict[tuple[str, str], int] = {}
    for row_id, township, period in rows:
        n = seq[(township, period)] = seq.get((township, period), -1) + 1
        if n:
            bind.execute(sa.update(decisions).where(decisions.c.id == row_id).values(seq=n))
    if postgres:
        op.alter_column("current_returns", "received_at", server_default=None)
        op.alter_column("decisions", "seq", server_default=None)

    op.create_index("uq_decision_seq", "decisions", ["township_code", "period", "seq"], unique=True)
    op.create_index("ix_decision_submission", "decisions", ["submission_id"])
    op.create_index("ix_submission_unidentified", "submissions", ["id"],
                    postgresql_where=sa.text(UNIDENTIFIED), sqlite_where=sa.text(UNIDENTIFIED))
    op.create_table(
        "run_locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("since", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_locks")
    for name in ("ix_submission_unidentified", "ix_decision_submission", "uq_decision_seq"):
        op.drop_index(name)
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("seq")
    with op.batch_alter_table("current_returns") as batch:
        batch.drop_column("received_at")
