"""Round tests build the tiny models into a session folder and keep model versions under tmp."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("concord-models")
    previous = os.environ.get("CONCORD_MODEL_CACHE")
    os.environ["CONCORD_MODEL_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("CONCORD_MODEL_CACHE", None)
    else:
        os.environ["CONCORD_MODEL_CACHE"] = previous


@pytest.fixture
def model_root(settings: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A folder of this test's own for model versions (the session's one is in tests/conftest.py)."""
    root = tmp_path / "models"
    settings.CONCORD_MODEL_ROOT = root  # type: ignore[attr-defined]
    return root
