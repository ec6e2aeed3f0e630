"""The export schemas' columns: what each schema writes, in Python and as its SQL mirror, and the stat columns.

One place per column: adding an export column means adding it to ``STAT_COLUMNS`` (or a
schema's text columns) and ``ARROW_SCHEMAS``, its Python value in ``columns`` and its SQL in
``sql_jsonl_line`` / ``sql_flat_columns``; the import accepts ``STAT_COLUMNS`` back
(``annotate.importing.kinds``). Schemas are named by ``annotate.models.ExportSchema`` values.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from annotate.formats.hh import hh_columns, sql_hh_columns
from annotate.formats.sqljson import sql_json_number, sql_json_object, sql_json_string
from annotate.formats.trl import (
    sql_trl_conversational_json,
    sql_trl_standard_columns,
    trl_conversational_columns,
    trl_standard_columns,
)
from annotate.formats.unpaired import PREFERENCE, sql_trl_unpaired_lines, trl_unpaired_columns, twice

HH, TRL_STANDARD, TRL_CONVERSATIONAL = "hh", "trl_standard", "trl_conversational"
TRL_UNPAIRED = "trl_unpaired"
# Schemas of one row per response (two per snapshot row) rather than one per pair.
UNPAIRED_SCHEMAS = (TRL_UNPAIRED,)

# The columns every export adds after the schema's own (docs/export.md): ``margin`` (0-3, Llama 2's
# scale), ``agreement`` and ``votes`` of the snapshot's verdict. An import reads them back.
STAT_COLUMNS = ("margin", "agreement", "votes")
# A snapshot pair as the writers read it (SnapshotPair's fields, in this order).
PAIR_FIELDS = ("prompt", "chosen", "rejected", "margin", "agreement", "votes", "transcript", "vote_kind")

_TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
_STATS = [("margin", pa.float64()), ("agreement", pa.float64()), ("votes", pa.int32())]
ARROW_SCHEMAS: dict[str, pa.Schema] = {
    HH: pa.schema([("chosen", pa.string()), ("rejected", pa.string()), *_STATS]),
    TRL_STANDARD: pa.schema(
        [("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string()), *_STATS]
    ),
    TRL_CONVERSATIONAL: pa.schema(
        [("prompt", pa.list_(_TURN)), ("chosen", pa.list_(_TURN)), ("rejected", pa.list_(_TURN)), *_STATS]
    ),
    TRL_UNPAIRED: pa.schema([("prompt", pa.string()), ("completion", pa.string()), ("label", pa.bool_()), *_STATS]),
}


def rows_per_pair(schema: str) -> int:
    """How many rows a schema writes for one snapshot row."""
    return 2 if schema in UNPAIRED_SCHEMAS else 1


def schema_vote_kinds(schema: str, *, include_ties: bool = False) -> tuple[str, ...]:
    """The kinds of vote (SnapshotPair.vote_kind) whose rows a schema writes: pairwise schemas only preferences."""
    if schema not in UNPAIRED_SCHEMAS:
        return (PREFERENCE,)
    return (PREFERENCE, "both_bad", "tie") if include_ties else (PREFERENCE, "both_bad")


def columns(schema: str, chunk: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    """One slice of pairs (rows of ``PAIR_FIELDS``) as columns in the export schema."""
    prompts = [row[0] for row in chunk]
    chosen = [row[1] for row in chunk]
    rejected = [row[2] for row in chunk]
    transcripts = [row[6] for row in chunk]
    stats = [[row[3] for row in chunk], [row[4] for row in chunk], [row[5] for row in chunk]]
    if schema == TRL_UNPAIRED:
        out = trl_unpaired_columns(transcripts, chosen, rejected, [row[7] for row in chunk])
        stats = [twice(values) for values in stats]
    elif schema == HH:
        out = hh_columns(transcripts, chosen, rejected)
    elif schema == TRL_STANDARD:
        out = trl_standard_columns(transcripts, chosen, rejected)
    elif schema == TRL_CONVERSATIONAL:
        out = trl_conversational_columns(prompts, chosen, rejected)
    else:
        raise ValueError(f"unknown export schema {schema!r}")
    out.update(zip(STAT_COLUMNS, stats, strict=True))
    return out


# --- SQL mirror (PostgreSQL), over ``annotate_snapshotpair`` aliased ``sp`` ------------------------
# The SQL mirrors hh_transcript, columns and the JSONL writer exactly; tests compare the two
# paths byte for byte.


def sql_text_columns(schema: str) -> list[tuple[str, str]]:
    """(name, SQL expression) of the text columns of a flat schema."""
    if schema == HH:
        return sql_hh_columns()
    if schema == TRL_STANDARD:
        return sql_trl_standard_columns()
    raise ValueError(f"no flat SQL columns for export schema {schema!r}")


def sql_flat_columns(schema: str) -> str:
    """SQL selecting a flat schema's columns in ``ARROW_SCHEMAS`` order (for the Parquet writer)."""
    return ", ".join(
        [*(expr for _, expr in sql_text_columns(schema)), "sp.margin", "sp.agreement", "sp.votes"]
    )


def sql_jsonl_line(schema: str) -> str:
    """SQL for one snapshot row's JSONL line (two for an unpaired schema), byte for byte what the Python JSONL writer writes."""
    stats = [
        ("margin", sql_json_number("sp.margin")),
        ("agreement", sql_json_number("sp.agreement")),
        ("votes", "sp.votes::text"),
    ]
    if schema == TRL_UNPAIRED:
        return sql_trl_unpaired_lines(stats)
    if schema == TRL_CONVERSATIONAL:
        fields = sql_trl_conversational_json()
    else:
        # The transcript head is escaped with each side: escaping it once and splicing the
        # escaped pieces needs char-counting left()/right() calls, which cost more.
        fields = [(name, sql_json_string(expr)) for name, expr in sql_text_columns(schema)]
    return sql_json_object(fields + stats)
