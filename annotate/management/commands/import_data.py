"""manage.py import_data PROJECT_SLUG FILE --kind pairs [--format jsonl] [--batch NAME]"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from tqdm import tqdm

from annotate.models import ImportFormat, ImportKind, Project
from annotate.services.imports import ImportRejected, import_file

SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = "Import prompts, responses, pairs, ratings or HH-RLHF transcripts into a project: all of the file or none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("file", help="a .jsonl, .json, .csv or .parquet file")
        parser.add_argument("--kind", required=True, choices=ImportKind.values)
        parser.add_argument(
            "--format", choices=ImportFormat.values, help="default: from the file's extension"
        )
        parser.add_argument("--batch", default="", help="label the new comparisons with this batch")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f'no project with slug "{options["project"]}"')
        # tqdm writes carriage returns itself, so it gets the raw stream rather than Django's OutputWrapper.
        with tqdm(
            unit=" records", file=sys.stderr, mininterval=0.5, disable=options["verbosity"] == 0
        ) as bar:

            def progress(done: int, total: int) -> None:
                if total and bar.total != total:
                    bar.reset(total=total)
                    bar.set_description("writing")
                elif not total:
                    bar.set_description("checking")
                bar.n = done
                bar.refresh()

            try:
                result = import_file(
                    project=project,
                    path=options["file"],
                    kind=options["kind"],
                    fmt=options["format"],
                    batch=options["batch"],
                    progress=progress,
                )
            except ImportRejected as exc:
                bar.close()
                for problem in exc.problems[:SHOWN_PROBLEMS]:
                    self.stderr.write(str(problem))
                if len(exc.problems) > SHOWN_PROBLEMS:
                    self.stderr.write(f"and {len(exc.problems) - SHOWN_PROBLEMS} more")
                raise CommandError(exc.message) from exc
            except (OSError, DatabaseError) as exc:
                # The checker names bad input itself; these are what remains (a disk, the database).
                # Said in one line, as the API would, never as a traceback.
                bar.close()
                raise CommandError(f"the import failed and nothing was written: {exc}") from exc
        self.stdout.write(
            f"Imported {result.records} records into {project.slug} in {result.seconds:.1f}s: "
            f"{result.prompts} new prompts, {result.responses} new responses, {result.comparisons} new comparisons, "
            f"{result.judgments} imported verdicts, {result.duplicates} duplicates"
        )
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
