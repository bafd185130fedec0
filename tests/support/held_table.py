"""A table of the test database held exclusively from a connection of its own.

Live tests use it to make the server's database slow on purpose: a connection being
admitted waits on its access query (and keeps its admission slot) until the table is
released. PostgreSQL only (``LOCK TABLE``).
"""

from typing import Any

import psycopg

from tests.support.servers import test_database_url


class HeldTable:
    """``hold()`` takes ``ACCESS EXCLUSIVE`` on ``table`` in an open transaction;
    ``release()`` (safe to call twice) rolls it back and closes the connection."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.connection: psycopg.Connection[Any] | None = None

    def hold(self) -> None:
        url = test_database_url().replace("postgres://", "postgresql://", 1)
        self.connection = psycopg.connect(url)
        self.connection.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")

    def release(self) -> None:
        if self.connection is not None:
            self.connection.rollback()
            self.connection.close()
            self.connection = None
