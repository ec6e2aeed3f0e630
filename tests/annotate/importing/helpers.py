"""Files and row counts shared by the import tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotate.importing.problems import ImportRejected
from annotate.models import Comparison, Judgment, Project, Prompt, Response
from annotate.services.imports import import_file

HH_CHOSEN = (
    "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Name a colour.\n\nAssistant: Blue."
)
HH_REJECTED = (
    "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Name a colour.\n\nAssistant: No."
)


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _rows() -> dict[str, int]:
    return {
        "prompts": Prompt.objects.count(),
        "responses": Response.objects.count(),
        "comparisons": Comparison.objects.count(),
        "judgments": Judgment.objects.count(),
    }


def _problems(project: Project, path: Path, kind: str, fmt: str | None = None) -> list[str]:
    before = _rows()
    with pytest.raises(ImportRejected) as caught:
        import_file(project=project, path=path, kind=kind, fmt=fmt)
    assert _rows() == before, "a rejected file must write nothing"
    return [str(p) for p in caught.value.problems]


GOOD = '{"prompt": "q", "chosen": "yes", "rejected": "no"}\n'
