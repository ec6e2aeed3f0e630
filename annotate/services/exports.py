"""Exports of a snapshot as HH-RLHF / TRL preference data, in JSONL, Parquet or a `datasets` folder.

Memory stays flat whatever the snapshot's size: pairs stream from the database in
slices (on PostgreSQL one keyset query — for JSONL one ``COPY`` — per slice, elsewhere
``.iterator(chunk_size=…)``), JSONL is written slice by slice, Parquet one row group
per slice, and progress is reported after each slice. Files appear
atomically: everything is written to a temporary name in the destination's folder
and moved into place with ``os.replace`` only when complete, so a reader never sees a
partial file at the final path.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction

from annotate.models import ExportFormat, ExportJob, ExportSchema, JobStatus, Snapshot, SnapshotPair
from annotate.services.jobs import JobKind, JobLost, job_claim, job_send_on_commit

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
CHUNK = 10_000
# Snappy: Parquet's default codec, about twice as fast to write as zstd for ~25% larger files.
PARQUET_COMPRESSION = "snappy"
EXTENSIONS = {ExportFormat.JSONL: ".jsonl", ExportFormat.PARQUET: ".parquet", ExportFormat.HF_DATASET: ""}

# HH-RLHF speaker names (Bai et al., 2022): "\n\nHuman: " and "\n\nAssistant: " turns, and ours for a
# system turn, "\n\nSystem: ", where it is in the conversation; the HH import reads exactly these three
# (annotate.importing.records.hh_turns), which are the only roles an import stores.
_HH_SPEAKER = {
    "user": "Human",
    "human": "Human",
    "assistant": "Assistant",
    "gpt": "Assistant",
    "bot": "Assistant",
    "system": "System",
}
# TRL's conversational roles.
_TRL_ROLE = {"human": "user", "gpt": "assistant", "bot": "assistant"}

_TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
_STATS = [("margin", pa.float64()), ("agreement", pa.float64()), ("votes", pa.int32())]
ARROW_SCHEMAS: dict[str, pa.Schema] = {
    ExportSchema.HH: pa.schema([("chosen", pa.string()), ("rejected", pa.string()), *_STATS]),
    ExportSchema.TRL_STANDARD: pa.schema(
        [("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string()), *_STATS]
    ),
    ExportSchema.TRL_CONVERSATIONAL: pa.schema(
        [("prompt", pa.list_(_TURN)), ("chosen", pa.list_(_TURN)), ("rejected", pa.list_(_TURN)), *_STATS]
    ),
}


def hh_transcript(turns: list[dict[str, str]]) -> str:
    """The prompt turns as an HH-RLHF transcript: each turn "\\n\\nHuman: …", "\\n\\nAssistant: …" or "\\n\\nSystem: …"."""
    return "".join(
        f"\n\n{_HH_SPEAKER.get(t['role'].lower(), t['role'].capitalize())}: {t['content']}" for t in turns
    )


def _columns(schema: str, chunk: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    """One slice of pairs as columns in the export schema."""
    prompts = [row[0] for row in chunk]
    chosen = [row[1] for row in chunk]
    rejected = [row[2] for row in chunk]
    transcripts = [row[6] for row in chunk]
    if schema == ExportSchema.HH:
        heads = [t + "\n\nAssistant: " for t in transcripts]
        columns: dict[str, list[Any]] = {
            "chosen": [h + c for h, c in zip(heads, chosen, strict=True)],
            "rejected": [h + r for h, r in zip(heads, rejected, strict=True)],
        }
    elif schema == ExportSchema.TRL_STANDARD:
        # prompt + chosen is exactly the HH "chosen" transcript.
        columns = {
            "prompt": [t + "\n\nAssistant:" for t in transcripts],
            "chosen": [" " + c for c in chosen],
            "rejected": [" " + r for r in rejected],
        }
    elif schema == ExportSchema.TRL_CONVERSATIONAL:
        columns = {
            "prompt": [
                [{"role": _TRL_ROLE.get(t["role"].lower(), t["role"].lower()), "content": t["content"]} for t in p]
                for p in prompts
            ],
            "chosen": [[{"role": "assistant", "content": c}] for c in chosen],
            "rejected": [[{"role": "assistant", "content": r}] for r in rejected],
        }
    else:
        raise ValueError(f"unknown export schema {schema!r}")
    columns["margin"] = [row[3] for row in chunk]
    columns["agreement"] = [row[4] for row in chunk]
    columns["votes"] = [row[5] for row in chunk]
    return columns


def _chunks(snapshot: Snapshot, chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    # .iterator() on PostgreSQL is a server-side cursor: the database hands rows over
    # chunk_size at a time, so neither side materialises the snapshot.
    rows = (
        SnapshotPair.objects.filter(snapshot=snapshot)
        .order_by("id")
        .values_list("prompt", "chosen", "rejected", "margin", "agreement", "votes", "transcript")
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
def _atomic_file(path: Path) -> Iterator[Path]:
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


def _write_jsonl(chunks: Iterator[list[tuple[Any, ...]]], schema: str, out: Path, tick: Callable[[int], None]) -> None:
    names = ARROW_SCHEMAS[schema].names
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    with out.open("w", encoding="utf-8", newline="\n") as handle:
        for chunk in chunks:
            columns = _columns(schema, chunk)
            handle.write(
                "".join(dumps(dict(zip(names, values, strict=True))) + "\n" for values in zip(*columns.values(), strict=True))
            )
            tick(len(chunk))


def _write_parquet(chunks: Iterator[list[tuple[Any, ...]]], schema: str, out: Path, tick: Callable[[int], None]) -> None:
    arrow_schema = ARROW_SCHEMAS[schema]
    with pq.ParquetWriter(out, arrow_schema, compression=PARQUET_COMPRESSION) as writer:
        for chunk in chunks:
            # One row group per slice: readers can stream the file back the same way.
            writer.write_batch(pa.RecordBatch.from_pydict(_columns(schema, chunk), schema=arrow_schema))
            tick(len(chunk))


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
        dataset = datasets.Dataset.from_parquet(str(source), cache_dir=str(work / "cache"), keep_in_memory=False)
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
# (bench/export.py). The SQL mirrors hh_transcript, _columns and _write_jsonl exactly;
# tests compare the two paths byte for byte.


def _sql_speaker() -> str:
    cases = " ".join(f"WHEN '{role}' THEN '{name}'" for role, name in _HH_SPEAKER.items())
    # Python's str.capitalize for any other role.
    return f"CASE lower(t->>'role') {cases} ELSE upper(left(t->>'role', 1)) || lower(substr(t->>'role', 2)) END"


def _sql_trl_role() -> str:
    cases = " ".join(f"WHEN '{role}' THEN '{name}'" for role, name in _TRL_ROLE.items())
    return f"CASE lower(t->>'role') {cases} ELSE lower(t->>'role') END"


def sql_hh_transcript(turns: str) -> str:
    """SQL for hh_transcript of a jsonb array of turns (the expression ``turns``)."""
    return (
        "(SELECT coalesce(string_agg(E'\\n\\n' || " + _sql_speaker() + " || ': ' || (t->>'content'), '' ORDER BY o), '')"
        f" FROM jsonb_array_elements({turns}) WITH ORDINALITY AS e(t, o))"
    )


def _sql_text_columns(schema: str) -> list[tuple[str, str]]:
    """(name, SQL expression) of the text columns of a flat schema, over ``annotate_snapshotpair`` aliased ``sp``."""
    if schema == ExportSchema.HH:
        head = "sp.transcript || E'\\n\\nAssistant: '"
        return [("chosen", f"{head} || sp.chosen"), ("rejected", f"{head} || sp.rejected")]
    if schema == ExportSchema.TRL_STANDARD:
        return [
            ("prompt", "sp.transcript || E'\\n\\nAssistant:'"),
            ("chosen", "' ' || sp.chosen"),
            ("rejected", "' ' || sp.rejected"),
        ]
    raise ValueError(f"no flat SQL columns for export schema {schema!r}")


def _sql_json_number(column: str) -> str:
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


def _sql_json_string(expression: str) -> str:
    # to_json(text) escapes exactly as json.encoder.encode_basestring does (ensure_ascii=False):
    # \" \\ \b \f \n \r \t, \u00XX in lower case for the other controls, everything else as is.
    return f"to_json({expression})::text"


def _sql_jsonl_line(schema: str) -> str:
    """SQL for one JSONL line, byte for byte what _write_jsonl writes, over ``annotate_snapshotpair`` aliased ``sp``."""
    if schema == ExportSchema.TRL_CONVERSATIONAL:
        # The turn's content goes out as its jsonb text: for a string, that is to_json's escaping.
        turn = (
            """'{"role": ' || """ + _sql_json_string(_sql_trl_role()) + """ || ', "content": ' || (t->'content')::text || '}'"""
        )

        def reply(column: str) -> str:
            return """'[{"role": "assistant", "content": ' || """ + _sql_json_string(column) + " || '}]'"

        fields = [
            (
                "prompt",
                f"(SELECT '[' || coalesce(string_agg({turn}, ', ' ORDER BY o), '') || ']'"
                " FROM jsonb_array_elements(sp.prompt) WITH ORDINALITY AS e(t, o))",
            ),
            ("chosen", reply("sp.chosen")),
            ("rejected", reply("sp.rejected")),
        ]
    else:
        # The transcript head is escaped with each side: escaping it once and splicing the
        # escaped pieces needs char-counting left()/right() calls, which cost more.
        fields = [(name, _sql_json_string(expr)) for name, expr in _sql_text_columns(schema)]
    fields += [
        ("margin", _sql_json_number("sp.margin")),
        ("agreement", _sql_json_number("sp.agreement")),
        ("votes", "sp.votes::text"),
    ]
    # json.JSONEncoder(separators=(", ", ": ")): {"name": value, "name": value}.
    return "'{' || " + " || ', ' || ".join(f"""'"{name}": ' || {expr}""" for name, expr in fields) + " || '}'"


def _slice_query(snapshot: Snapshot, select: str, chunk_size: int) -> str:
    """SQL for the next ``chunk_size`` pairs of the snapshot after pair id %s: the id, then ``select``."""
    table = SnapshotPair._meta.db_table
    # Keyset slices in id order, each read off an index (the (snapshot, id) one, or the
    # primary key when the snapshot is most of the table). Each slice is its own
    # statement, so between slices the connection is free and tick() can record progress,
    # committed — visible to the page — at once; inside one long transaction, cursor or
    # COPY it could not (a COPY holds the connection until its last row).
    return (
        f"SELECT sp.id, {select} FROM {table} sp WHERE sp.snapshot_id = {int(snapshot.pk)} AND sp.id > %s "
        f"ORDER BY sp.id LIMIT {int(chunk_size)}"
    )


def _pg_rows(snapshot: Snapshot, select: str, chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Slices of (id, *select) rows in id order; memory holds one slice."""
    sql = _slice_query(snapshot, select, chunk_size)
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
    snapshot: Snapshot, schema: str, out: Path, tick: Callable[[int], None], chunk_size: int
) -> None:
    # Binary rather than text or CSV: those formats scan every byte for characters to
    # escape or quote, which costs PostgreSQL — the side that limits the speed — about a
    # fifth more; in binary a text value leaves as its UTF-8 bytes behind a length.
    copy = f"COPY ({_slice_query(snapshot, _sql_jsonl_line(schema), chunk_size)}) TO STDOUT (FORMAT binary)"
    # A writer thread overlaps the disk writes (which release the GIL) with receiving the
    # next slice; at most one slice waits, so memory stays bounded.
    with out.open("wb") as handle, ThreadPoolExecutor(max_workers=1, thread_name_prefix="jsonl-writer") as writer:
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
                tick(count)
            if count < chunk_size:
                break
        if pending is not None:
            pending.result()


def _write_parquet_postgresql(
    snapshot: Snapshot, schema: str, out: Path, tick: Callable[[int], None], chunk_size: int
) -> None:
    arrow_schema = ARROW_SCHEMAS[schema]
    select = ", ".join([*(expr for _, expr in _sql_text_columns(schema)), "sp.margin", "sp.agreement", "sp.votes"])
    with pq.ParquetWriter(out, arrow_schema, compression=PARQUET_COMPRESSION) as writer:
        for rows in _pg_rows(snapshot, select, chunk_size):
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
) -> int:
    """Stream the snapshot's pairs to ``path`` in the given format and schema; the path appears only when complete."""
    if fmt not in ExportFormat.values:
        raise ValueError(f"format must be one of {ExportFormat.values}, got {fmt!r}")
    if schema not in ExportSchema.values:
        raise ValueError(f"schema must be one of {ExportSchema.values}, got {schema!r}")
    total = snapshot.pair_count
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    if fmt == ExportFormat.HF_DATASET:
        _write_hf_dataset(_chunks(snapshot, chunk_size), schema, path, tick)
        return done
    with _atomic_file(path) as tmp:
        if connection.vendor != "postgresql":
            (_write_jsonl if fmt == ExportFormat.JSONL else _write_parquet)(_chunks(snapshot, chunk_size), schema, tmp, tick)
        elif fmt == ExportFormat.JSONL:
            _write_jsonl_postgresql(snapshot, schema, tmp, tick, chunk_size)
        elif schema == ExportSchema.TRL_CONVERSATIONAL:
            _write_parquet(_chunks(snapshot, chunk_size), schema, tmp, tick)
        else:
            _write_parquet_postgresql(snapshot, schema, tmp, tick, chunk_size)
    return done


def export_archive_path(path: Path) -> Path:
    """Where the downloadable zip of a `datasets` folder export lives."""
    return path.with_name(path.name + ".zip")


def _zip_folder(folder: Path) -> Path:
    target = export_archive_path(folder)
    with _atomic_file(target) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, Path(folder.name) / file.relative_to(folder))
    return target


def export_job_path(job: ExportJob) -> Path:
    """The final path of a job's export under MEDIA_ROOT/exports/<project>/."""
    snapshot = job.snapshot
    slug = snapshot.project.slug
    name = f"{slug}-v{snapshot.version}-{job.schema}-{job.pk}{EXTENSIONS[ExportFormat(job.format)]}"
    return Path(settings.MEDIA_ROOT) / "exports" / slug / name


def export_job_create(*, snapshot: Snapshot, fmt: str, schema: str, created_by: User | None = None) -> ExportJob:
    """A queued export job, sent to the broker once this transaction commits (or by the reaper, if the broker is down)."""
    if fmt not in ExportFormat.values:
        raise ValueError(f"format must be one of {ExportFormat.values}, got {fmt!r}")
    if schema not in ExportSchema.values:
        raise ValueError(f"schema must be one of {ExportSchema.values}, got {schema!r}")
    job = ExportJob.objects.create(
        snapshot=snapshot, format=fmt, schema=schema, total=snapshot.pair_count, created_by=created_by
    )
    job_send_on_commit(kind=EXPORT_JOBS, job_id=job.pk)
    return job


def _export_job_send(job_id: int) -> None:
    from annotate.tasks.exports import export_job_run_task

    export_job_run_task.delay(job_id)


def export_partial_discard(job: ExportJob) -> None:
    """Remove whatever an unfinished attempt of the job left: ``.part`` files, a half-built or unzipped `datasets` folder."""
    row = ExportJob.objects.select_related("snapshot__project").filter(pk=job.pk).first()
    if row is None:
        return
    path = export_job_path(row)
    if not path.parent.is_dir():
        return
    # The temporary names all start ".<final name>." (_atomic_file, _write_hf_dataset), and
    # the final name holds the job's id, so nothing else matches.
    leftovers = [*path.parent.glob(f".{path.name}.*"), path, export_archive_path(path)]
    for leftover in leftovers:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


EXPORT_JOBS = JobKind(name="export", model=ExportJob, send=_export_job_send, discard=export_partial_discard)


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Run a queued export under a claim: queued → running → succeeded/failed; None when it is not ours to run.

    A job reclaimed from a lost worker starts over from the first pair; the claim removed
    the lost attempt's partial files first.
    """
    claim = job_claim(kind=EXPORT_JOBS, job_id=job_id)
    if claim is None:
        return None
    job = ExportJob.objects.select_related("snapshot__project").get(pk=job_id)
    path = export_job_path(job)
    with claim:
        try:
            written = export_write(
                snapshot=job.snapshot,
                fmt=job.format,
                schema=job.schema,
                path=path,
                chunk_size=settings.CONCORD_EXPORT_CHUNK_ROWS,
                progress=claim.progress,
            )
            if job.format == ExportFormat.HF_DATASET:
                _zip_folder(path)
        except JobLost:
            return ExportJob.objects.filter(pk=job_id).first()  # the new holder redoes it
        except Exception as exc:  # recorded on the row, which is the source of truth for the page
            logger.exception("export job %s failed", job_id)
            # Only while the claim holds: after a takeover the leftovers may be the new attempt's work.
            if claim.finish(status=JobStatus.FAILED, error_message=f"{type(exc).__name__}: {exc}"[:2000]):
                export_partial_discard(job)
        else:
            claim.finish(status=JobStatus.SUCCEEDED, processed=written, total=written, path=str(path))
    job.refresh_from_db()
    return job


def export_download_path(job: ExportJob) -> Path | None:
    """The file to hand to a browser for a finished job (the zip for a `datasets` folder), if it exists."""
    if job.status != JobStatus.SUCCEEDED or not job.path:
        return None
    path = Path(job.path)
    if job.format == ExportFormat.HF_DATASET:
        path = export_archive_path(path)
    return path if path.is_file() else None
