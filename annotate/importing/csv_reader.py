"""CSV with a header row, read a physical line at a time; a line or cell over the record limit is refused as it is read."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from annotate.importing.limits import ImportLimits
from annotate.importing.problems import rejected
from annotate.importing.source import Position, Unreadable, too_long


class CsvSource:
    """CSV with a header row. Positions are the physical line where a row starts (the header is line 1)."""

    text_cells: bool = True

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        self.path = path
        self.limit = limits.max_record_bytes
        self.columns: list[str] | None = None
        self.header_line = 0
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as handle, self._field_limit():
                reader = csv.reader(self._lines(handle))
                for row in reader:
                    if row:
                        self.columns = [name.strip() for name in row]
                        self.header_line = reader.line_num
                        break
        except UnicodeDecodeError as exc:
            raise rejected("the file is not valid UTF-8 text") from exc
        except _LineTooLong as exc:
            raise rejected(
                too_long("the header line", f"over {self.limit:,} characters", self.limit), line=exc.line
            ) from exc
        except csv.Error as exc:
            raise rejected(f"unreadable CSV header: {exc}", line=1) from exc
        if self.columns is None:
            raise rejected("the file is empty")

    def _lines(self, handle: IO[str]) -> Iterator[str]:
        """The file's physical lines, refusing one longer than the record limit before it is all read."""
        number = 0
        while line := handle.readline(self.limit + 1):
            number += 1
            if len(line) > self.limit and not line.endswith(("\n", "\r")):
                raise _LineTooLong(number)
            yield line

    @contextmanager
    def _field_limit(self) -> Iterator[None]:
        # A quoted cell may span many short lines; csv's own limit bounds it. The limit is the
        # module's, so it is put back after.
        before = csv.field_size_limit(self.limit)
        try:
            yield
        finally:
            csv.field_size_limit(before)

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        assert self.columns is not None
        width = len(self.columns)
        end = 0
        with self.path.open(encoding="utf-8-sig", newline="") as handle, self._field_limit():
            reader = csv.reader(self._lines(handle))
            try:
                for row in reader:
                    start, end = end + 1, reader.line_num
                    if end <= self.header_line or not row:
                        continue
                    position = Position(line=start)
                    if len(row) != width:
                        yield position, Unreadable(f"expected {width} cells as in the header, got {len(row)}")
                        continue
                    size = sum(len(cell) for cell in row)
                    if size > self.limit:
                        yield position, Unreadable(too_long("the row", f"{size:,} characters", self.limit))
                        continue
                    yield position, dict(zip(self.columns, row, strict=True))
            except UnicodeDecodeError:
                yield Position(line=end + 1), Unreadable("not valid UTF-8 text", fatal=True)
            except _LineTooLong as exc:
                message = too_long("the line", f"over {self.limit:,} characters", self.limit)
                yield Position(line=exc.line), Unreadable(message, fatal=True)
            except csv.Error as exc:
                if "field limit" in str(exc):
                    message = too_long("a cell", f"over {self.limit:,} characters", self.limit)
                    yield Position(line=end + 1), Unreadable(message, fatal=True)
                else:
                    yield Position(line=end + 1), Unreadable(f"unreadable CSV: {exc}", fatal=True)


class _LineTooLong(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line
