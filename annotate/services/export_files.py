"""The export's file writers: a snapshot's pairs streamed to JSONL, Parquet or a `datasets` folder.

Memory stays flat whatever the snapshot's size: pairs stream from the database in
slices (on PostgreSQL one keyset query — for JSONL one ``COPY`` — per slice, elsewhere
``.iterator(chunk_size=…)``), JSONL is written slice by slice, Parquet one row group
per slice, and progress is reported after each slice. Files appear
atomically: everything is written to a temporary name in the destination's folder
and moved into place with ``os.replace`` only when complete, so a reader never sees a
partial file at the final path. What goes in each column is ``annotate.formats.columns``';
the export job around this is ``annotate.services.exports``.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.db import connection, transaction
from django.db.models import JSONField, Value

from annotate.formats.columns import (
    ARROW_SCHEMAS,
    PAIR_FIELDS,
    UNPAIRED_SCHEMAS,
    columns,
    rows_per_pair,
    schema_vote_kinds,
    sql_flat_columns,
    sql_jsonl_line,
)
from annotate.formats.unpaired import LABELS
from annotate.models import ExportFormat, ExportSchema, Snapshot, SnapshotPair, VoteKind
from annotate.options import OptionInvalid

Progress = Callable[[int, int], None]
CHUNK = 10_000
# The rows a pairwise schema reads (SnapshotPair.vote_kind): preferences only.
PAIRWISE = (VoteKind.PREFERENCE.value,)
Kinds = tuple[str, ...]  # SnapshotPair.vote_kind values
Tick = Callable[[int], None]  # rows written since the last call
# Snappy: Parquet's default codec, about twice as fast to write as zstd for ~25% larger files.
PARQUET_COMPRESSION = "snappy"


def export_row_counts(*, snapshot: Snapshot, schema: str, include_ties: bool = False) -> dict[str, int]:
    """The rows an export writes from each kind of vote, and for an unpaired schema its desirable and undesirable rows.

    From the snapshot's counts, which hold its rows of each kind (a snapshot taken before
    keep_unpaired existed has only preferences, all of its ``pair_count``).
    """
    kept = {
        VoteKind.PREFERENCE.value: int(snapshot.counts.get("pairs", snapshot.pair_count)),
        VoteKind.BOTH_BAD.value: int(snapshot.counts.get("kept_both_bad", 0)),
        VoteKind.TIE.value: int(snapshot.counts.get("kept_tie", 0)),
    }
    kinds = schema_vote_kinds(schema, include_ties=include_ties)
    per_row = rows_per_pair(schema)
    counts = {kind: per_row * n if kind in kinds else 0 for kind, n in kept.items()}
    if schema in UNPAIRED_SCHEMAS:
        counts["desirable"] = sum(kept[k] * LABELS[k].count(True) for k in kinds)
        counts["undesirable"] = sum(kept[k] * LABELS[k].count(False) for k in kinds)
    return counts


def export_row_total(counts: dict[str, int]) -> int:
    """All the rows of an export's ``counts`` (those of each kind of vote; desirable/undesirable split them again)."""
    return sum(n for kind, n in counts.items() if kind in VoteKind.values)


def _chunks(
    snapshot: Snapshot, schema: str, chunk_size: int, kinds: tuple[str, ...] = PAIRWISE
) -> Iterator[list[tuple[Any, ...]]]:
    # Only the conversational schema reads the prompt's turns; the others render the transcript,
    # so the jsonb column is not fetched for them (its place in the row holds None).
    fields = [
        name if name != "prompt" or schema == ExportSchema.TRL_CONVERSATIONAL else Value(None, JSONField())
        for name in PAIR_FIELDS
    ]
    # .iterator() on PostgreSQL is a server-side cursor: the database hands rows over
    # chunk_size at a time, so neither side materialises the snapshot.
    rows = (
        SnapshotPair.objects.filter(snapshot=snapshot, vote_kind__in=kinds)
        .order_by("id")
        .values_list(*fields)
        .iterator(chunk_size=chunk_size)
    )
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it on success and is removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # os.replace is atomic: readers see the old file or the whole new one. No fsync: the
        # guarantee wanted is about readers of a running system, and flushing a gigabyte
        # to disk would double a large JSONL export's time (bench/export.py).
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_jsonl(
    chunks: Iterator[list[tuple[Any, ...]]], schema: str, out: Path, tick: Callable[[int], None]
) -> None:
    names = ARROW_SCHEMAS[schema].names
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    with out.open("w", encoding="utf-8", newline="\n") as handle:
        for chunk in chunks:
            cols = columns(schema, chunk)
            handle.write(
                "".join(
                    dumps(dict(zip(names, values, strict=True))) + "\n"
                    for values in zip(*cols.values(), strict=True)
                )
            )
            tick(len(cols[names[0]]))


def _write_parquet(
    chunks: Iterator[list[tuple[Any, ...]]], schema: str, out: Path, tick: Callable[[int], None]
) -> None:
    arrow_schema = ARROW_SCHEMAS[schema]
    with pq.ParquetWriter(out, arrow_schema, compression=PARQUET_COMPRESSION) as writer:
        for chunk in chunks:
            # One row group per slice: readers can stream the file back the same way.
            batch = pa.RecordBatch.from_pydict(columns(schema, chunk), schema=arrow_schema)
            writer.write_batch(batch)
            tick(batch.num_rows)


def _write_hf_dataset(
    chunks: Iterator[list[tuple[Any, ...]]], schema: str, path: Path, tick: Callable[[int], None]
) -> None:
    # datasets converts the Parquet file to its memory-mapped Arrow cache in batches and
    # save_to_disk copies that cache, so this too stays flat in memory. The folder is
    # built under a temporary name in the same directory and renamed into place.
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets  # heavy; only this format needs it

    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        source = work / "pairs.parquet"
        _write_parquet(chunks, schema, source, tick)
        dataset = datasets.Dataset.from_parquet(
            str(source), cache_dir=str(work / "cache"), keep_in_memory=False
        )
        built = work / "dataset"
        dataset.save_to_disk(str(built))
        del dataset
        if path.exists():
            # os.replace cannot put a folder over a non-empty one: move the old one aside first.
            old = work / "previous"
            os.replace(path, old)
        os.replace(built, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- PostgreSQL fast path ------------------------------------------------------------------------
# The rows above cost ~30 µs each in Python (driver conversion, JSON parse of the prompt,
# JSON encoding of the line). On PostgreSQL the database builds the exported columns
# itself, and for JSONL the whole line, which COPY streams out as it goes: Python only
# moves finished bytes to the file. This is what keeps an export above 50,000 pairs/s
# (bench/export.py). The SQL is annotate.formats.columns.sql_jsonl_line and sql_flat_columns.


def _slice_query(snapshot: Snapshot, select: str, chunk_size: int, kinds: tuple[str, ...]) -> str:
    """SQL for the next ``chunk_size`` pairs of the snapshot (of these kinds of vote) after pair id %s: the id, then ``select``."""
    table = SnapshotPair._meta.db_table
    # The kinds are VoteKind values (checked), so they are spliced in as literals.
    assert set(kinds) <= set(VoteKind.values)
    kind_list = ", ".join(f"'{kind}'" for kind in kinds)
    # Keyset slices in id order, each read off an index (the (snapshot, id) one, or the
    # primary key when the snapshot is most of the table). Each slice is its own
    # statement, so between slices the connection is free and tick() can record progress,
    # committed — visible to the page — at once; inside one long transaction, cursor or
    # COPY it could not (a COPY holds the connection until its last row).
    return (
        f"SELECT sp.id, {select} FROM {table} sp WHERE sp.snapshot_id = {int(snapshot.pk)} AND sp.id > %s "
        f"AND sp.vote_kind IN ({kind_list}) ORDER BY sp.id LIMIT {int(chunk_size)}"
    )


def _pg_rows(
    snapshot: Snapshot, select: str, chunk_size: int, kinds: tuple[str, ...]
) -> Iterator[list[tuple[Any, ...]]]:
    """Slices of (id, *select) rows in id order; memory holds one slice."""
    sql = _slice_query(snapshot, select, chunk_size, kinds)
    after = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [after])
            rows = cursor.fetchall()
        if rows:
            yield rows
        if len(rows) < chunk_size:
            return
        after = rows[-1][0]


# COPY's binary format (PostgreSQL manual, COPY, "Binary Format"): an 11-byte signature,
# an int32 of flags and an int32 header-extension length, then per row an int16 field
# count and, for each field, an int32 length and the bytes; an int16 -1 ends the data.
_PGCOPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# A row here: field count (2), the id's length (8) and value, the line's length, the line.
_PGCOPY_ID = slice(2 + 4, 2 + 4 + 8)
_PGCOPY_LINE_START = 2 + 4 + 8 + 4


def _copy_slice(cursor: Any, copy: str, after: int) -> tuple[bytearray, int, int]:
    """Run ``COPY (SELECT id, line … id > after …) TO STDOUT (FORMAT binary)``: the lines, their count, the last id."""
    lines = bytearray()
    count, last_row = 0, memoryview(b"")
    # COPY takes no bind parameters: psycopg merges ``after`` into the statement client-side.
    with cursor.copy(copy, [after]) as stream:
        # The backend sends one CopyData message per row (PostgreSQL protocol, "COPY
        # Operations"); the file header comes ahead of the first row, the trailer alone.
        messages = iter(stream)
        first = next(messages, memoryview(b""))
        if first[: len(_PGCOPY_SIGNATURE)] != _PGCOPY_SIGNATURE:
            raise RuntimeError("COPY … (FORMAT binary) did not start with the PGCOPY signature")
        extension = int.from_bytes(first[15:19], "big")
        # Each line is copied out at once, so that libpq's buffer for it is freed while
        # still in cache: holding ten thousand of them costs more than the copy.
        for message in itertools.chain([first[19 + extension :]], messages):
            # The trailer is skipped, not a reason to stop: the stream is read to its end,
            # which is what closes the COPY.
            if len(message) >= _PGCOPY_LINE_START:
                lines += message[_PGCOPY_LINE_START:]
                lines += b"\n"
                count += 1
                last_row = message
    return lines, count, int.from_bytes(last_row[_PGCOPY_ID], "big", signed=True) if count else after


def _write_jsonl_postgresql(
    snapshot: Snapshot, schema: str, out: Path, tick: Tick, chunk_size: int, kinds: Kinds = PAIRWISE
) -> None:
    # Binary rather than text or CSV: those formats scan every byte for characters to
    # escape or quote, which costs PostgreSQL — the side that limits the speed — about a
    # fifth more; in binary a text value leaves as its UTF-8 bytes behind a length.
    copy = f"COPY ({_slice_query(snapshot, sql_jsonl_line(schema), chunk_size, kinds)}) TO STDOUT (FORMAT binary)"
    per_row = rows_per_pair(schema)  # an unpaired schema's "line" is two lines
    # A writer thread overlaps the disk writes (which release the GIL) with receiving the
    # next slice; at most one slice waits, so memory stays bounded.
    with (
        out.open("wb") as handle,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="jsonl-writer") as writer,
    ):
        pending: Future[int] | None = None
        after = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                # Shortest round-trip float digits, like Python's repr (the default, unless configured lower).
                cursor.execute("SET LOCAL extra_float_digits = 1")
                lines, count, after = _copy_slice(cursor.cursor, copy, after)
            if count:
                if pending is not None:
                    pending.result()
                pending = writer.submit(handle.write, lines)
                tick(count * per_row)
            if count < chunk_size:
                break
        if pending is not None:
            pending.result()


def _write_parquet_postgresql(
    snapshot: Snapshot, schema: str, out: Path, tick: Tick, chunk_size: int, kinds: Kinds = PAIRWISE
) -> None:
    arrow_schema = ARROW_SCHEMAS[schema]
    select = sql_flat_columns(schema)
    with pq.ParquetWriter(out, arrow_schema, compression=PARQUET_COMPRESSION) as writer:
        for rows in _pg_rows(snapshot, select, chunk_size, kinds):
            columns = list(zip(*rows, strict=True))[1:]  # without the id
            arrays = [pa.array(column, type=f.type) for column, f in zip(columns, arrow_schema, strict=True)]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=arrow_schema))
            tick(len(rows))


def export_write(
    *,
    snapshot: Snapshot,
    fmt: str,
    schema: str,
    path: Path,
    chunk_size: int = CHUNK,
    progress: Progress | None = None,
    include_ties: bool = False,
) -> int:
    """Stream the snapshot's rows to ``path`` in the given format and schema; the path appears only when complete.

    Returns the rows written: one per pair, or for an unpaired schema one per response. Pairwise
    schemas write only the preference rows; ``include_ties`` (unpaired schemas only) adds the ties.
    """
    export_options_check(fmt=fmt, schema=schema, include_ties=include_ties)
    kinds = schema_vote_kinds(schema, include_ties=include_ties)
    total = export_row_total(export_row_counts(snapshot=snapshot, schema=schema, include_ties=include_ties))
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    if fmt == ExportFormat.HF_DATASET:
        _write_hf_dataset(_chunks(snapshot, schema, chunk_size, kinds), schema, path, tick)
        return done
    with atomic_file(path) as tmp:
        if connection.vendor != "postgresql":
            (_write_jsonl if fmt == ExportFormat.JSONL else _write_parquet)(
                _chunks(snapshot, schema, chunk_size, kinds), schema, tmp, tick
            )
        elif fmt == ExportFormat.JSONL:
            _write_jsonl_postgresql(snapshot, schema, tmp, tick, chunk_size, kinds)
        elif schema in (ExportSchema.TRL_CONVERSATIONAL, ExportSchema.TRL_UNPAIRED):
            # Nested turns, or two rows per pair: built in Python (the JSONL line has its SQL mirror).
            _write_parquet(_chunks(snapshot, schema, chunk_size, kinds), schema, tmp, tick)
        else:
            _write_parquet_postgresql(snapshot, schema, tmp, tick, chunk_size, kinds)
    return done


def export_options_check(*, fmt: str, schema: str, include_ties: bool = False) -> None:
    """Raise ``OptionInvalid`` naming what is wrong with an export's format, schema or options."""
    if fmt not in ExportFormat.values:
        raise OptionInvalid("format", f"must be one of {ExportFormat.values}, got {fmt!r}")
    if schema not in ExportSchema.values:
        raise OptionInvalid("schema", f"must be one of {ExportSchema.values}, got {schema!r}")
    if include_ties and schema not in UNPAIRED_SCHEMAS:
        raise OptionInvalid("include_ties", f"applies to the unpaired schema ({', '.join(UNPAIRED_SCHEMAS)}) only")
