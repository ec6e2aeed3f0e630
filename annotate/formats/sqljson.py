"""SQL that writes JSON text byte for byte as the export's Python encoder does (PostgreSQL)."""

from __future__ import annotations


def sql_json_number(column: str) -> str:
    """SQL for the JSON text Python's encoder writes for a nullable float column: null, 2.0, 0.6666666666666666."""
    # float8out (extra_float_digits ≥ 1, set by the caller) writes the shortest digits that
    # read back to the same double, as Python's float repr does, but "2" where Python writes
    # "2.0". Both write NaN, Infinity and -Infinity as such. They part from 1e15 up,
    # where PostgreSQL turns to scientific notation a decade earlier than Python and writes
    # whole numbers above 2^54 with all their digits; margin (0-3) and agreement (0-1) never
    # get near.
    return (
        f"CASE WHEN {column} IS NULL THEN 'null' "
        f"WHEN {column} = trunc({column}) AND abs({column}) < 1e15 THEN {column}::text || '.0' "
        f"ELSE {column}::text END"
    )


def sql_json_string(expression: str) -> str:
    """SQL for the JSON text of a text expression."""
    # to_json(text) escapes exactly as json.encoder.encode_basestring does (ensure_ascii=False):
    # \" \\ \b \f \n \r \t, \u00XX in lower case for the other controls, everything else as is.
    return f"to_json({expression})::text"


def sql_json_object(fields: list[tuple[str, str]]) -> str:
    """SQL for a JSON object of (name, SQL for the value's JSON text) fields, spaced as the JSONL writer's encoder."""
    # json.JSONEncoder(separators=(", ", ": ")): {"name": value, "name": value}.
    return "'{' || " + " || ', ' || ".join(f"""'"{name}": ' || {expr}""" for name, expr in fields) + " || '}'"
