"""``manage.py simulate_loop <project>``: simulated annotators label a project through a running server's API.

With the demo running (``make demo``) and its plan enabled, the crowd labels whatever the project
serves (round-0 pairs, then each round's new comparisons), so the plan's trigger starts rounds and
the rounds page fills in: the whole loop, hands off. The oracle is the crowd's hidden preference
(``--oracle MODULE:FUNCTION``, e.g. ``bench/oracles.py:lowercase``); the server never sees it.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alignment.models import AlignmentRound, RoundState
from alignment.simulated_crowd import Crowd, crowd_accounts, crowd_draw, load_oracle
from annotate.models import Project


class Command(BaseCommand):
    help = "Simulated annotators with a hidden preference label a project through the API until N rounds are done."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="the project's slug")
        parser.add_argument(
            "--oracle", default="bench/oracles.py:lowercase", help="MODULE:FUNCTION or file.py:FUNCTION"
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running server")
        parser.add_argument("--annotators", type=int, default=8)
        parser.add_argument("--spammers", type=float, default=0.2, help="share of spammers in the crowd")
        parser.add_argument("--rounds", type=int, default=1, help="stop when this many more rounds are done")
        parser.add_argument("--minutes", type=float, default=30.0, help="stop after this long in any case")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project {options['project']!r}")
        try:
            oracle = load_oracle(options["oracle"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        url = urlsplit(options["url"])
        if url.scheme != "http" or not url.hostname:
            raise CommandError(f"--url {options['url']!r}: expected http://host:port")
        annotators = crowd_draw(
            options["annotators"],
            spammer_share=options["spammers"],
            seed=options["seed"],
            prefix=f"sim-{project.slug}-",
        )
        crowd_accounts(project=project, annotators=annotators)
        done_before = AlignmentRound.objects.filter(project=project, state=RoundState.DONE).count()
        crowd = Crowd(
            annotators,
            oracle,
            slug=project.slug,
            host=url.hostname,
            port=url.port or 80,
            seed=options["seed"],
        )
        crowd.start()
        deadline = time.monotonic() + 60 * options["minutes"]
        last = ""
        try:
            while time.monotonic() < deadline:
                done = (
                    AlignmentRound.objects.filter(project=project, state=RoundState.DONE).count()
                    - done_before
                )
                latest = AlignmentRound.objects.filter(project=project).order_by("-number").first()
                line = f"{crowd.stats.votes} votes; " + (
                    f"round {latest.number} {latest.state}" if latest is not None else "no round yet"
                )
                if line != last:
                    self.stdout.write(line)
                    last = line
                if done >= options["rounds"]:
                    break
                time.sleep(2.0)
        finally:
            crowd.close()
        agreement = crowd.stats.agreement
        self.stdout.write(
            f"{crowd.stats.votes} votes cast; crowd agreement with the oracle "
            f"{'—' if agreement is None else f'{agreement:.3f}'}; {len(crowd.errors)} client errors"
        )
