"""Print a project's alignment rounds: state, the running step's progress, and why the next has not started."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from alignment.management.round_progress import next_round_status, round_line, run_line
from alignment.selectors.rounds import round_list, round_progress
from annotate.models import Project


class Command(BaseCommand):
    help = "Show a project's alignment rounds, the running step's progress and why the next round has not started."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("--last", type=int, default=10, help="how many rounds to show, newest first")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f'no project with slug "{options["project"]}"')
        trigger = next_round_status(project)
        self.stdout.write(
            f"{project.slug}: next round {'ready' if trigger.ready else 'not started'}: {trigger.reason}"
        )
        shown = round_list(project=project, limit=options["last"])
        if not shown:
            self.stdout.write("no rounds yet; start one with `manage.py round_start`")
        for round_ in shown:
            self.stdout.write(round_line(round_))
            progress = round_progress(round_=round_)  # nothing to read for a round that has ended
            if progress.run is not None:
                self.stdout.write(f"  {run_line(progress)}")
