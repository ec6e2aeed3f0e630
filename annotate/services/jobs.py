"""One lifecycle for background jobs (imports, exports, training runs): claim, heartbeat, reclaim, re-send.

A job's row (a subclass of ``annotate.models.jobs.Job``) is the source of truth; the
broker only carries a job id. The rules:

- A worker runs a job only under a claim: a conditional update QUEUED → RUNNING (or
  RUNNING with a lost worker → RUNNING) checked by its row count, which bumps
  ``attempts``. Every later write is conditional on that attempt, so a worker that
  lost its claim can no longer change the row.
- While it works, a side thread with its own database connection writes
  ``heartbeat_at`` every ``CONCORD_JOB_HEARTBEAT_SECONDS``, also while the worker's own
  connection sits in one long statement, and carries the progress with it. A failed
  write drops that connection, so the next beat connects again; once no beat has been
  written for ``CONCORD_JOB_STALE_SECONDS`` the worker counts its claim as lost (others
  may have judged it gone and taken the job over) and stops at its next progress.
- A heartbeat older than ``CONCORD_JOB_STALE_SECONDS`` (or, on the same host, a worker
  pid that no longer exists) means the worker is gone. The redelivered message claims
  such a job at once; otherwise the reaper (``job_reap``, on beat) puts it back to
  QUEUED and sends it again. Either way the kind's ``discard`` removes what the dead
  attempt left (partial files) first. After ``max_attempts`` it is FAILED with the reason.
- A QUEUED job whose message never reached the broker (the broker was down) or was
  lost with it is sent again by the reaper. Sending twice is harmless: only one
  message wins the claim.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from annotate.models import Job, JobStatus

__all__ = [
    "JobClaim",
    "JobKind",
    "JobLost",
    "ReapResult",
    "job_claim",
    "job_kind_register",
    "job_kinds",
    "job_reap",
    "job_send",
    "job_send_on_commit",
]

logger = logging.getLogger(__name__)

# Progress is written at most this often (it rides on an early heartbeat).
PROGRESS_SECONDS = 1.0


def _nothing(job: Any) -> None:
    return None


@dataclass(frozen=True)
class JobKind:
    """How the lifecycle reaches one kind of job: its model, how its task is sent, what a dead attempt leaves."""

    name: str
    model: type[Job]
    # Publishes the job's task message (raises when the broker cannot take it).
    send: Callable[[int], object]
    # Removes what an attempt that did not finish left behind (partial files); idempotent.
    discard: Callable[[Any], None] = _nothing


_KINDS: dict[str, JobKind] = {}


def job_kind_register(kind: JobKind) -> None:
    """Make the reaper look after this kind of job (called from an app's ``ready``)."""
    _KINDS[kind.name] = kind


def job_kinds() -> list[JobKind]:
    return list(_KINDS.values())


class JobLost(Exception):
    """This worker's claim was taken over (its heartbeat was judged stale), or its heartbeat could not be
    written for as long: stop; the new holder redoes the work."""


def _this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _worker_gone(worker: str) -> bool:
    """True only when ``worker`` names a process of this host that no longer exists."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _is_lost(job: Job, now: datetime) -> bool:
    stale = now - timedelta(seconds=settings.CONCORD_JOB_STALE_SECONDS)
    return job.heartbeat_at is None or job.heartbeat_at < stale or _worker_gone(job.worker)


def _lost_reason(job: Job) -> str:
    return f"worker lost ({job.worker or 'unknown'}, attempt {job.attempts} of {job.max_attempts})"


def _fail_lost(kind: JobKind, job: Job) -> bool:
    """FAILED for a job whose last attempt lost its worker and has no attempts left; True if this call did it."""
    failed = kind.model._default_manager.filter(
        pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts, worker=job.worker
    ).update(
        status=JobStatus.FAILED,
        finished_at=timezone.now(),
        retry_reason=_lost_reason(job),
        error_message=(
            f"the worker was lost on each of {job.attempts} attempts (killed, or out of memory?); "
            "gave up, nothing was kept"
        ),
    )
    if failed == 1:
        _discard(kind, job)
    return failed == 1


def _discard(kind: JobKind, job: Job) -> None:
    try:
        kind.discard(job)
    except Exception:  # leftovers cost disk, not correctness: never let them stop a claim or the reaper
        logger.exception("could not remove what %s job %s left behind", kind.name, job.pk)


def job_claim(*, kind: JobKind, job_id: int) -> JobClaim | None:
    """Claim the job for this process: a queued one, or a running one whose worker is gone. None when it is not ours to run."""
    manager = kind.model._default_manager
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": JobStatus.RUNNING,
        "attempts": F("attempts") + 1,
        "worker": _this_worker(),
        "heartbeat_at": now,
        "started_at": now,
        "finished_at": None,
        "processed": 0,
    }
    if manager.filter(pk=job_id, status=JobStatus.QUEUED).update(**fields) != 1:
        job = manager.filter(pk=job_id, status=JobStatus.RUNNING).first()
        if job is None or not _is_lost(job, now):
            return None  # finished, gone, or running under a live worker
        if job.attempts >= job.max_attempts:
            _fail_lost(kind, job)
            return None
        # Conditional on the attempt and worker read above: of two redeliveries, one wins.
        taken = manager.filter(
            pk=job_id, status=JobStatus.RUNNING, attempts=job.attempts, worker=job.worker
        ).update(**fields, retry_reason=_lost_reason(job))
        if taken != 1:
            return None
        _discard(kind, job)
    return JobClaim(kind=kind, job=manager.get(pk=job_id))


class JobClaim:
    """A held claim: a heartbeat while in its ``with`` block, progress, and the final write.

    The heartbeat runs on a side thread with its own connection, so it is committed at
    once and keeps coming while the worker's connection is busy. Not on SQLite (one
    writer at a time) nor inside a caller's transaction (the row would be locked or
    invisible to the thread); there progress is written inline, and no worker runs
    such a job for long anyway.
    """

    def __init__(self, *, kind: JobKind, job: Job) -> None:
        self.kind = kind
        self.job = job
        self.attempt = job.attempts
        self.lost = False
        self._progress: tuple[int, int] | None = None
        self._last_write = 0.0  # the last write tried: progress wakes the heartbeat at most once a second
        self._written = time.monotonic()  # the last heartbeat written (the claim wrote one)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _rows(self) -> Any:
        return self.kind.model._default_manager.filter(
            pk=self.job.pk, status=JobStatus.RUNNING, attempts=self.attempt
        )

    def __enter__(self) -> JobClaim:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            self._thread = threading.Thread(
                target=self._beat, name=f"job-heartbeat-{self.kind.name}-{self.job.pk}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop_heartbeat()

    def _stop_heartbeat(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()
            self._thread = None

    def _beat(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(settings.CONCORD_JOB_HEARTBEAT_SECONDS)
                self._wake.clear()
                if self._stop.is_set():
                    break
                self._write()
                if self.lost:
                    break
        finally:
            connection.close()  # this thread's own connection: Django's connections are per thread

    def _write(self) -> None:
        with self._lock:
            progress, self._progress = self._progress, None
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if progress is not None:
            fields["processed"], fields["total"] = progress
        self._last_write = time.monotonic()
        try:
            written = self._rows().update(**fields)
        except Exception:  # a missed heartbeat only makes the job look stale sooner; never fail the work
            logger.exception("could not write the heartbeat of %s job %s", self.kind.name, self.job.pk)
            with self._lock:
                self._progress = self._progress or progress  # carried by the next beat
            self._connection_drop()
            if time.monotonic() - self._written > settings.CONCORD_JOB_STALE_SECONDS:
                # As stale as the reaper and a redelivered message take a lost worker to be: another
                # attempt may hold the job now, and this one cannot tell while the database is out of
                # reach. It assumes so and stops (a taken-over job is redone; a job no one took over is
                # reclaimed from its stale heartbeat), rather than work on beside a second attempt.
                self.lost = True
                logger.warning(
                    "%s job %s: attempt %s wrote no heartbeat for %s s; counting its claim as lost",
                    self.kind.name, self.job.pk, self.attempt, settings.CONCORD_JOB_STALE_SECONDS,
                )  # fmt: skip
            return
        self._written = time.monotonic()
        if written != 1:
            self.lost = True
            logger.warning("%s job %s: attempt %s lost its claim", self.kind.name, self.job.pk, self.attempt)

    def _connection_drop(self) -> None:
        """Close a connection a failed write may have left broken; Django opens a new one at the next query.

        Without this a dropped connection (a database restart, a network cut) failed every later beat.
        Not inside an atomic block (the inline heartbeat in a caller's transaction), which a close would
        break.
        """
        if connection.in_atomic_block:
            return
        try:
            connection.close()
        except Exception:  # closing a broken connection may raise; it is forgotten either way
            logger.debug("closing the heartbeat's connection failed", exc_info=True)

    def progress(self, done: int, total: int) -> None:
        """Record progress (written within about a second); raises ``JobLost`` once the claim is gone."""
        if self.lost:
            raise JobLost(f"{self.kind.name} job {self.job.pk}: attempt {self.attempt} lost its claim")
        with self._lock:
            self._progress = (done, total)
        if time.monotonic() - self._last_write < PROGRESS_SECONDS:
            return
        if self._thread is not None:
            self._wake.set()
        else:
            self._write()

    def finish(self, **fields: Any) -> bool:
        """Write the attempt's outcome (status and the rest) if the claim still holds; True when written."""
        self._stop_heartbeat()
        fields.setdefault("finished_at", timezone.now())
        written = self._rows().update(**fields) == 1
        if not written:
            self.lost = True
        return written


def job_send(*, kind: JobKind, job_id: int) -> bool:
    """Hand the job's message to the broker; when it cannot take it, log and leave the job QUEUED for the reaper."""
    try:
        kind.send(job_id)
    except (
        Exception
    ):  # any publishing error: the row stays QUEUED with no sent_at, and the reaper tries again
        logger.warning(
            "could not send %s job %s to the broker; the reaper will", kind.name, job_id, exc_info=True
        )
        return False
    kind.model._default_manager.filter(pk=job_id, status=JobStatus.QUEUED).update(sent_at=timezone.now())
    return True


def job_send_on_commit(*, kind: JobKind, job_id: int) -> None:
    """Send the job once the current transaction commits (at once outside one), so the worker finds the row."""
    transaction.on_commit(lambda: job_send(kind=kind, job_id=job_id))


@dataclass(frozen=True)
class ReapResult:
    requeued: int = 0
    failed: int = 0
    resent: int = 0


def job_reap(*, kinds: Iterable[JobKind] | None = None) -> ReapResult:
    """Requeue (or, out of attempts, fail) running jobs whose worker is gone; send again queued jobs whose message was lost."""
    requeued = failed = resent = 0
    for kind in kinds if kinds is not None else job_kinds():
        manager = kind.model._default_manager
        now = timezone.now()
        # A job never sent (the broker was down), given a moment for its own on-commit send;
        # or sent long ago and still waiting (its message was lost with the broker).
        unsent = Q(
            sent_at__isnull=True,
            created_at__lt=now - timedelta(seconds=settings.CONCORD_JOB_HEARTBEAT_SECONDS),
        )
        lost = Q(sent_at__lt=now - timedelta(seconds=settings.CONCORD_JOB_RESEND_SECONDS))
        for job_id in manager.filter(unsent | lost, status=JobStatus.QUEUED).values_list("pk", flat=True):
            job_send_on_commit(kind=kind, job_id=job_id)
            resent += 1
        stale = now - timedelta(seconds=settings.CONCORD_JOB_STALE_SECONDS)
        for job in manager.filter(
            Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True), status=JobStatus.RUNNING
        ):
            if job.attempts >= job.max_attempts:
                failed += _fail_lost(kind, job)
                continue
            # Conditional on the heartbeat read: a worker that beat meanwhile keeps its job.
            back = manager.filter(
                pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts, heartbeat_at=job.heartbeat_at
            ).update(status=JobStatus.QUEUED, retry_reason=_lost_reason(job), sent_at=None, heartbeat_at=None)
            if back == 1:
                _discard(kind, job)
                job_send_on_commit(kind=kind, job_id=job.pk)
                requeued += 1
    result = ReapResult(requeued=requeued, failed=failed, resent=resent)
    if result != ReapResult():
        logger.info("job reaper: %s", result)
    return result
