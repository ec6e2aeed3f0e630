"""Export a project's snapshot to a file or `datasets` folder, with a progress bar."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotate.models import ExportFormat, ExportSchema, Project
from annotate.selectors.snapshots import snapshot_get, snapshot_list
from annotate.services.export_files import export_options_check, export_write


class Command(BaseCommand):
    help = "Export a snapshot as HH-RLHF / TRL preference data (JSONL, Parquet or a datasets folder)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("output", type=Path, help="file (or folder for --format hf_dataset) to write")
        parser.add_argument("--snapshot", dest="snapshot_version", type=int, help="snapshot version (default: latest)")
        parser.add_argument("--format", dest="fmt", choices=ExportFormat.values, default=ExportFormat.JSONL)
        parser.add_argument("--schema", choices=ExportSchema.values, default=ExportSchema.HH)
        parser.add_argument(
            "--include-ties", action="store_true", help="trl_unpaired: each tie's two responses as desirable rows"
        )
        parser.add_argument("--chunk-size", type=int, default=10_000)

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project {options['project']!r}")
        version = options["snapshot_version"]
        snapshot = snapshot_get(project=project, version=version) if version else snapshot_list(project=project).first()
        if snapshot is None:
            raise CommandError("no such snapshot; create one with `manage.py snapshot_create`")
        try:
            export_options_check(fmt=options["fmt"], schema=options["schema"], include_ties=options["include_ties"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        with tqdm(unit="row", disable=options["verbosity"] == 0) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            written = export_write(
                snapshot=snapshot, fmt=options["fmt"], schema=options["schema"], path=options["output"],
                chunk_size=options["chunk_size"], progress=progress, include_ties=options["include_ties"],
            )
        unit = "rows" if options["schema"] == ExportSchema.TRL_UNPAIRED else "pairs"
        self.stdout.write(f"wrote {written} {unit} of {project.slug} v{snapshot.version} to {options['output']}")
