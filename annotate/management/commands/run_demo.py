"""Run the web server and a Celery worker (with beat) together; on any stop signal, stop the worker too.

The worker starts in a process group of its own, so it neither gets the terminal's Ctrl-C
twice nor outlives us: on SIGTERM, SIGINT or SIGHUP (and when runserver ends for any
reason) the whole group gets SIGTERM, then SIGKILL if it has not exited within
``STOP_TIMEOUT`` seconds.
"""

import contextlib
import os
import signal
import subprocess
import sys
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from annotate.demo import DEMO_ACCOUNTS, DEMO_PASSWORD

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOP_TIMEOUT = 20.0


class _Stop(BaseException):
    """Raised in the main thread by a stop signal; a BaseException, so runserver does not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


def _stop_group(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """The child's whole process group is gone: SIGTERM, a wait of ``timeout`` seconds, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        # Also anything the child started in its group and left behind.
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class Command(BaseCommand):
    help = "Run the web server and a Celery worker together, and print the URL and the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, **options: Any) -> None:
        # Handlers first: a signal that arrives while the worker starts must still stop it.
        previous = {signum: signal.signal(signum, _raise_stop) for signum in STOP_SIGNALS}
        worker: subprocess.Popen[bytes] | None = None
        stopped_by = 0
        try:
            # The worker shares our settings (and so the SQLite file and broker folder on the embedded default).
            # It serves both queues (a round's training steps too) and embeds beat (-B), whose tick
            # starts rounds on a plan's threshold, checks collecting rounds and reaps lost jobs.
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,training",
                 "--pool=solo", "-B", "--loglevel=warning"],
                env=os.environ.copy(),
                start_new_session=True,  # its own process group (and session), killed as one below
            )  # fmt: skip
            database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
            url = f"http://{options['host']}:{options['port']}/"
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nConcord is running at {url}  (database: {database}, broker: {settings.CELERY_BROKER_URL.split('://')[0]})"
                )
            )
            for username, is_staff in DEMO_ACCOUNTS:
                role = "staff admin" if is_staff else "annotator"
                self.stdout.write(f"  log in as {username} / {DEMO_PASSWORD}  ({role})")
            self.stdout.write(
                f"  annotate: {url}annotate/demo/   rounds: {url}annotate/demo/rounds/   admin: {url}admin/   "
                f"API docs: {url}api/docs/\n"
            )
            call_command("runserver", f"{options['host']}:{options['port']}", use_reloader=False)
        except _Stop as stop:
            stopped_by = stop.signum
        finally:
            # A second signal while we clean up must not cut the cleanup short.
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_IGN)
            if worker is not None:
                _stop_group(worker)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if stopped_by:
            self.stdout.write(f"Stopped by {signal.Signals(stopped_by).name}; the worker is stopped too.")
            raise SystemExit(128 + stopped_by)
