"""Alembic environment. livedrop runs migrations itself (``web.migrate``) and hands over the
connection, already holding the migration lock; running ``alembic`` by hand is not needed."""

from alembic import context

from web.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for `alembic revision --autogenerate` in development
    import os

    from sqlalchemy import create_engine

    url = os.environ.get("LIVEDROP_ALEMBIC_URL", "sqlite:///livedrop-data/alembic-dev.sqlite3")
    connection = create_engine(url).connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
