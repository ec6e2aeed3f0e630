"""Plain SQL for the few statements that run on every annotation request.

The serving path (token lookup, lease guard, submit, pick) runs a handful of fixed
statements thousands of times a second. On PostgreSQL they are prepared on the
connection (psycopg ``prepare=True``): the pick takes longer to plan than to run.
Django's own queries keep client-side binding, which the bulk import needs (COPY and
large ``IN`` lists are slower when bound server-side).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, TypeVar

from django.db import connection, models

_M = TypeVar("_M", bound=models.Model)

# psycopg caches its parsing of a statement (``%(name)s`` → ``$n``) only up to this many bytes
# (``psycopg._queries.MAX_CACHED_STATEMENT_LENGTH``); a longer one is parsed on every call.
PARSE_CACHE_BYTES = 4096

_COMMENT = re.compile(r"--[^\n]*")
_FRAGMENT = re.compile(r"\{(\w+)\}")


def sql_file(name: str) -> str:
    """The text of ``annotate/sql/<name>.sql`` (package data), as written."""
    return resources.files("annotate").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def sql_statement(name: str, **fragments: str) -> str:
    """``annotate/sql/<name>.sql`` as it runs: comments dropped, each ``{fragment}`` filled, on one line.

    One line because psycopg caches the parsing of statements up to ``PARSE_CACHE_BYTES``
    only, and indentation would push the longest past it (no literal in these files holds
    blanks or ``--``). ValueError for a fragment missing or left over, or a statement too long.
    """
    text = _COMMENT.sub("", sql_file(name))
    named = set(_FRAGMENT.findall(text))
    if named != set(fragments):
        raise ValueError(f"{name}.sql names the fragments {sorted(named)}, given {sorted(fragments)}")
    text = _FRAGMENT.sub(lambda match: fragments[match.group(1)], text)
    sql = " ".join(text.split())
    if len(sql.encode()) > PARSE_CACHE_BYTES:
        raise ValueError(f"{name}.sql runs as {len(sql.encode())} bytes, over psycopg's {PARSE_CACHE_BYTES}")
    return sql


def sql_fragment(name: str) -> str:
    """``annotate/sql/<name>.sql``, a piece of a statement, without comments and on one line."""
    return " ".join(_COMMENT.sub("", sql_file(name)).split())


def rows_prepared(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run one of the serving path's own statements (each returns rows: a SELECT or RETURNING)."""
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def columns(model: type[models.Model], alias: str) -> str:
    """``alias.col1, alias.col2, …`` in the order :func:`instance_from_row` expects."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in model._meta.concrete_fields)


def instance_from_row(model: type[_M], row: Sequence[Any]) -> _M:
    """A model instance from a row selected with :func:`columns`, marked as loaded from the database."""
    fields = model._meta.concrete_fields
    values = [
        f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
        for f, v in zip(fields, row, strict=True)
    ]
    return model.from_db("default", [f.attname for f in fields], values)


def loaded(instance: _M) -> _M:
    """Mark an instance built by hand from our own SELECT as loaded from the database."""
    instance._state.adding = False
    instance._state.db = "default"
    return instance


# --- Bulk insert (the content writer, the import) --------------------------------------------


def rows_insert(model: type[models.Model], rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows (attribute name such as ``prompt_id`` -> value; other fields take their defaults) and return their ids, in order.

    On PostgreSQL this is COPY with ids drawn from the table's sequence beforehand: the ORM's
    bulk_create spends most of its time building model instances and SQL parameters, and
    100k pairs (500k rows) took two minutes that way against a few seconds with COPY.
    """
    # Imported here, not at the top: the serving statements above need neither.
    import json

    from django.utils import timezone

    if not rows:
        return []
    given = list(rows[0])
    if connection.vendor != "postgresql":
        objs = model._default_manager.bulk_create([model(**row) for row in rows])
        ids = [obj.pk for obj in objs]
        # bulk_create returns ids on PostgreSQL and on SQLite ≥ 3.35 (Python 3.11 ships newer).
        assert all(pk is not None for pk in ids), "this database does not return ids from bulk inserts"
        return ids
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    constants: dict[str, Any] = {}
    for field in fields:
        if field.attname in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            constants[field.attname] = now
        else:
            constants[field.attname] = field.get_db_prep_save(field.get_default(), connection)
    json_fields = {f.attname for f in fields if f.get_internal_type() == "JSONField"}
    quote = connection.ops.quote_name
    table = model._meta.db_table
    columns = ", ".join(quote(c) for c in ["id", *(f.column for f in fields)])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(rows)]
        )
        ids = [row[0] for row in cursor.fetchall()]
        with cursor.cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
            for pk, row in zip(ids, rows, strict=True):
                values = [pk]
                for field in fields:
                    if field.attname in row:
                        value = row[field.attname]
                        values.append(json.dumps(value) if field.attname in json_fields else value)
                    else:
                        values.append(constants[field.attname])
                copy.write_row(values)
    return ids


def id_from_text(raw: str | None) -> int | None:
    """A row id written in a query string or form field, or None: ASCII digits only (``str.isdigit``
    also takes "²", which ``int`` refuses) and at most 18 of them, so that it fits a bigint."""
    text = raw or ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
