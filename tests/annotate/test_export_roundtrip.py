"""Every file Concord writes imports back: each export schema and format, into a fresh project and into its own."""

from __future__ import annotations

import itertools
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from annotate.models import Comparison, Judgment, Project, Prompt, Response, Snapshot
from annotate.services import exports as export_services
from annotate.services.export_files import export_write
from annotate.services.imports import ImportResult, import_file
from annotate.services.snapshots import snapshot_create
from tests.annotate.services.export_helpers import CHAT, LENIENT, _pairs, unpaired_snapshot
from tests.factories import make_annotators, make_comparison, make_judgment, make_superuser

pytestmark = pytest.mark.django_db

SCHEMAS = ["hh", "trl_standard", "trl_conversational"]
FORMATS = ["jsonl", "parquet", "hf_dataset"]
# The import kind that reads each schema.
KIND = {"hh": "hh", "trl_standard": "pairs", "trl_conversational": "pairs"}
SYSTEM_CHAT = [{"role": "system", "content": "Be brief."}, *CHAT]


@pytest.fixture
def snapshot(project: Project) -> Snapshot:
    """Pairs as a new user makes them: plain-string prompts (a pairs file), a chat with a system turn, odd text."""
    users = make_annotators(project, 2)
    chat = make_comparison(project, prompt=SYSTEM_CHAT, a="Blue.", b="I’d rather not — ünïcode")
    single = make_comparison(project, prompt="What is 2+2?", a="5", b="4")
    # Text with the spaces and blank lines an HH transcript could lose on the way back.
    spaced = make_comparison(
        project, prompt="  Indented question?\n", a=" leading space", b="trailing blank line\n\n"
    )
    make_judgment(chat, users[0], "a", strength="significantly")
    make_judgment(chat, users[1], "a", strength="slightly")
    make_judgment(single, users[0], "b", strength="better")
    make_judgment(single, users[1], "b")
    make_judgment(spaced, users[0], "b", strength="slightly")
    make_judgment(spaced, None, "b")
    return snapshot_create(project=project, filters=LENIENT)


def _export(snapshot: Snapshot, schema: str, fmt: str, folder: Path) -> Path:
    """The export as a user gets it: the file, or for a datasets folder the zip that the page downloads."""
    path = folder / f"export-{schema}{export_services.EXTENSIONS[fmt]}"  # type: ignore[index]
    export_write(snapshot=snapshot, fmt=fmt, schema=schema, path=path)
    if fmt == "hf_dataset":
        return export_services._zip_folder(path)
    return path


@pytest.fixture(params=list(itertools.product(SCHEMAS, FORMATS)), ids="-".join)
def each_export(request: pytest.FixtureRequest, snapshot: Snapshot, tmp_path: Path) -> tuple[Path, str]:
    """The snapshot exported in each schema and format: the file, and the import kind that reads it."""
    schema, fmt = request.param
    return _export(snapshot, schema, fmt, tmp_path), KIND[schema]


def _stored(project: Project) -> tuple[int, int, int, int]:
    return (
        Prompt.objects.filter(project=project).count(),
        Response.objects.filter(prompt__project=project).count(),
        Comparison.objects.filter(project=project).count(),
        Judgment.objects.filter(comparison__project=project).count(),
    )


def _nothing_new(result: ImportResult, pairs: int) -> None:
    assert (result.prompts, result.responses, result.comparisons, result.judgments) == (0, 0, 0, 0)
    assert result.duplicates == result.records == pairs


class ExportRoundTripTests:
    def test_it_imports_each_export_into_a_fresh_project_as_the_same_pairs(
        self, snapshot: Snapshot, each_export: tuple[Path, str]
    ) -> None:
        path, kind = each_export
        fresh = Project.objects.create(name="Fresh", slug="fresh")
        result = import_file(project=fresh, path=path, kind=kind)
        assert (result.records, result.comparisons, result.duplicates) == (3, 3, 0)
        assert _pairs(snapshot_create(project=fresh, filters=LENIENT)) == _pairs(snapshot)
        # And into that project again: all duplicates.
        _nothing_new(import_file(project=fresh, path=path, kind=kind), 3)

    def test_it_imports_each_export_into_its_own_project_as_duplicates(
        self, snapshot: Snapshot, each_export: tuple[Path, str]
    ) -> None:
        path, kind = each_export
        before = _stored(snapshot.project)
        _nothing_new(import_file(project=snapshot.project, path=path, kind=kind), 3)
        assert _stored(snapshot.project) == before
        # The labels did not move either: the next snapshot holds the same pairs with the same votes.
        again = snapshot_create(project=snapshot.project, filters=LENIENT)
        assert again.content_hash == snapshot.content_hash

    def test_it_imports_a_datasets_folder_itself(self, snapshot: Snapshot, tmp_path: Path) -> None:
        folder = tmp_path / "export"
        export_write(snapshot=snapshot, fmt="hf_dataset", schema="trl_conversational", path=folder)
        fresh = Project.objects.create(name="Fresh", slug="fresh")
        import_file(project=fresh, path=folder, kind="pairs")  # the format is read off the folder
        assert _pairs(snapshot_create(project=fresh, filters=LENIENT)) == _pairs(snapshot)

    def test_the_import_command_reads_a_datasets_folder(self, snapshot: Snapshot, tmp_path: Path) -> None:
        folder = tmp_path / "export"
        export_write(snapshot=snapshot, fmt="hf_dataset", schema="hh", path=folder)
        fresh = Project.objects.create(name="Fresh", slug="fresh")
        call_command(
            "import_data",
            fresh.slug,
            str(folder),
            "--kind",
            "hh",
            "--format",
            "hf_dataset",
            stdout=StringIO(),
        )
        assert _pairs(snapshot_create(project=fresh, filters=LENIENT)) == _pairs(snapshot)

    def test_the_schemas_of_one_snapshot_are_the_same_prompts(
        self, snapshot: Snapshot, tmp_path: Path
    ) -> None:
        fresh = Project.objects.create(name="Fresh", slug="fresh")
        first = import_file(project=fresh, path=_export(snapshot, "hh", "jsonl", tmp_path), kind="hh")
        assert first.prompts == 3
        for schema in ("trl_standard", "trl_conversational"):
            _nothing_new(
                import_file(project=fresh, path=_export(snapshot, schema, "jsonl", tmp_path), kind="pairs"), 3
            )


class UnpairedRoundTripTests:
    """The trl_unpaired export reads back with kind="unpaired": responses with their verdicts, nothing twice."""

    @staticmethod
    def _export(snapshot: Snapshot, fmt: str, folder: Path) -> Path:
        path = folder / f"export-trl_unpaired{export_services.EXTENSIONS[fmt]}"  # type: ignore[index]
        assert (
            export_write(snapshot=snapshot, fmt=fmt, schema="trl_unpaired", path=path, include_ties=True) == 6
        )
        return export_services._zip_folder(path) if fmt == "hf_dataset" else path

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_it_imports_every_row_into_a_fresh_project_and_nothing_into_its_own(
        self, project: Project, tmp_path: Path, fmt: str
    ) -> None:
        snapshot = unpaired_snapshot(project)
        path = self._export(snapshot, fmt, tmp_path)
        fresh = Project.objects.create(name="Fresh", slug="fresh")
        result = import_file(project=fresh, path=path, kind="unpaired")
        assert (result.records, result.prompts, result.responses, result.duplicates) == (6, 3, 6, 0)
        labels = sorted(
            Response.objects.filter(prompt__project=fresh).values_list("text", "metadata__imported_label")
        )
        assert labels == sorted(
            [
                ("4", True),
                ("5", False),
                ("Seven.", False),
                ("Purple-ish?", False),
                ("Hi!", True),
                ("Hello!", True),
            ]
        )
        # The prompts are the snapshot's own conversations, not their TRL standard strings.
        assert sorted(json.dumps(p.turns) for p in Prompt.objects.filter(project=fresh)) == sorted(
            json.dumps(turns) for turns in snapshot.pairs.values_list("prompt", flat=True)
        )
        # Again into the fresh project, and into the project the snapshot came from: all duplicates.
        for target in (fresh, project):
            before = _stored(target)
            again = import_file(project=target, path=path, kind="unpaired")
            assert (again.records, again.prompts, again.responses, again.duplicates) == (6, 0, 0, 6)
            assert _stored(target) == before


class DownloadUploadTests:
    def test_the_downloaded_zip_of_a_datasets_export_uploads_through_the_api(
        self, snapshot: Snapshot, tmp_path: Path, settings: Any, api: APIClient
    ) -> None:
        settings.MEDIA_ROOT = tmp_path / "media"
        archive = _export(snapshot, "trl_conversational", "hf_dataset", tmp_path)
        fresh = Project.objects.create(name="Fresh", slug="fresh")
        api.force_authenticate(make_superuser())
        upload = SimpleUploadedFile(archive.name, archive.read_bytes(), content_type="application/zip")
        response = api.post(
            f"/api/projects/{fresh.slug}/imports/", {"file": upload, "kind": "pairs"}, format="multipart"
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["status"], body["format"], body["counts"]["comparisons"]) == (
            "succeeded",
            "hf_dataset",
            3,
        )
        assert _pairs(snapshot_create(project=fresh, filters=LENIENT)) == _pairs(snapshot)


@pytest.mark.slow
class GenerateRoundTripTests:
    def test_generated_responses_import_onto_the_exported_prompts(
        self, snapshot: Snapshot, tmp_path: Path
    ) -> None:
        from alignment.training.config import GenerateConfig, load_config
        from alignment.training.generate import generate

        project = snapshot.project
        prompts_before = Prompt.objects.filter(project=project).count()
        comparisons_before = Comparison.objects.filter(project=project).count()
        for schema in ("trl_conversational", "trl_standard"):
            data = _export(snapshot, schema, "jsonl", tmp_path)
            config = load_config({"strategy": "generate", "num_return_sequences": 2, "response_length": 8})
            assert isinstance(config, GenerateConfig)
            out = generate(config, str(data), tmp_path / f"generated-{schema}")
            result = import_file(project=project, path=out.output_path, kind="responses")
            assert result.records == 3
            assert result.prompts == 0  # the same prompts, whichever way the export wrote them
        # The new responses met the old ones in comparisons for annotators.
        assert Prompt.objects.filter(project=project).count() == prompts_before
        assert Comparison.objects.filter(project=project).count() > comparisons_before
