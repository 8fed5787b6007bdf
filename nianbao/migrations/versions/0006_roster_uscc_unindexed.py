"""Roster units without the USCC index: storing a night's returns costs the same per return
however many are stored.

Every stored return adds ~100 roster rows with USCCs in random order; each batch of them landed
on pages all over ``ix_roster_units_uscc``, so the pages a batch rewrote grew with the history
(SQLite at 10 000 returns of 100 rows: 510 KiB written per return instead of 130). Its one
reader, the county duplicate check (``Store.roster_units(shared_only=True)``), reads one
period's current returns through the roster's primary key and groups their USCCs itself.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    indexes = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("roster_units")}
    if "ix_roster_units_uscc" in indexes:
        op.drop_index("ix_roster_units_uscc", table_name="roster_units")


def downgrade() -> None:
    op.create_index("ix_roster_units_uscc", "roster_units", ["uscc"])
