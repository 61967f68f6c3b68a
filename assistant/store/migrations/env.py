"""Alembic environment: migrates the connection ``migrate.upgrade`` hands over, else the URL
in the Alembic config (``alembic -c ... upgrade head`` for developers)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from assistant.store.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if isinstance(given, Connection):
    _run(given)
elif context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(str(config.get_main_option("sqlalchemy.url")))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
