"""Alembic environment: nianbao runs migrations on a connection it passes in (see nianbao.schema).

Developers can also run them by hand:
``python -c "from nianbao.store import open_store; open_store('URL')"`` upgrades to head.
"""

from alembic import context

from nianbao.store import Base

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("nianbao migrations run through nianbao.schema.upgrade_schema(engine)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
