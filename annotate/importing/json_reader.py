"""JSON Lines and JSON arrays, read a line or an element at a time, never holding more than one record's limit."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from annotate.importing.limits import ImportLimits
from annotate.importing.source import Position, Unreadable, json_decode_problem, too_long


class _JsonFile:
    """A JSON file: no header, values typed as JSON types them, each record within the record limit."""

    columns: list[str] | None = None
    text_cells: bool = False

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        self.path = path
        self.limit = limits.max_record_bytes


class JsonLinesSource(_JsonFile):
    """One JSON value per line; a line over the limit is measured while it is skipped."""

    # A line over the limit is skipped in pieces of this size, never held whole.
    SKIP_CHUNK = 1 << 18

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        with self.path.open("rb") as handle:
            number = 0
            while raw := handle.readline(self.limit + 1):
                number += 1
                position = Position(line=number)
                if len(raw) > self.limit and not raw.endswith(b"\n"):
                    size = len(raw) + self._skip_rest(handle)
                    if size > self.limit:  # a line of exactly limit + 1 bytes with its newline is fine
                        yield position, Unreadable(too_long("the line", f"{size:,} bytes", self.limit))
                        continue
                line = raw.strip()
                if not line:
                    continue
                try:
                    # json.loads on bytes detects UTF-8 (with or without a BOM), -16 and -32.
                    yield position, json.loads(line)
                except (ValueError, RecursionError) as exc:
                    yield position, Unreadable(json_decode_problem(exc))

    def _skip_rest(self, handle: IO[bytes]) -> int:
        """Read past the rest of the line; how many bytes it had, not counting its newline."""
        skipped = 0
        while piece := handle.readline(self.SKIP_CHUNK):
            if piece.endswith(b"\n"):
                return skipped + len(piece) - 1
            skipped += len(piece)
        return skipped


class JsonArraySource(_JsonFile):
    """A JSON array of records, decoded one element at a time with ``raw_decode``."""

    CHUNK = 1 << 20

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        with self.path.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle:
            yield from _JsonArrayScan(handle, self.CHUNK, self.limit).records()


class _JsonArrayScan:
    _WHITESPACE = " \t\r\n"

    def __init__(self, handle: IO[str], chunk: int, limit: int) -> None:
        self.handle = handle
        self.chunk = chunk
        self.limit = limit
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
                if not self.eof and len(self.buf) - self.pos <= self.limit:
                    self._fill()
                    number -= 1
                    continue
                if not self.eof:
                    # No complete element within the limit: too big, or broken JSON further on.
                    message = (
                        f"no complete record within {self.limit:,} characters, the limit "
                        f"(CONCORD_IMPORT_MAX_RECORD_BYTES): the record is too long or its JSON is broken "
                        f"({exc.msg})"
                    )
                    yield position, Unreadable(message, fatal=True)
                    return
                yield position, Unreadable(f"invalid JSON: {exc.msg} ({self._where(exc.pos)})", fatal=True)
                return
            except (ValueError, RecursionError) as exc:
                problem = json_decode_problem(exc)
                yield position, Unreadable(f"{problem} ({self._where(self.pos)})", fatal=True)
                return
            size = end - self.pos
            self.pos = end
            if size > self.limit:
                yield position, Unreadable(too_long("the record", f"{size:,} characters", self.limit))
            else:
                yield position, value
            del value
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
