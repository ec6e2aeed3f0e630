from __future__ import annotations

from pathlib import Path

import pytest

from annotate.models import Comparison, Project, Prompt
from tests.annotate.importing.helpers import _write
from tests.factories import make_import_file, make_pair_records


@pytest.mark.django_db
class ImportDataCommandTests:
    def test_it_imports_and_prints_the_counts(self, project: Project, tmp_path: Path) -> None:
        from io import StringIO

        from django.core.management import call_command

        out, err = StringIO(), StringIO()
        path = make_import_file(tmp_path, make_pair_records(3), fmt="csv")
        call_command(
            "import_data", project.slug, str(path), "--kind", "pairs", "--batch", "c1", stdout=out, stderr=err
        )
        assert "Imported 3 records into demo" in out.getvalue()
        assert "3 new comparisons, 3 imported verdicts, 0 duplicates" in out.getvalue()
        assert set(Comparison.objects.values_list("batch", flat=True)) == {"c1"}

    def test_it_prints_the_first_twenty_problems_and_fails(self, project: Project, tmp_path: Path) -> None:
        from io import StringIO

        from django.core.management import CommandError, call_command

        err = StringIO()
        path = _write(tmp_path, "bad.jsonl", '{"prompt": "q", "chosen": 1, "rejected": "b"}\n' * 25)
        with pytest.raises(CommandError, match="25 problems; nothing was imported"):
            call_command(
                "import_data", project.slug, str(path), "--kind", "pairs", stdout=StringIO(), stderr=err
            )
        lines = [line for line in err.getvalue().splitlines() if line.startswith(("line", "and"))]
        assert lines[0] == 'line 1, field "chosen": expected a string, got number'
        assert lines[19].startswith("line 20,") and lines[20] == "and 5 more"
        assert Prompt.objects.count() == 0

    def test_it_says_when_the_project_does_not_exist(self, db: None, tmp_path: Path) -> None:
        from django.core.management import CommandError, call_command

        with pytest.raises(CommandError, match='no project with slug "nope"'):
            call_command("import_data", "nope", str(tmp_path / "x.jsonl"), "--kind", "pairs")
