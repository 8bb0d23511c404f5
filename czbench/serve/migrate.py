"""Database engines, sessions and Alembic migrations (``czbench serve init``).

SQLite (the default: one file, one worker) and PostgreSQL (``postgresql+psycopg://...``,
several workers) are the two supported databases.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from czbench.errors import InputError

MIGRATIONS = Path(__file__).parent / "migrations"


def check_url(url: str) -> str:
    """``url`` if it names SQLite or PostgreSQL (psycopg 3), else a one-line error."""
    if not isinstance(url, str) or not url.startswith(("sqlite:///", "postgresql+psycopg://")):
        raise InputError(f"db: expected sqlite:///FILE or postgresql+psycopg://USER@HOST/DB, "
                         f"got {url!r}")
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite waits up to 30 s for a lock and runs in WAL mode."""
    check_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=20, max_overflow=40)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def sessions(engine: Engine) -> sessionmaker[Session]:
    """The session factory of ``engine`` (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):  # noqa: ANN201 (alembic is imported lazily)
    """Alembic's configuration for ``url`` with czbench's migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", check_url(url).replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Create or migrate the database at ``url`` to the newest schema."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def check(url: str) -> None:
    """``alembic check``: raises when the tables differ from :mod:`czbench.serve.models`."""
    from alembic import command

    command.check(alembic_config(url))
