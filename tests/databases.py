"""Database URLs for tests: a SQLite file, or a fresh database on the real PostgreSQL server.

PostgreSQL is the one this machine runs on 127.0.0.1:5432 with trust auth (set
``OMSORGSLYFT_TEST_PG`` to use another). Each test gets its own database, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN = os.environ.get("OMSORGSLYFT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin():  # type: ignore[no-untyped-def]
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable: {exc}")


def pg_database() -> Iterator[str]:
    """Create a fresh database; yields its SQLAlchemy URL; drops it afterwards."""
    name = f"omsorgslyft_test_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_url(folder: Path, name: str) -> str:
    return f"sqlite:///{folder / name}.db"


def cli_db_args(db_urls: dict[str, str]) -> list[str]:
    """The ``omsorgslyft`` command's options that point it at the test databases."""
    return [
        "--db-url",
        db_urls["records"],
        "--submissions-url",
        db_urls["submissions"],
        "--gradebook-url",
        db_urls["gradebook"],
        "--answers-url",
        db_urls["answers"],
    ]
