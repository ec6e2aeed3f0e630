"""What every reader hands over: where a record is, a record that cannot be read, and the source protocol.

A reader (``annotate.importing.readers`` opens one per format) knows nothing of kinds: it yields
``(Position, value)`` pairs, the value being what the file holds there (``records`` then checks
it against a kind) or ``Unreadable`` saying why it could not be parsed. The messages shared by
the readers are here too, so that each format says a too-long record or bad JSON the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record is: ``line`` (1-based physical line) for JSONL/CSV, ``record`` (1-based) for JSON/Parquet."""

    line: int | None = None
    record: int | None = None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record that does not parse; ``fatal`` when the rest of the file cannot be read either."""

    message: str
    fatal: bool = False


class RecordSource(Protocol):
    # Column names for formats that have a header (CSV) or a schema (Parquet), else None.
    columns: list[str] | None
    # True when every value arrives as text (CSV), so JSON-valued cells need decoding.
    text_cells: bool

    def __iter__(self) -> Iterator[tuple[Position, Any]]: ...


# What a record over the size limit is told.
def too_long(what: str, size: str, limit: int) -> str:
    return f"{what} is {size}; the limit is {limit:,} (CONCORD_IMPORT_MAX_RECORD_BYTES)"


def json_decode_problem(exc: ValueError | RecursionError) -> str:
    """What is wrong with JSON that ``json`` refused, for any of the ways it refuses."""
    if isinstance(exc, RecursionError):
        # The C decoder counts nesting against Python's recursion limit and stops cleanly.
        return "invalid JSON: nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return "not valid UTF-8 text"
    # e.g. an integer of more than 4,300 digits (sys.get_int_max_str_digits).
    return f"invalid JSON: {exc}"
