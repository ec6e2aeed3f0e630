"""Start a project's next alignment round; with --wait, follow it with a progress bar until its training is done."""

from __future__ import annotations

import sys
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from alignment.management.round_progress import round_line
from alignment.models import AlignmentRound, RoundState, RoundTrigger
from alignment.selectors.rounds import round_progress
from alignment.services.rounds import RoundNotStarted, round_start
from annotate.models import Project

# A round has done its work once it collects votes: waiting on people is not what --wait is for.
WORK_DONE = (RoundState.COLLECTING, RoundState.DONE)


class Command(BaseCommand):
    help = (
        "Start the project's next alignment round (its steps run on the Celery workers). With --wait, show the "
        "running step's progress until the round collects votes; exit non-zero if it fails or is cancelled."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument(
            "--wait", action="store_true", help="follow the round until its new comparisons are out"
        )
        parser.add_argument("--poll", type=float, default=2.0, help="seconds between looks at the round")
        parser.add_argument(
            "--timeout", type=float, default=0, help="with --wait: give up after this many seconds"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f'no project with slug "{options["project"]}"')
        try:
            round_ = round_start(project=project, trigger=RoundTrigger.MANUAL)
        except RoundNotStarted as exc:
            raise CommandError(f"no round started: {exc.reason}") from exc
        self.stdout.write(f"{project.slug}: started {round_line(round_)}")
        if options["wait"]:
            self._follow(
                round_, poll=options["poll"], timeout=options["timeout"], quiet=options["verbosity"] == 0
            )

    def _follow(self, round_: AlignmentRound, *, poll: float, timeout: float, quiet: bool) -> None:
        deadline = time.monotonic() + timeout if timeout else None
        state, run_id, bar = "", 0, None
        try:
            while True:
                round_.refresh_from_db()
                if round_.state != state:
                    state = round_.state
                    self.stdout.write(f"round {round_.number}: {round_.get_state_display().lower()}")
                progress = round_progress(round_=round_)
                run = progress.run
                if run is not None:
                    if bar is None or run.pk != run_id:
                        if bar is not None:
                            bar.close()
                        # tqdm writes carriage returns itself: the raw stream, not Django's OutputWrapper.
                        bar = tqdm(
                            desc=f"{run.step} run {run.pk}", unit=" steps", file=sys.stderr, disable=quiet
                        )
                        run_id = run.pk
                    bar.total = progress.total or None
                    bar.n = progress.processed
                    bar.set_postfix(dict(progress.figures_text), refresh=False)
                    bar.refresh()
                if state in WORK_DONE:
                    self.stdout.write(f"round {round_.number} is {state}: its new comparisons are out")
                    return
                if state == RoundState.FAILED:
                    raise CommandError(
                        f"round {round_.number} failed at {round_.failed_step}: {round_.error}"
                    )
                if state == RoundState.CANCELLED:
                    raise CommandError(f"round {round_.number} was cancelled")
                if deadline is not None and time.monotonic() > deadline:
                    raise CommandError(f"round {round_.number} is still {state} after {timeout:g} s")
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.close()
