import os
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from annotate.demo import DEMO_ACCOUNTS, DEMO_PASSWORD


class Command(BaseCommand):
    help = "Run the web server and a Celery worker together, and print the URL and the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, **options: Any) -> None:
        # The worker shares our settings (and so the SQLite file and broker folder on the embedded default).
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,training",
             "--pool=solo", "--loglevel=warning"],
            env=os.environ.copy(),
        )  # fmt: skip
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"\nConcord is running at {url}  (database: {database}, broker: {settings.CELERY_BROKER_URL.split('://')[0]})"))
        for username, is_staff in DEMO_ACCOUNTS:
            role = "staff admin" if is_staff else "annotator"
            self.stdout.write(f"  log in as {username} / {DEMO_PASSWORD}  ({role})")
        self.stdout.write(f"  annotate: {url}annotate/demo/   admin: {url}admin/   API docs: {url}api/docs/\n")
        try:
            call_command("runserver", f"{options['host']}:{options['port']}", use_reloader=False)
        finally:
            worker.terminate()
            worker.wait(timeout=20)
