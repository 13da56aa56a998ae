"""Statements that return what the next step needs, built from the ORM's own SQL.

Django's `QuerySet.update()` answers only a row count, so code that needs a row's new values
after a conditional UPDATE reads the row again: one more round trip. Both PostgreSQL and SQLite
(3.35+) take `UPDATE … RETURNING`, and PostgreSQL also takes data-modifying statements inside a
`WITH`. These helpers compile an update or an insert exactly as the ORM would (conditions,
`F()` and `Now()` expressions, field adaptation) and let the caller add `RETURNING` or combine
statements; the named statements themselves live beside the models they write.
"""

import functools
from collections.abc import Iterable, Sequence

from django.db import connections
from django.db.models import Field, Model, QuerySet
from django.db.models.sql import InsertQuery, UpdateQuery


def update_sql(queryset: QuerySet, **values) -> tuple[str, list]:
    """The `UPDATE … SET … WHERE …` that `queryset.update(**values)` would run."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    return sql, list(params)


def insert_sql(model: type[Model], objs: Sequence[Model], *, using: str = "default"):
    """The one `INSERT … VALUES (…), (…)` that `bulk_create(objs)` would run (auto pk left out)."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    query = InsertQuery(model)
    query.insert_values(fields, objs)
    compiled = query.get_compiler(using).as_sql()
    if len(compiled) != 1:  # pragma: no cover - both databases insert many rows at once
        raise RuntimeError("expected one INSERT statement")
    sql, params = compiled[0]
    return sql, list(params)


def returning_clause(fields: Iterable[Field], *, using: str = "default") -> str:
    quote = connections[using].ops.quote_name
    return " RETURNING " + ", ".join(quote(field.column) for field in fields)


def fetch(
    sql: str, params: Sequence, fields: Sequence[Field], *, using: str = "default"
) -> list[dict]:
    """Run one statement and convert the columns it returns as the ORM would (`fields` in the
    order of its RETURNING or SELECT list), each row a dict by attribute name."""
    names = [field.attname for field in fields]
    return [
        dict(zip(names, row, strict=True)) for row in fetch_rows(sql, params, fields, using=using)
    ]


def fetch_rows(
    sql: str, params: Sequence, fields: Sequence[Field], *, using: str = "default"
) -> list[list]:
    """`fetch`, each row a list in the order of `fields`."""
    connection = connections[using]
    steps = _converters(tuple(fields), using)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = []
    for values in rows:
        converted = list(values)
        for index, column, converters in steps:
            value = converted[index]
            for convert in converters:
                value = convert(value, column, connection)
            converted[index] = value
        result.append(converted)
    return result


@functools.cache
def _converters(fields: tuple[Field, ...], using: str) -> list[tuple[int, object, list]]:
    """(index, column, converters) of each field that needs converting on this database."""
    connection = connections[using]
    steps = []
    for index, field in enumerate(fields):
        column = field.get_col(field.model._meta.db_table)
        converters = [
            *connection.ops.get_db_converters(column),
            *field.get_db_converters(connection),
        ]
        if converters:
            steps.append((index, column, converters))
    return steps


def update_returning(queryset: QuerySet, returning: Sequence[str], **values) -> dict | None:
    """`queryset.update(**values)` on at most one row, answering the named fields of the row
    as written (None: no row matched)."""
    meta = queryset.model._meta
    fields = [meta.get_field(name) for name in returning]
    sql, params = update_sql(queryset, **values)
    rows = fetch(sql + returning_clause(fields, using=queryset.db), params, fields)
    return rows[0] if rows else None
