"""Alembic environment: runs simhost's migrations against the URL given by `simhost db upgrade`."""

from __future__ import annotations

# the model modules register their tables on Base.metadata
import simhost.delivery.models
import simhost.registry.models
import simhost.sending.models  # noqa: F401
from alembic import context
from simhost.db import make_engine
from simhost.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no database URL given to alembic")
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
