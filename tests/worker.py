"""Fixtures that run a real Celery worker on Redis against the test database.

``celery_worker_process`` (session-scoped) starts ``celery -A config worker -Q default,training
--pool=solo`` as a subprocess whose ``DATABASE_URL`` points at pytest-django's test database
and whose broker is this process's ``CELERY_BROKER_URL``; it waits until the worker answers a
ping, yields a ``CeleryWorker`` and stops the worker at the end of the session. It skips the
test when the database is not PostgreSQL or the broker is not Redis.

To use it (the export and training tests can, too):

- mark the test ``@pytest.mark.celery`` and ask for ``transactional_db``: the worker has its
  own connection and sees only committed rows, so the usual rolled-back test transaction
  would hide everything from it;
- set ``settings.MEDIA_ROOT = celery_worker_process.media_root`` when the task reads files
  the test stored (the worker was started with that ``MEDIA_ROOT``);
- enqueue the task as the code under test does, and wait for the row it updates with
  ``wait_for(lambda: ..., timeout=...)``, a bounded poll.

The worker runs the code as it was at session start and its own settings (from the
environment), not what a test changes with the ``settings`` fixture.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass(frozen=True)
class CeleryWorker:
    hostname: str
    media_root: Path
    log_path: Path
    database_url: str

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no worker log)"


def wait_for(
    check: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 0.2, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or check}")
        time.sleep(interval)


def _database_url(settings_dict: dict[str, Any]) -> str:
    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{quote(settings_dict['NAME'])}"


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    from django.conf import settings
    from django.db import connection

    from config.celery import app

    if connection.vendor != "postgresql":
        pytest.skip("the Celery worker tests need PostgreSQL (set DATABASE_URL)")
    if not str(settings.CELERY_BROKER_URL).startswith("redis"):
        pytest.skip("the Celery worker tests need Redis (set CELERY_BROKER_URL)")

    # After django_db_setup the connection's settings name the test database (test_<name>).
    database_url = _database_url(connection.settings_dict)
    media_root = tmp_path_factory.mktemp("worker-media")
    log_path = tmp_path_factory.mktemp("worker-log") / "worker.log"
    hostname = f"pytest-{os.getpid()}@localhost"

    # Messages left by an earlier, interrupted run would run against this session's rows.
    with app.connection_for_write() as conn:
        for queue in ("default", "training"):
            conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": str(settings.CELERY_BROKER_URL),
        "MEDIA_ROOT": str(media_root),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        # Idle connections would keep the test database from being dropped at the end.
        "DB_CONN_MAX_AGE": "0",
    }
    celery = Path(sys.executable).with_name("celery")
    command = [
        str(celery), "-A", "config", "worker", "-Q", "default,training", "--pool=solo", "--concurrency=1",
        "-l", "info", "-n", hostname, "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker = CeleryWorker(
        hostname=hostname, media_root=media_root, log_path=log_path, database_url=database_url
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=1.0):
            if process.poll() is not None:
                pytest.fail(f"the Celery worker exited with {process.returncode}:\n{worker.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not answer a ping within 60s:\n{worker.log_tail()}")
        yield worker
    finally:
        process.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
