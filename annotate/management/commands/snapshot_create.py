"""Freeze the pairs that pass a filter set as the project's next snapshot."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from annotate.aggregation.selection import SnapshotFilters
from annotate.models import AggregationMethod, Project
from annotate.services.decontamination import DEFAULT_NGRAM
from annotate.services.snapshots import snapshot_create


class Command(BaseCommand):
    help = "Create the next immutable snapshot of a project's aggregated pairs."

    def add_arguments(self, parser: ArgumentParser) -> None:
        defaults = SnapshotFilters()
        parser.add_argument("project", help="project slug")
        parser.add_argument("--method", choices=AggregationMethod.values, default=defaults.method)
        parser.add_argument("--min-votes", type=int, default=defaults.min_votes)
        parser.add_argument("--min-agreement", type=float, default=defaults.min_agreement)
        parser.add_argument("--min-posterior", type=float, default=defaults.min_posterior)
        parser.add_argument("--keep-ties", action="store_true", help="count tie and both-bad votes")
        parser.add_argument("--keep-flagged", action="store_true", help="keep flagged annotators' votes")
        parser.add_argument(
            "--keep-unpaired", action="store_true",
            help="keep both-bad and tie comparisons for the trl_unpaired export (with --keep-ties)",
        )  # fmt: skip
        parser.add_argument(
            "--flagged-votes", choices=("downweight", "drop"), default=defaults.flagged_votes,
            help="what happens to flagged annotators' votes (unless --keep-flagged)",
        )  # fmt: skip
        parser.add_argument(
            "--position-aware", action="store_true", default=defaults.position_aware,
            help="Dawid–Skene fits a left-pick share for position-flagged annotators",
        )  # fmt: skip
        parser.add_argument("--benchmark", type=Path, help="decontaminate against this file's lines")
        parser.add_argument("--ngram", type=int, default=DEFAULT_NGRAM)

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project {options['project']!r}")
        try:
            filters = SnapshotFilters(
                method=options["method"], min_votes=options["min_votes"], min_agreement=options["min_agreement"],
                min_posterior=options["min_posterior"], drop_ties=not options["keep_ties"],
                drop_flagged=not options["keep_flagged"], flagged_votes=options["flagged_votes"],
                position_aware=options["position_aware"], keep_unpaired=options["keep_unpaired"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        snapshot = snapshot_create(
            project=project, filters=filters, benchmark_path=options["benchmark"], ngram=options["ngram"]
        )
        self.stdout.write(
            f"{project.slug} v{snapshot.version}: {snapshot.pair_count} pairs, sha256 {snapshot.content_hash}"
        )
