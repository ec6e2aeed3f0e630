"""Export a project's snapshot to a file or `datasets` folder, with a progress bar."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotate.models import ExportFormat, ExportSchema, Project
from annotate.selectors.snapshots import snapshot_get, snapshot_list
from annotate.services.export_files import export_write


class Command(BaseCommand):
    help = "Export a snapshot as HH-RLHF / TRL preference data (JSONL, Parquet or a datasets folder)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("output", type=Path, help="file (or folder for --format hf_dataset) to write")
        parser.add_argument("--snapshot", dest="snapshot_version", type=int, help="snapshot version (default: latest)")
        parser.add_argument("--format", dest="fmt", choices=ExportFormat.values, default=ExportFormat.JSONL)
        parser.add_argument("--schema", choices=ExportSchema.values, default=ExportSchema.HH)
        parser.add_argument("--chunk-size", type=int, default=10_000)

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project {options['project']!r}")
        version = options["snapshot_version"]
        snapshot = snapshot_get(project=project, version=version) if version else snapshot_list(project=project).first()
        if snapshot is None:
            raise CommandError("no such snapshot; create one with `manage.py snapshot_create`")
        with tqdm(total=snapshot.pair_count, unit="pair", disable=options["verbosity"] == 0) as bar:
            written = export_write(
                snapshot=snapshot, fmt=options["fmt"], schema=options["schema"], path=options["output"],
                chunk_size=options["chunk_size"], progress=lambda done, total: bar.update(done - bar.n),
            )
        self.stdout.write(f"wrote {written} pairs of {project.slug} v{snapshot.version} to {options['output']}")
