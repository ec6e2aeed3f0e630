"""Import prompts, responses and judged pairs from files: all of a file or none of it.

``import_file`` checks the whole file first (streaming, so memory stays flat), then
writes it inside one transaction in chunks of bulk inserts with precomputed content
hashes. Prompts dedupe per project by hash, responses per prompt by hash, and
comparisons per unordered pair of responses, so importing a file twice adds nothing
the second time. Pairs, ratings and HH-RLHF transcripts also get one imported
judgment per comparison (``Judgment.is_imported``, no annotator): it records the
dataset's verdict, but counts toward neither ``vote_count`` nor ``slots_taken``,
which count human votes, so the comparison stays open for annotators.

``import_job_create`` stores an upload as an ``ImportJob`` and runs it in the request
when it is small, or in the ``annotate.import_job_run`` Celery task when it is large.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from annotate.importing.files import file_check, file_records
from annotate.importing.problems import ImportProblem, ImportRejected, rejected
from annotate.importing.readers import format_for
from annotate.importing.records import KINDS, ComparisonRecord, PromptRecord, Record, ResponseRecord
from annotate.models import Comparison, ImportJob, JobStatus, Judgment, Project, Prompt, Response
from annotate.services.content import content_hash
from annotate.services.jobs import JobKind, JobLost, job_claim, job_send_on_commit

__all__ = [
    "IMPORT_JOBS",
    "ImportProblem",
    "ImportRejected",
    "ImportResult",
    "import_file",
    "import_job_create",
    "import_job_run",
]

logger = logging.getLogger(__name__)

# Records written per round of bulk inserts: big enough that per-query overhead vanishes,
# small enough that each IN (...) lookup stays well under SQLite's 32,766-variable limit.
# 2000 unless CONCORD_IMPORT_CHUNK_RECORDS says otherwise (the fault tests make imports slow).
CHUNK = settings.CONCORD_IMPORT_CHUNK_RECORDS

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import added; ``duplicates`` counts records that added nothing new."""

    records: int
    prompts: int = 0
    responses: int = 0
    comparisons: int = 0
    judgments: int = 0
    duplicates: int = 0
    seconds: float = 0.0

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Tally:
    prompts: int = 0
    responses: int = 0
    comparisons: int = 0
    judgments: int = 0
    duplicates: int = 0


def _size_check(size: int) -> None:
    limit = settings.CONCORD_IMPORT_MAX_BYTES
    if size > limit:
        raise rejected(f"the file is {size:,} bytes; the limit is {limit:,} bytes (CONCORD_IMPORT_MAX_BYTES)")


def _kind_check(kind: str) -> None:
    if kind not in KINDS:
        raise rejected(f'unknown kind "{kind}"; use one of: {", ".join(KINDS)}')


def import_file(
    *,
    project: Project,
    path: str | Path,
    kind: str,
    fmt: str | None = None,
    created_by: Any = None,
    batch: str = "",
    progress: Progress | None = None,
) -> ImportResult:
    """Import every record of the file or, raising ``ImportRejected`` with its problems, none of them.

    ``progress(done, total)`` is called while checking with ``total`` 0 (not yet known),
    then after each chunk written with the number of records in the file.
    """
    started = time.monotonic()
    path = Path(path)
    _kind_check(kind)
    fmt = format_for(name=path.name, fmt=fmt)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise rejected(f"cannot read the file: {exc.strerror}") from exc
    _size_check(size)
    total = file_check(
        path=path, fmt=fmt, kind=kind, max_records=settings.CONCORD_IMPORT_MAX_RECORDS, progress=progress
    )
    if progress is not None:
        progress(0, total)
    tally = _Tally()
    done = 0
    with transaction.atomic():
        # One import per project at a time, so the look-up-then-insert below cannot race another import.
        # FOR NO KEY UPDATE does not block the FOR KEY SHARE locks that inserting leases and
        # judgments take on the project row, so annotators keep working meanwhile.
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
        touched: set[int] = set()
        for chunk in _chunks(file_records(path=path, fmt=fmt, kind=kind), CHUNK):
            if kind == "prompts":
                _write_prompts(project, chunk, tally)  # type: ignore[arg-type]
            elif kind == "responses":
                touched |= _write_responses(project, chunk, tally)  # type: ignore[arg-type]
            else:
                _write_comparisons(project, chunk, batch, tally)  # type: ignore[arg-type]
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        if touched:
            tally.comparisons += _comparisons_for_all_pairs(project, touched, batch)
    result = ImportResult(records=total, seconds=round(time.monotonic() - started, 3), **asdict(tally))
    logger.info("import into %s of %s (%s) by %s: %s", project.slug, path.name, kind, created_by, result)
    return result


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _rows_insert(model: type[Model], rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows (attribute name such as ``prompt_id`` -> value; other fields take their defaults) and return their ids, in order.

    On PostgreSQL this is COPY with ids drawn from the table's sequence beforehand: the ORM's
    bulk_create spends most of its time building model instances and SQL parameters, and
    100k pairs (500k rows) took two minutes that way against a few seconds with COPY.
    """
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


def _prompts_ensure(
    project: Project, wanted: dict[str, tuple[Any, dict[str, Any]]]
) -> tuple[dict[str, int], set[str]]:
    """Ids of the project's prompts with these hashes, creating the missing ones; and the new hashes."""
    ids = dict(
        Prompt.objects.filter(project=project, content_hash__in=list(wanted)).values_list(
            "content_hash", "id"
        )
    )
    missing = [h for h in wanted if h not in ids]
    rows = [
        {"project_id": project.pk, "content": wanted[h][0], "content_hash": h, "metadata": wanted[h][1]}
        for h in missing
    ]
    ids.update(zip(missing, _rows_insert(Prompt, rows), strict=True))
    return ids, set(missing)


ResponseKey = tuple[int, str]  # (prompt id, text hash)


def _responses_ensure(
    wanted: dict[ResponseKey, tuple[str, str, dict[str, Any]]], new_prompts: set[int]
) -> tuple[dict[ResponseKey, int], set[ResponseKey]]:
    """Ids of the responses with these (prompt, hash) keys, creating the missing ones; and the new keys."""
    # A prompt created in this chunk has no responses yet: look up only the older ones.
    old = [key for key in wanted if key[0] not in new_prompts]
    ids: dict[ResponseKey, int] = {}
    if old:
        ids = {(p, h): i for p, h, i in _responses_lookup(old) if (p, h) in wanted}
    missing = [key for key in wanted if key not in ids]
    new_rows = [
        {
            "prompt_id": key[0],
            "content_hash": key[1],
            "text": wanted[key][0],
            "model_version": wanted[key][1],
            "metadata": wanted[key][2],
        }
        for key in missing
    ]
    ids.update(zip(missing, _rows_insert(Response, new_rows), strict=True))
    return ids, set(missing)


def _responses_lookup(keys: list[ResponseKey]) -> list[tuple[int, str, int]]:
    """(prompt id, hash, id) of the existing responses among these keys."""
    if not keys:
        return []
    return list(
        Response.objects.filter(
            prompt_id__in={k[0] for k in keys}, content_hash__in={k[1] for k in keys}
        ).values_list("prompt_id", "content_hash", "id")
    )


def _comparisons_lookup(pairs: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(id, response_a id, response_b id) of the existing comparisons of these pairs, in either order."""
    if not pairs:
        return []
    if connection.vendor == "postgresql":
        firsts = [a for a, b in pairs] + [b for a, b in pairs]
        seconds = [b for a, b in pairs] + [a for a, b in pairs]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT c.id, c.response_a_id, c.response_b_id FROM {Comparison._meta.db_table} c "
                "JOIN unnest(%s::bigint[], %s::bigint[]) AS k(a, b) ON c.response_a_id = k.a AND c.response_b_id = k.b",
                [firsts, seconds],
            )
            return list(cursor.fetchall())
    ids = {i for pair in pairs for i in pair}
    return list(
        Comparison.objects.filter(response_a_id__in=ids, response_b_id__in=ids).values_list(
            "id", "response_a_id", "response_b_id"
        )
    )


def _write_prompts(project: Project, chunk: list[PromptRecord], tally: _Tally) -> None:
    wanted: dict[str, tuple[Any, dict[str, Any]]] = {}
    for record in chunk:
        wanted.setdefault(content_hash(record.prompt), (record.prompt, record.metadata))
    _, new = _prompts_ensure(project, wanted)
    tally.prompts += len(new)
    tally.duplicates += len(chunk) - len(new)


def _write_responses(project: Project, chunk: list[ResponseRecord], tally: _Tally) -> set[int]:
    prompt_hashes = [content_hash(r.prompt) for r in chunk]
    wanted_prompts: dict[str, tuple[Any, dict[str, Any]]] = {}
    for h, record in zip(prompt_hashes, chunk, strict=True):
        wanted_prompts.setdefault(h, (record.prompt, {}))
    prompt_ids, new_prompt_hashes = _prompts_ensure(project, wanted_prompts)
    wanted: dict[ResponseKey, tuple[str, str, dict[str, Any]]] = {}
    for h, record in zip(prompt_hashes, chunk, strict=True):
        key = (prompt_ids[h], content_hash(record.response))
        wanted.setdefault(key, (record.response, record.model_version, record.metadata))
    _, new = _responses_ensure(wanted, {prompt_ids[h] for h in new_prompt_hashes})
    tally.prompts += len(new_prompt_hashes)
    tally.responses += len(new)
    tally.duplicates += len(chunk) - len(new)
    return {key[0] for key in new}


def _write_comparisons(
    project: Project, chunk: list[ComparisonRecord], default_batch: str, tally: _Tally
) -> None:
    prompt_hashes = [content_hash(r.prompt) for r in chunk]
    wanted_prompts: dict[str, tuple[Any, dict[str, Any]]] = {}
    for h, record in zip(prompt_hashes, chunk, strict=True):
        wanted_prompts.setdefault(h, (record.prompt, {}))
    prompt_ids, new_prompt_hashes = _prompts_ensure(project, wanted_prompts)

    wanted: dict[ResponseKey, tuple[str, str, dict[str, Any]]] = {}
    sides: list[tuple[int, ResponseKey, ResponseKey]] = []
    for h, record in zip(prompt_hashes, chunk, strict=True):
        prompt_id = prompt_ids[h]
        a = (prompt_id, content_hash(record.response_a))
        b = (prompt_id, content_hash(record.response_b))
        wanted.setdefault(a, (record.response_a, "", {}))
        wanted.setdefault(b, (record.response_b, "", {}))
        sides.append((prompt_id, a, b))
    response_ids, new_responses = _responses_ensure(wanted, {prompt_ids[h] for h in new_prompt_hashes})

    # Comparisons are unique per unordered pair; only a pair of two old responses may already have one.
    pairs = [(response_ids[a], response_ids[b]) for _, a, b in sides]
    old_pairs_wanted = [
        (ia, ib)
        for (_, a, b), (ia, ib) in zip(sides, pairs, strict=True)
        if a not in new_responses and b not in new_responses
    ]
    # pair -> (comparison id, its response_a id)
    existing = {frozenset((ra, rb)): (cid, ra) for cid, ra, rb in _comparisons_lookup(old_pairs_wanted)}
    old_pairs = set(existing)
    new: dict[frozenset[int], dict[str, Any]] = {}
    for (prompt_id, _, _), (ia, ib), record in zip(sides, pairs, chunk, strict=True):
        key = frozenset((ia, ib))
        if key not in existing and key not in new:
            new[key] = {
                "project_id": project.pk,
                "prompt_id": prompt_id,
                "response_a_id": ia,
                "response_b_id": ib,
                "batch": record.batch or default_batch,
            }
    for (key, row), comparison_id in zip(
        new.items(), _rows_insert(Comparison, list(new.values())), strict=True
    ):
        existing[key] = (comparison_id, row["response_a_id"])

    # One imported verdict per comparison: the first the data gives. A repeat, in this file or a later
    # one, is a duplicate, so re-importing a file adds nothing.
    judged = (
        set(
            Judgment.objects.filter(
                comparison_id__in=[existing[k][0] for k in old_pairs], is_imported=True
            ).values_list("comparison_id", flat=True)
        )
        if old_pairs
        else set()
    )
    judgments: list[dict[str, Any]] = []
    for (ia, ib), record in zip(pairs, chunk, strict=True):
        comparison_id, stored_a = existing[frozenset((ia, ib))]
        if comparison_id in judged:
            tally.duplicates += 1
            continue
        judged.add(comparison_id)
        # The record's "a" is ia; if the stored comparison has the pair the other way round, so is the verdict.
        choice = record.choice if stored_a == ia else {"a": "b", "b": "a"}[record.choice]
        judgments.append(
            {"comparison_id": comparison_id, "choice": choice, "strength": record.strength, "is_imported": True}
        )
    _rows_insert(Judgment, judgments)
    tally.prompts += len(new_prompt_hashes)
    tally.responses += len(new_responses)
    tally.comparisons += len(new)
    tally.judgments += len(judgments)


def _comparisons_for_all_pairs(project: Project, prompt_ids: set[int], batch: str) -> int:
    """A comparison for each unordered pair of each prompt's responses (old ones included); how many were new."""
    created = 0
    ordered = sorted(prompt_ids)
    for start in range(0, len(ordered), 500):
        group = ordered[start : start + 500]
        responses: dict[int, list[int]] = {}
        for prompt_id, response_id in (
            Response.objects.filter(prompt_id__in=group)
            .order_by("prompt_id", "id")
            .values_list("prompt_id", "id")
        ):
            responses.setdefault(prompt_id, []).append(response_id)
        existing = {
            frozenset(pair)
            for pair in Comparison.objects.filter(prompt_id__in=group).values_list(
                "response_a_id", "response_b_id"
            )
        }
        new = [
            {"project_id": project.pk, "prompt_id": prompt_id, "response_a_id": first, "response_b_id": second,
             "batch": batch}
            for prompt_id, ids in responses.items()
            for i, first in enumerate(ids)
            for second in ids[i + 1 :]
            if frozenset((first, second)) not in existing
        ]  # fmt: skip
        for offset in range(0, len(new), CHUNK):
            _rows_insert(Comparison, new[offset : offset + CHUNK])
        created += len(new)
    return created


# --- Jobs ---------------------------------------------------------------------------------


def _record_estimate(path: Path, fmt: str, inline_max: int) -> int:
    """Roughly how many records a file holds, cheaply: enough to choose between the request and a worker."""
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:
            return 0  # unreadable: the checker will say why, quickly
    if fmt == "json":
        # Counting a JSON array means decoding it; a few hundred bytes a record is typical of this data.
        return path.stat().st_size // 200
    with path.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    return lines - 1 if fmt == "csv" else lines


def import_job_create(
    *,
    project: Project,
    uploaded_file: UploadedFile,
    kind: str,
    fmt: str | None = None,
    created_by: Any,
    batch: str = "",
) -> ImportJob:
    """A stored import job for the upload, already run when small, else queued for a worker.

    Raises ``ImportRejected`` (and stores nothing) for an unknown kind or format or a file over the size limit.
    A large job is sent to the broker once the transaction commits; if the broker is down
    the job stays QUEUED (waiting for a worker) and the reaper sends it when it is back.
    """
    _kind_check(kind)
    name = uploaded_file.name or "upload"
    fmt = format_for(name=name, fmt=fmt)
    _size_check(uploaded_file.size or 0)
    job = ImportJob(
        project=project, created_by=created_by, kind=kind, format=fmt, original_name=name[:255], batch=batch[:100]
    )
    job.file.save(Path(name).name, uploaded_file, save=False)
    job.save()
    inline_max = settings.CONCORD_IMPORT_INLINE_MAX_RECORDS
    with _local_path(job) as path:
        estimate = _record_estimate(path, fmt, inline_max)
    if estimate <= inline_max:
        return import_job_run(job_id=job.pk) or job
    job_send_on_commit(kind=IMPORT_JOBS, job_id=job.pk)
    return job


def _import_job_send(job_id: int) -> None:
    from annotate.tasks.imports import import_job_run_task

    import_job_run_task.delay(job_id)


# Nothing to discard after a lost attempt: its transaction died with its connection, and
# the uploaded file stays for the next attempt.
IMPORT_JOBS = JobKind(name="import", model=ImportJob, send=_import_job_send)


@contextmanager
def _local_path(job: ImportJob) -> Iterator[Path]:
    """The job's file on local disk: its own path on a filesystem storage, else a temporary copy."""
    try:
        yield Path(job.file.path)
        return
    except NotImplementedError:
        pass
    suffix = Path(job.file.name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as copy, job.file.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            copy.write(block)
        copy.flush()
        yield Path(copy.name)


def import_job_run(*, job_id: int, batch: str | None = None) -> ImportJob | None:
    """Run the job under a claim to SUCCEEDED (with ``counts``) or FAILED (with ``errors``); the row as it stands otherwise.

    A job that is finished, or running under a live worker, is left alone. A reclaimed
    job starts its one transaction from scratch: the lost attempt's was rolled back when
    its connection died. ``batch`` is for task messages sent before the job stored it.
    """
    claim = job_claim(kind=IMPORT_JOBS, job_id=job_id)
    if claim is None:
        return ImportJob.objects.filter(pk=job_id).first()
    job = ImportJob.objects.select_related("project", "created_by").get(pk=job_id)
    fields: dict[str, Any]
    with claim:
        try:
            with _local_path(job) as path:
                result = import_file(
                    project=job.project,
                    path=path,
                    kind=job.kind,
                    fmt=job.format,
                    created_by=job.created_by,
                    batch=job.batch or batch or "",
                    progress=claim.progress,
                )
        except JobLost:
            # Another attempt holds the job now; this one's transaction was rolled back.
            return ImportJob.objects.filter(pk=job_id).first()
        except ImportRejected as exc:
            fields = {
                "status": JobStatus.FAILED,
                "errors": [p.as_dict() for p in exc.problems],
                "error_message": exc.message,
            }
        except SoftTimeLimitExceeded:
            fields = {
                "status": JobStatus.FAILED,
                "error_message": "the import ran out of time; nothing was written",
            }
        except Exception as exc:
            logger.exception("import job %s failed", job_id)
            fields = {
                "status": JobStatus.FAILED,
                "error_message": f"the import failed and nothing was written: {exc!r}",
            }
        else:
            fields = {
                "status": JobStatus.SUCCEEDED,
                "counts": result.as_counts(),
                "processed": result.records,
                "total": result.records,
            }
        claim.finish(**fields)
    return ImportJob.objects.filter(pk=job_id).first()
