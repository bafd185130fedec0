"""Model instances from rows of hand-written SQL, converted as the ORM converts them.

The connection path reads its rows with plain SQL (the ORM's query building cost more
than the queries: ``workspace.projects.selectors.user_for_token``); the values still pass
the backend's converters, so a datetime read from SQLite is aware, as through the ORM.
"""

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field, Model


@cache
def columns(model: type[Model], alias: str) -> str:
    """The select list of every concrete column of ``model`` from table ``alias``."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


@cache
def _converters(field: Field[Any, Any], vendor: str) -> list[Callable[..., Any]]:
    """The backend's and the field's converters (none for most fields on PostgreSQL),
    looked up once per field and database vendor (the cache key): the connection path
    reads a row on every connect."""
    col = field.cached_col
    return [*connection.ops.get_db_converters(col), *field.get_db_converters(connection)]


def converted(field: Field[Any, Any], value: Any) -> Any:
    """``value`` as read for ``field``, through the backend's and the field's converters."""
    for convert in _converters(field, connection.vendor):
        value = convert(value, field.cached_col, connection)
    return value


def from_row[M: Model](model: type[M], values: Sequence[Any]) -> M:
    """An instance of ``model`` from the values of ``columns(model, ...)``, in order."""
    fields = model._meta.concrete_fields
    return model.from_db(
        connection.alias,
        [f.attname for f in fields],
        [converted(f, v) for f, v in zip(fields, values, strict=True)],
    )
