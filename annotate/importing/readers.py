"""The four file formats, each read as a stream of ``(Position, value)`` pairs.

A reader knows nothing of kinds: it hands over what the file holds (a dict, or
anything else the file happens to contain, which ``records`` then refuses) with
where it was found. A record that cannot even be parsed comes as ``Unreadable``.
Memory stays flat: JSONL and CSV go a line at a time, JSON arrays are decoded an
element at a time from a growing buffer, and Parquet goes a record batch at a time.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from annotate.importing.problems import rejected

FORMATS = ("jsonl", "json", "csv", "parquet")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


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


def format_for(*, name: str, fmt: str | None) -> str:
    """The format to read ``name`` as: ``fmt`` when given, else from the file name's extension."""
    if fmt:
        if fmt not in FORMATS:
            raise rejected(f'unknown format "{fmt}"; use one of: {", ".join(FORMATS)}')
        return fmt
    suffix = Path(name).suffix.lower()
    if suffix not in EXTENSIONS:
        raise rejected(
            f'cannot tell the format of "{Path(name).name}" from its extension; '
            f"name it {', '.join(EXTENSIONS)} or give the format ({', '.join(FORMATS)})"
        )
    return EXTENSIONS[suffix]


def records_open(*, path: str | Path, fmt: str) -> RecordSource:
    """A reader for the file; raises ``ImportRejected`` when the file as a whole cannot be read."""
    path = Path(path)
    readers: dict[str, type[_JsonLines | _JsonArray | _Csv | _Parquet]] = {
        "jsonl": _JsonLines,
        "json": _JsonArray,
        "csv": _Csv,
        "parquet": _Parquet,
    }
    if fmt not in readers:
        raise rejected(f'unknown format "{fmt}"; use one of: {", ".join(FORMATS)}')
    return readers[fmt](path)


class _JsonLines:
    columns: list[str] | None = None
    text_cells: bool = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.strip()
                if not line:
                    continue
                position = Position(line=number)
                try:
                    # json.loads on bytes detects UTF-8 (with or without a BOM), -16 and -32.
                    yield position, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield position, Unreadable(f"invalid JSON: {exc.msg} at column {exc.colno}")
                except UnicodeDecodeError:
                    yield position, Unreadable("not valid UTF-8 text")


class _JsonArray:
    """A JSON array of records, decoded one element at a time with ``raw_decode``."""

    columns: list[str] | None = None
    text_cells: bool = False
    CHUNK = 1 << 20

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        with self.path.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle:
            yield from _JsonArrayScan(handle, self.CHUNK).records()


class _JsonArrayScan:
    _WHITESPACE = " \t\r\n"

    def __init__(self, handle: IO[str], chunk: int) -> None:
        self.handle = handle
        self.chunk = chunk
        self.buf = ""
        self.pos = 0
        self.eof = False
        # Lines dropped from the front of the buffer, to say where in the file a syntax error is.
        self.lines_before = 0
        self.decoder = json.JSONDecoder()

    def _fill(self) -> None:
        self.lines_before += self.buf.count("\n", 0, self.pos)
        # Read at least as much as is buffered: an element longer than a chunk costs log(n) retries, not n.
        more = self.handle.read(max(self.chunk, len(self.buf) - self.pos))
        self.buf = self.buf[self.pos :] + more
        self.pos = 0
        self.eof = not more

    def _peek(self) -> str:
        """The next non-whitespace character, or "" at the end of the file."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in self._WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""
            self._fill()

    def _where(self, offset: int) -> str:
        line = self.lines_before + self.buf.count("\n", 0, offset) + 1
        column = offset - (self.buf.rfind("\n", 0, offset) + 1) + 1
        return f"file line {line}, column {column}"

    def records(self) -> Iterator[tuple[Position, Any]]:
        try:
            yield from self._records()
        except UnicodeDecodeError:
            yield Position(record=None), Unreadable("not valid UTF-8 text", fatal=True)

    def _records(self) -> Iterator[tuple[Position, Any]]:
        first = self._peek()
        if first == "":
            return
        if first != "[":
            got = (
                "an object (for one record per line, use the jsonl format)" if first == "{" else f'"{first}"'
            )
            yield Position(), Unreadable(f"expected a JSON array of records, got {got}", fatal=True)
            return
        self.pos += 1
        if self._peek() == "]":
            self.pos += 1
            yield from self._trailing(Position())
            return
        number = 0
        while True:
            number += 1
            position = Position(record=number)
            if self._peek() == "":
                yield position, Unreadable("the array is not closed with ]", fatal=True)
                return
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
                # A number or literal that ends at the buffer's end may continue in the next chunk.
                if end == len(self.buf) and not self.eof:
                    raise json.JSONDecodeError("incomplete", self.buf, end)
            except json.JSONDecodeError as exc:
                if not self.eof:
                    self._fill()
                    number -= 1
                    continue
                yield position, Unreadable(f"invalid JSON: {exc.msg} ({self._where(exc.pos)})", fatal=True)
                return
            self.pos = end
            yield position, value
            after = self._peek()
            if after == ",":
                self.pos += 1
                continue
            if after == "]":
                self.pos += 1
                yield from self._trailing(position)
                return
            found = f'"{after}"' if after else "the end of the file"
            yield (
                position,
                Unreadable(
                    f"invalid JSON: expected , or ] after the record, found {found} ({self._where(self.pos)})",
                    fatal=True,
                ),
            )
            return

    def _trailing(self, position: Position) -> Iterator[tuple[Position, Any]]:
        if self._peek() != "":
            yield (
                position,
                Unreadable(f"invalid JSON: extra data after the array ({self._where(self.pos)})", fatal=True),
            )


class _Csv:
    """CSV with a header row. Positions are the physical line where a row starts (the header is line 1)."""

    text_cells: bool = True

    def __init__(self, path: Path) -> None:
        self.path = path
        # Responses longer than csv's default 128 KiB field limit are normal; the file-size limit bounds them.
        csv.field_size_limit(2**31 - 1)
        self.columns: list[str] | None = None
        self.header_line = 0
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.reader(handle)
                for row in reader:
                    if row:
                        self.columns = [name.strip() for name in row]
                        self.header_line = reader.line_num
                        break
        except UnicodeDecodeError as exc:
            raise rejected("the file is not valid UTF-8 text") from exc
        except csv.Error as exc:
            raise rejected(f"unreadable CSV header: {exc}", line=1) from exc
        if self.columns is None:
            raise rejected("the file is empty")

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        assert self.columns is not None
        width = len(self.columns)
        end = 0
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            try:
                for row in reader:
                    start, end = end + 1, reader.line_num
                    if end <= self.header_line or not row:
                        continue
                    position = Position(line=start)
                    if len(row) != width:
                        yield position, Unreadable(f"expected {width} cells as in the header, got {len(row)}")
                        continue
                    yield position, dict(zip(self.columns, row, strict=True))
            except UnicodeDecodeError:
                yield Position(line=end + 1), Unreadable("not valid UTF-8 text", fatal=True)
            except csv.Error as exc:
                yield Position(line=end + 1), Unreadable(f"unreadable CSV: {exc}", fatal=True)


class _Parquet:
    text_cells: bool = False
    BATCH = 4096

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq  # heavy; only when a Parquet file comes in

        self.path = path
        try:
            self.file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others for a bad file
            raise rejected(f"not a readable Parquet file: {exc}") from exc
        self.columns: list[str] | None = list(self.file.schema_arrow.names)
        self.rows = self.file.metadata.num_rows

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        number = 0
        try:
            for batch in self.file.iter_batches(batch_size=self.BATCH):
                for row in batch.to_pylist():
                    number += 1
                    yield Position(record=number), row
        except Exception as exc:  # a corrupt page surfaces only when read
            yield Position(record=number + 1), Unreadable(f"unreadable Parquet data: {exc}", fatal=True)
