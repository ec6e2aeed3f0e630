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
from contextlib import contextmanager
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


# --- Fault tests: a broker of our own, workers we can kill -----------------------------------
#
# ``own_redis`` runs a redis-server of the test's own (port CONCORD_TEST_REDIS_PORT, default
# 6391; no persistence, so a restart loses every message, as a crashed broker can), which
# the test can stop and start again. ``app_broker(url)`` points this process's Celery app,
# the one the code under test sends with, at it for a while. ``start_worker`` runs a
# prefork worker (so there is a pool child to kill, or the whole process group) and
# ``start_beat`` a beat process, both on that broker, against the test database, with
# the short job timings of ``FAULT_ENV`` so a lost worker is noticed within seconds.

FAULT_ENV = {
    "CONCORD_JOB_HEARTBEAT_SECONDS": "1",
    "CONCORD_JOB_STALE_SECONDS": "3",
    "CONCORD_JOB_REAP_SECONDS": "1",
}


@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.directory),
        ]  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            client.ping()
        except redis.exceptions.ConnectionError:
            pass
        else:  # the test would talk to someone else's server, and could not stop it
            pytest.fail(f"port {self.port} is taken by another redis-server (CONCORD_TEST_REDIS_PORT)")
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    pytest.fail(f"redis-server on port {self.port} did not start")
                time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: the server hangs with its port open, as a wedged or unreachable broker does."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    @contextmanager
    def process_paused(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(
                signal.SIGCONT
            )  # a stopped process does not die of SIGKILL until continued
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("the fault tests need redis-server on PATH")
    server = RedisServer(
        port=int(os.environ.get("CONCORD_TEST_REDIS_PORT", "6391")),
        directory=tmp_path_factory.mktemp("redis"),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _app_pools_reset(app: Any) -> None:
    from kombu import pools

    # Closed and forgotten: kombu keeps one pool per broker URL, and the next test's redis-server
    # on the same port would get this one's dead connections.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def app_broker(url: str) -> Iterator[None]:
    """Send (and ping) through the broker at ``url`` instead of CELERY_BROKER_URL, for the block."""
    from config.celery import app

    # Not broker_url: Celery reads that from the CELERY_BROKER_URL environment variable first.
    # Unset (None), the read and write URLs fall back to it again.
    _app_pools_reset(app)
    app.conf.update(broker_read_url=url, broker_write_url=url)
    try:
        yield
    finally:
        _app_pools_reset(app)
        app.conf.update(broker_read_url=None, broker_write_url=None)


@dataclass
class WorkerProcess:
    """A Celery worker (or beat) subprocess in its own process group."""

    command: list[str]
    env: dict[str, str]
    log_path: Path
    hostname: str = ""
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.hostname:
            from config.celery import app

            deadline = time.monotonic() + 60
            while not app.control.ping(destination=[self.hostname], timeout=0.5):
                if self.process.poll() is not None:
                    pytest.fail(f"the worker exited with {self.process.returncode}:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"the worker did not answer a ping within 60s:\n{self.log_tail()}")
        return self

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill_all(self) -> None:
        """``kill -9`` of the whole worker: the main process and its pool children at once."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # warm shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None


@dataclass
class FaultCluster:
    """Workers and beat on ``redis`` against the test database; everything started is stopped at the end."""

    redis: RedisServer
    database_url: str
    media_root: Path
    log_dir: Path
    env_extra: dict[str, str]
    started: list[WorkerProcess]

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.redis.url,
            "MEDIA_ROOT": str(self.media_root),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DB_CONN_MAX_AGE": "0",
            **FAULT_ENV,
            **self.env_extra,
        }

    def start_worker(self, *, concurrency: int = 2) -> WorkerProcess:
        n = len(self.started)
        hostname = f"fault-{os.getpid()}-{n}@localhost"
        celery = str(Path(sys.executable).with_name("celery"))
        command = [
            celery, "-A", "config", "worker", "-Q", "default", "--pool=prefork", f"--concurrency={concurrency}",
            "-l", "info", "-n", hostname, "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        worker = WorkerProcess(command, self._env(), self.log_dir / f"worker-{n}.log", hostname=hostname)
        self.started.append(worker)
        return worker.start()

    def start_beat(self) -> WorkerProcess:
        n = len(self.started)
        celery = str(Path(sys.executable).with_name("celery"))
        command = [
            celery, "-A", "config", "beat", "-l", "info", "--scheduler", "celery.beat:PersistentScheduler",
            "-s", str(self.log_dir / f"beat-{n}.schedule"), "--max-interval", "1",
        ]  # fmt: skip
        beat = WorkerProcess(command, self._env(), self.log_dir / f"beat-{n}.log")
        self.started.append(beat)
        return beat.start()

    def logs(self) -> str:
        return "\n".join(f"--- {w.log_path.name}\n{w.log_tail(40)}" for w in self.started)


@pytest.fixture
def fault_cluster(
    own_redis: RedisServer, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, settings: Any
) -> Iterator[FaultCluster]:
    """Workers and beat of the test's own on ``own_redis``; this process sends through it meanwhile."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the fault tests need PostgreSQL (set DATABASE_URL)")
    media_root = tmp_path_factory.mktemp("fault-media")
    settings.MEDIA_ROOT = media_root
    cluster = FaultCluster(
        redis=own_redis,
        database_url=_database_url(connection.settings_dict),
        media_root=media_root,
        log_dir=tmp_path_factory.mktemp("fault-logs"),
        env_extra={},
        started=[],
    )
    with app_broker(own_redis.url):
        try:
            yield cluster
        finally:
            for process in reversed(cluster.started):
                process.stop()
