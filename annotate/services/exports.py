"""The export job's life: a queued export of a snapshot, run by a worker under a claim, downloaded when done.

The file itself is written by ``annotate.services.export_files.export_write``; what goes in it
is ``annotate.formats``'.
"""

from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User

from annotate.models import ExportFormat, ExportJob, JobStatus, Snapshot
from annotate.services.export_files import (
    atomic_file,
    export_options_check,
    export_row_counts,
    export_row_total,
    export_write,
)
from annotate.services.jobs import JobKind, JobLost, job_claim, job_send_on_commit

logger = logging.getLogger(__name__)

EXTENSIONS = {ExportFormat.JSONL: ".jsonl", ExportFormat.PARQUET: ".parquet", ExportFormat.HF_DATASET: ""}


def export_archive_path(path: Path) -> Path:
    """Where the downloadable zip of a `datasets` folder export lives."""
    return path.with_name(path.name + ".zip")


def _zip_folder(folder: Path) -> Path:
    target = export_archive_path(folder)
    with atomic_file(target) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
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


def export_job_create(
    *, snapshot: Snapshot, fmt: str, schema: str, created_by: User | None = None, include_ties: bool = False
) -> ExportJob:
    """A queued export job, sent to the broker once this transaction commits (or by the reaper, if the broker is down).

    Its ``counts`` say from the start how many rows each kind of vote will give (the snapshot is frozen).
    """
    export_options_check(fmt=fmt, schema=schema, include_ties=include_ties)
    counts = export_row_counts(snapshot=snapshot, schema=schema, include_ties=include_ties)
    job = ExportJob.objects.create(
        snapshot=snapshot, format=fmt, schema=schema, include_ties=include_ties, counts=counts,
        total=export_row_total(counts), created_by=created_by,
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
    # The temporary names all start ".<final name>." (export_files.atomic_file and _write_hf_dataset), and
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
                include_ties=job.include_ties,
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
