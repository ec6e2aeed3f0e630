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
The writes of each chunk are ``annotate.services.import_writer``'s, the cleaning of old
uploads ``annotate.services.import_files``'.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from annotate.importing.files import file_check, file_records, kind_check
from annotate.importing.kinds import Record
from annotate.importing.limits import ImportLimits
from annotate.importing.parquet_reader import ParquetSource
from annotate.importing.problems import ImportProblem, ImportRejected, rejected
from annotate.importing.readers import format_for, records_open
from annotate.importing.records import batch_problems
from annotate.models import ImportJob, JobStatus, Project
from annotate.services.import_writer import (
    ImportResult,
    comparisons_for_pairs_write,
    comparisons_write,
    prompts_write,
    responses_write,
)
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


def import_limits() -> ImportLimits:
    """The configured limits on one import (config.settings, "Import limits")."""
    return ImportLimits(
        max_records=settings.CONCORD_IMPORT_MAX_RECORDS,
        max_field_chars=settings.CONCORD_IMPORT_MAX_FIELD_CHARS,
        max_record_bytes=settings.CONCORD_IMPORT_MAX_RECORD_BYTES,
        max_json_depth=settings.CONCORD_IMPORT_MAX_JSON_DEPTH,
        max_uncompressed_bytes=settings.CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES,
    )


def _size_check(size: int) -> None:
    limit = settings.CONCORD_IMPORT_MAX_BYTES
    if size > limit:
        raise rejected(f"the file is {size:,} bytes; the limit is {limit:,} bytes (CONCORD_IMPORT_MAX_BYTES)")


def _batch_check(batch: str) -> None:
    """The import's own batch label (API field, --batch) obeys the rules of a record's ``batch``."""
    problems = [message for field, message in batch_problems(batch)]
    if problems:
        raise rejected(f"the import's batch {problems[0]}", field="batch")


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
    kind_check(kind)
    _batch_check(batch)
    # A datasets folder (save_to_disk, as the hf_dataset export writes) is known by its state.json.
    folder = path.is_dir() and (path / "state.json").is_file()
    fmt = format_for(name=path.name, fmt=fmt or ("hf_dataset" if folder else None))
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise rejected(f"cannot read the file: {exc.strerror}") from exc
    _size_check(size)
    limits = import_limits()
    total = file_check(path=path, fmt=fmt, kind=kind, limits=limits, progress=progress)
    if progress is not None:
        progress(0, total)
    result = ImportResult(records=total)
    done = 0
    with transaction.atomic():
        # One import per project at a time, so the look-up-then-insert below cannot race another import.
        # FOR NO KEY UPDATE does not block the FOR KEY SHARE locks that inserting leases and
        # judgments take on the project row, so annotators keep working meanwhile.
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
        touched: set[int] = set()
        for chunk in _chunks(file_records(path=path, fmt=fmt, kind=kind, limits=limits), CHUNK):
            if kind == "prompts":
                prompts_write(project, chunk, result)  # type: ignore[arg-type]
            elif kind == "responses":
                touched |= responses_write(project, chunk, result)  # type: ignore[arg-type]
            elif kind == "unpaired":
                # Responses with their imported verdict; no comparisons (a verdict is on one response).
                responses_write(project, chunk, result)  # type: ignore[arg-type]
            else:
                comparisons_write(project, chunk, batch, result)  # type: ignore[arg-type]
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        if touched:
            comparisons_for_pairs_write(
                project, touched, batch, result, settings.CONCORD_IMPORT_MAX_PAIRS_PER_PROMPT
            )
    if result.capped_prompts:
        result.warnings = (
            f"{result.pairs_not_created:,} pairs of responses were not made into comparisons: "
            f"{result.capped_prompts:,} prompts have more pairs than the limit of "
            f"{settings.CONCORD_IMPORT_MAX_PAIRS_PER_PROMPT:,} per prompt (CONCORD_IMPORT_MAX_PAIRS_PER_PROMPT); "
            "pairs were chosen so that every response is compared",
        )
    result.seconds = round(time.monotonic() - started, 3)
    logger.info("import into %s of %s (%s) by %s: %s", project.slug, path.name, kind, created_by, result)
    return result


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk



# --- Jobs ---------------------------------------------------------------------------------


def _record_estimate(path: Path, fmt: str) -> int:
    """Roughly how many records a file holds, cheaply, or more than the inline limit when it is big in bytes.

    Enough to choose between the request and a worker: a file over CONCORD_IMPORT_INLINE_MAX_BYTES
    (for Parquet, its uncompressed size from the metadata) goes to a worker however few records it has.
    """
    over = settings.CONCORD_IMPORT_INLINE_MAX_RECORDS + 1
    inline_bytes = settings.CONCORD_IMPORT_INLINE_MAX_BYTES
    if fmt == "parquet":
        try:
            source = records_open(path=path, fmt=fmt, limits=ImportLimits(max_uncompressed_bytes=2**62))
        except ImportRejected:
            return 0  # unreadable: the checker will say why, quickly
        assert isinstance(source, ParquetSource)
        if source.uncompressed > inline_bytes:
            return over
        try:
            # Dictionary-encoded columns are small in the metadata and large decoded; measure them
            # (text stays undecoded, and the count stops once past the inline limit).
            if source.decoded_bytes(stop_above=inline_bytes) > inline_bytes:
                return over
        except Exception:
            return over  # a corrupt page: the worker reports it
        return int(source.rows)
    size = path.stat().st_size
    if size > inline_bytes:
        return over
    if fmt == "json":
        # Counting a JSON array means decoding it; a few hundred bytes a record is typical of this data.
        return size // 200
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
    kind_check(kind)
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
        estimate = _record_estimate(path, fmt)
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
