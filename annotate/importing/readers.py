"""The four file formats, each read as a stream of ``(Position, value)`` pairs.

A reader knows nothing of kinds: it hands over what the file holds (a dict, or
anything else the file happens to contain, which ``records`` then refuses) with
where it was found. A record that cannot even be parsed comes as ``Unreadable``.
Memory stays flat: JSONL and CSV go a line at a time, JSON arrays are decoded an
element at a time from a growing buffer, and Parquet goes a record batch at a time.
No reader holds much more than ``ImportLimits.max_record_bytes`` of one record: a longer
line or element is refused as it is read, and a Parquet file is bounded by its
uncompressed size before anything is decoded, then by its decoded size as it is read.

Over 350 lines on purpose: the five readers share the positions, the problems and the
bounds above, and each is a small class; apart, each would restate them.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from annotate.importing.limits import ImportLimits
from annotate.importing.problems import rejected

# hf_dataset: a folder that ``datasets``' save_to_disk wrote (Arrow files), or the zip of one that
# the export's download is; so that every export format imports back.
FORMATS = ("jsonl", "json", "csv", "parquet", "hf_dataset")
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".zip": "hf_dataset",
}


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


def records_open(*, path: str | Path, fmt: str, limits: ImportLimits | None = None) -> RecordSource:
    """A reader for the file; raises ``ImportRejected`` when the file as a whole cannot be read."""
    path = Path(path)
    limits = limits or ImportLimits()
    readers: dict[str, type[_JsonLines | _JsonArray | _Csv | ParquetSource | HfDatasetSource]] = {
        "jsonl": _JsonLines,
        "json": _JsonArray,
        "csv": _Csv,
        "parquet": ParquetSource,
        "hf_dataset": HfDatasetSource,
    }
    if fmt not in readers:
        raise rejected(f'unknown format "{fmt}"; use one of: {", ".join(FORMATS)}')
    return readers[fmt](path, limits)


# What a record over the size limit is told.
def _too_long(what: str, size: str, limit: int) -> str:
    return f"{what} is {size}; the limit is {limit:,} (CONCORD_IMPORT_MAX_RECORD_BYTES)"


def _json_decode_problem(exc: ValueError | RecursionError) -> str:
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


class _JsonLines:
    columns: list[str] | None = None
    text_cells: bool = False
    # A line over the limit is skipped in pieces of this size, never held whole.
    SKIP_CHUNK = 1 << 18

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        self.path = path
        self.limit = limits.max_record_bytes

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        with self.path.open("rb") as handle:
            number = 0
            while raw := handle.readline(self.limit + 1):
                number += 1
                position = Position(line=number)
                if len(raw) > self.limit and not raw.endswith(b"\n"):
                    size = len(raw) + self._skip_rest(handle)
                    if size > self.limit:  # a line of exactly limit + 1 bytes with its newline is fine
                        yield position, Unreadable(_too_long("the line", f"{size:,} bytes", self.limit))
                        continue
                line = raw.strip()
                if not line:
                    continue
                try:
                    # json.loads on bytes detects UTF-8 (with or without a BOM), -16 and -32.
                    yield position, json.loads(line)
                except (ValueError, RecursionError) as exc:
                    yield position, Unreadable(_json_decode_problem(exc))

    def _skip_rest(self, handle: IO[bytes]) -> int:
        """Read past the rest of the line; how many bytes it had, not counting its newline."""
        skipped = 0
        while piece := handle.readline(self.SKIP_CHUNK):
            if piece.endswith(b"\n"):
                return skipped + len(piece) - 1
            skipped += len(piece)
        return skipped


class _JsonArray:
    """A JSON array of records, decoded one element at a time with ``raw_decode``."""

    columns: list[str] | None = None
    text_cells: bool = False
    CHUNK = 1 << 20

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        self.path = path
        self.limit = limits.max_record_bytes

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
                problem = _json_decode_problem(exc)
                yield position, Unreadable(f"{problem} ({self._where(self.pos)})", fatal=True)
                return
            size = end - self.pos
            self.pos = end
            if size > self.limit:
                yield position, Unreadable(_too_long("the record", f"{size:,} characters", self.limit))
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


class _Csv:
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
                _too_long("the header line", f"over {self.limit:,} characters", self.limit), line=exc.line
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
                        yield position, Unreadable(_too_long("the row", f"{size:,} characters", self.limit))
                        continue
                    yield position, dict(zip(self.columns, row, strict=True))
            except UnicodeDecodeError:
                yield Position(line=end + 1), Unreadable("not valid UTF-8 text", fatal=True)
            except _LineTooLong as exc:
                message = _too_long("the line", f"over {self.limit:,} characters", self.limit)
                yield Position(line=exc.line), Unreadable(message, fatal=True)
            except csv.Error as exc:
                if "field limit" in str(exc):
                    message = _too_long("a cell", f"over {self.limit:,} characters", self.limit)
                    yield Position(line=end + 1), Unreadable(message, fatal=True)
                else:
                    yield Position(line=end + 1), Unreadable(f"unreadable CSV: {exc}", fatal=True)


class _LineTooLong(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def parquet_uncompressed_bytes(metadata: Any) -> int:
    """A Parquet file's data size once uncompressed, from its row-group metadata (nothing is read)."""
    total = 0
    for group in range(metadata.num_row_groups):
        total += _group_bytes(metadata.row_group(group))
    return total


def _group_bytes(group: Any) -> int:
    # Both figures are written by the producer; take the larger so that neither alone can understate.
    columns = sum(group.column(i).total_uncompressed_size for i in range(group.num_columns))
    return max(int(group.total_byte_size), int(columns))


def _row_bytes(array: Any) -> Any:
    """The decoded bytes of each value of an Arrow array (a numpy int64 array), read without decoding it."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        lengths = _row_bytes(array.dictionary)
        indices = pc.fill_null(array.indices, 0).to_numpy(zero_copy_only=False)
        sizes = lengths[indices] if len(lengths) else np.zeros(len(array), dtype=np.int64)
        return np.where(array.is_null().to_numpy(zero_copy_only=False), 0, sizes)
    if (
        pa.types.is_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_string(kind)
        or (pa.types.is_large_binary(kind))
    ):
        return pc.fill_null(pc.binary_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        counts = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        child = _row_bytes(array.flatten())
        running = np.concatenate([[0], np.cumsum(child)])
        ends = np.cumsum(counts)
        return running[ends] - running[ends - counts] + 8 * counts
    if pa.types.is_struct(kind):
        sizes = np.zeros(len(array), dtype=np.int64)
        for field in array.flatten():
            sizes += _row_bytes(field)
        return sizes
    width = getattr(kind, "bit_width", 64) // 8 or 1
    return np.full(len(array), width, dtype=np.int64)


class ParquetSource:
    """Parquet, bounded before reading by its uncompressed size and while reading by its decoded size.

    A column of repeated values is dictionary-encoded: small on disk and in the metadata, yet
    it decodes into a copy per row, so a few KB can become gigabytes. Top-level text columns are
    therefore read as dictionaries, which stay small; each row's decoded size is computed from
    them, a row over the record limit is refused without being decoded, and rows are turned into
    Python values a few megabytes at a time.
    """

    text_cells: bool = False
    BATCH = 4096
    # Decoded bytes turned into Python values at a time, and read per batch (from the metadata).
    BATCH_BYTES = 8 << 20

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq  # heavy; only when a Parquet file comes in

        self.path = path
        self.limits = limits
        try:
            plain = pq.ParquetFile(path)
            schema = plain.schema_arrow
            texts = [
                f.name
                for f in schema
                if pa.types.is_string(f.type)
                or pa.types.is_large_string(f.type)
                or pa.types.is_binary(f.type)
            ]
            self.file = pq.ParquetFile(path, read_dictionary=texts) if texts else plain
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others for a bad file
            raise rejected(f"not a readable Parquet file: {exc}") from exc
        self.columns: list[str] | None = list(schema.names)
        self.rows = self.file.metadata.num_rows
        self.uncompressed = parquet_uncompressed_bytes(self.file.metadata)
        limit = limits.max_uncompressed_bytes
        if self.uncompressed > limit:
            raise rejected(
                f"the file's data is {self.uncompressed:,} bytes uncompressed; the limit is {limit:,} bytes "
                "(CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES)"
            )

    def _batches(self) -> Iterator[tuple[Any, list[int]]]:
        """Record batches (text columns still dictionaries) with each row's decoded size in bytes."""
        import numpy as np

        metadata = self.file.metadata
        for group in range(metadata.num_row_groups):
            meta = metadata.row_group(group)
            # Rows per batch so that a batch holds about BATCH_BYTES, as far as the metadata tells.
            size = max(1, min(self.BATCH, meta.num_rows * self.BATCH_BYTES // max(1, _group_bytes(meta))))
            for batch in self.file.iter_batches(batch_size=size, row_groups=[group], use_threads=False):
                row_bytes = np.zeros(batch.num_rows, dtype=np.int64)
                for column in batch.columns:
                    row_bytes += _row_bytes(column)
                yield batch, row_bytes.tolist()

    def decoded_bytes(self, *, stop_above: int) -> int:
        """The data's decoded size, or the first running total past ``stop_above``; decodes no text."""
        total = 0
        for _, sizes in self._batches():
            total += sum(sizes)
            if total > stop_above:
                break
        return total

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        number = 0
        decoded = 0
        limit, record_limit = self.limits.max_uncompressed_bytes, self.limits.max_record_bytes
        try:
            for batch, sizes in self._batches():
                decoded += sum(sizes)
                if decoded > limit:
                    message = f"the file's data decodes to more than {limit:,} bytes (CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES)"
                    yield Position(record=number + 1), Unreadable(message, fatal=True)
                    return
                start = 0
                while start < batch.num_rows:
                    if sizes[start] > record_limit:
                        number += 1
                        message = _too_long("the record", f"{sizes[start]:,} bytes decoded", record_limit)
                        yield Position(record=number), Unreadable(message)
                        start += 1
                        continue
                    # Rows become Python values a few megabytes at a time, never a whole big batch.
                    stop, held = start, 0
                    while (
                        stop < batch.num_rows
                        and sizes[stop] <= record_limit
                        and (stop == start or held + sizes[stop] <= self.BATCH_BYTES)
                    ):
                        held += sizes[stop]
                        stop += 1
                    for row in batch.slice(start, stop - start).to_pylist():
                        number += 1
                        yield Position(record=number), row
                    start = stop
        except Exception as exc:  # a corrupt page surfaces only when read
            yield Position(record=number + 1), Unreadable(f"unreadable Parquet data: {exc}", fatal=True)


class HfDatasetSource:
    """A ``datasets`` folder (``save_to_disk``), or a zip of one, read an Arrow record batch at a time.

    The folder's ``state.json`` lists its Arrow files in order (else they are taken by name).
    Arrow files are uncompressed, so their sizes (a zip member's uncompressed size) are the
    data's size, checked against CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES before anything is read;
    each row's size is checked against the record limit before it is turned into Python values.
    """

    text_cells: bool = False

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        import pyarrow as pa  # heavy; only when a datasets folder comes in

        self.path = path
        self.limits = limits
        try:
            self.files = self._data_files()
            if not self.files:
                raise ValueError("it has no Arrow data files (data-*.arrow)")
            with self._open(self.files[0][0]) as handle:
                schema = pa.ipc.open_stream(handle).schema
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, pa.ArrowException) as exc:
            raise rejected(f"not a readable datasets folder: {exc}") from exc
        self.columns: list[str] | None = list(schema.names)
        self.uncompressed = sum(size for _, size in self.files)
        limit = limits.max_uncompressed_bytes
        if self.uncompressed > limit:
            raise rejected(
                f"the file's data is {self.uncompressed:,} bytes uncompressed; the limit is {limit:,} bytes "
                "(CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES)"
            )

    def _data_files(self) -> list[tuple[str, int]]:
        """(name, uncompressed size) of the Arrow files in order: paths in the folder or names in the zip."""
        if self.path.is_dir():
            sizes = {
                p.relative_to(self.path).as_posix(): p.stat().st_size
                for p in self.path.rglob("*")
                if p.is_file()
            }
            state_text = (self.path / "state.json").read_text() if "state.json" in sizes else None
            base = ""
        else:
            with zipfile.ZipFile(self.path) as archive:
                sizes = {i.filename: i.file_size for i in archive.infolist() if not i.is_dir()}
                states = sorted(
                    (n for n in sizes if n.rsplit("/", 1)[-1] == "state.json"), key=lambda n: n.count("/")
                )
                state_text = archive.read(states[0]).decode("utf-8") if states else None
                base = states[0][: -len("state.json")] if states else ""
        names: list[str] = []
        if state_text is not None:
            state = json.loads(state_text)
            names = [base + str(f["filename"]) for f in state.get("_data_files", [])]
        if not names:
            names = sorted(n for n in sizes if n.endswith(".arrow") and "cache-" not in n.rsplit("/", 1)[-1])
        missing = [n for n in names if n not in sizes]
        if missing:
            raise ValueError(f"state.json names {missing[0]}, which is not there")
        return [(n, sizes[n]) for n in names]

    @contextmanager
    def _open(self, name: str) -> Iterator[IO[bytes]]:
        if self.path.is_dir():
            with (self.path / name).open("rb") as handle:
                yield handle
            return
        with zipfile.ZipFile(self.path) as archive, archive.open(name) as handle:
            yield handle

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        import numpy as np
        import pyarrow as pa

        number = 0
        record_limit = self.limits.max_record_bytes
        try:
            for name, _ in self.files:
                with self._open(name) as handle:
                    for batch in pa.ipc.open_stream(handle):
                        sizes = np.zeros(batch.num_rows, dtype=np.int64)
                        for column in batch.columns:
                            sizes += _row_bytes(column)
                        for index, size in enumerate(sizes.tolist()):
                            number += 1
                            if size > record_limit:
                                message = _too_long("the record", f"{size:,} bytes decoded", record_limit)
                                yield Position(record=number), Unreadable(message)
                                continue
                            yield Position(record=number), batch.slice(index, 1).to_pylist()[0]
        except Exception as exc:  # a truncated or corrupt Arrow stream surfaces only when read
            yield (
                Position(record=number + 1),
                Unreadable(f"unreadable datasets folder data: {exc}", fatal=True),
            )
