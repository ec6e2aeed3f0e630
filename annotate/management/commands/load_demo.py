from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotate.demo import DEMO_PASSWORD, demo_load


class Command(BaseCommand):
    help = "Load the demo project (prompts, candidate responses, gold items) and its three accounts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--prompts", type=int, default=300)
        parser.add_argument("--slug", default="demo")

    def handle(self, *args: Any, **options: Any) -> None:
        summary = demo_load(slug=options["slug"], prompts=options["prompts"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo project '{summary.project.slug}': {summary.prompts} prompts, {summary.comparisons} comparisons, "
                f"{summary.verdicts} imported verdicts, an alignment plan with tiny configs. "
                f"Accounts {', '.join(summary.usernames)} (password {DEMO_PASSWORD})."
            )
        )
