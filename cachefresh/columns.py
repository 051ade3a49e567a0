"""Raw column fetches: ``SELECT <columns> FROM <table> WHERE <pk> = %s`` on a cursor.

The ORM's query building costs several hundred microseconds, more than the query itself on a
local database, so the SQL text and the converters are built once per (model, columns, alias).
Values pass through the backend's converters and each field's ``from_db_value`` in the order
the ORM's compiler applies them, so they equal what the ORM would give.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from cachefresh.support import column, concrete_model

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class ColumnFetch:
    fields: tuple[Field[Any, Any], ...]
    sql: str
    #: Per column: (converters, the expression they are given), as the compiler keeps them.
    converters: tuple[tuple[tuple[Converter, ...], Any], ...]
    pk_field: Field[Any, Any]
    alias: str

    def _convert(self, row: Sequence[Any], connection: BaseDatabaseWrapper) -> list[Any]:
        values = list(row)
        for index, (converters, expression) in enumerate(self.converters):
            value = values[index]
            for converter in converters:
                value = converter(value, expression, connection)
            values[index] = value
        return values

    def _param(self, pk: Any, connection: BaseDatabaseWrapper) -> Any:
        # As an exact lookup prepares its value: get_prep_value(), then the prepared form of
        # get_db_prep_value(), which skips validate_autopk_value(). MySQL's refuses 0 for an
        # AutoField, which is right for an insert, while get(pk=0) is DoesNotExist.
        return self.pk_field.get_db_prep_value(
            self.pk_field.get_prep_value(pk), connection, prepared=True
        )

    def fetch_one(self, pk: Any) -> list[Any] | None:
        """The converted values of the row with this pk, or ``None`` when it does not exist."""
        connection = connections[self.alias]
        param = self._param(pk, connection)
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [param])
            row = cursor.fetchone()
        return None if row is None else self._convert(row, connection)

    def fetch_many(self, pks: Sequence[Any]) -> list[list[Any]]:
        """The converted rows of ``pks`` that exist, in batches the backend accepts."""
        connection = connections[self.alias]
        params = [self._param(pk, connection) for pk in pks]
        head, _, _ = self.sql.rpartition(" = %s")
        size = connection.features.max_query_params or len(params) or 1
        rows: list[list[Any]] = []
        with connection.cursor() as cursor:
            for start in range(0, len(params), size):
                batch = params[start : start + size]
                cursor.execute(f"{head} IN ({', '.join(['%s'] * len(batch))})", batch)
                rows.extend(self._convert(row, connection) for row in cursor.fetchall())
        return rows


@functools.lru_cache(maxsize=1024)
def column_fetch(
    model: type[Model], attnames: tuple[str, ...], alias: str, schema: bytes
) -> ColumnFetch:
    """The fetch of ``attnames`` of ``model`` on ``alias``.

    ``schema`` (the model's fingerprint) is only part of the memo key: a model whose fields
    changed gets new SQL.
    """
    meta = model._meta
    connection = connections[alias]
    quote = connection.ops.quote_name
    by_attname = {f.attname: f for f in meta.concrete_fields}
    fields = tuple(by_attname[name] for name in attnames)
    pk = meta.pk
    assert pk is not None
    base = meta.db_table
    # Multi-table inheritance: inherited columns live in the ancestors' tables, which share
    # the primary key value along the parent-link chain.
    joins = ""
    for ancestor in dict.fromkeys(concrete_model(f.model) for f in fields):
        ancestor_meta = ancestor._meta
        if ancestor_meta.db_table != base:
            assert ancestor_meta.pk is not None
            joins += (
                f" INNER JOIN {quote(ancestor_meta.db_table)} ON "
                f"{quote(ancestor_meta.db_table)}.{quote(column(ancestor_meta.pk))} = "
                f"{quote(base)}.{quote(column(pk))}"
            )
    columns = ", ".join(
        f"{quote(concrete_model(f.model)._meta.db_table)}.{quote(column(f))}" for f in fields
    )
    sql = f"SELECT {columns} FROM {quote(base)}{joins} WHERE {quote(base)}.{quote(column(pk))} = %s"
    converters = []
    for field in fields:
        col = field.get_col(concrete_model(field.model)._meta.db_table)
        converters.append(
            (
                tuple(connection.ops.get_db_converters(col))
                + tuple(col.get_db_converters(connection)),
                col,
            )
        )
    return ColumnFetch(fields, sql, tuple(converters), pk, alias)
