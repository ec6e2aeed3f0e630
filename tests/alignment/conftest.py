"""Round tests keep their model versions under tmp (tests/conftest.py builds the tiny models once)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def model_root(settings: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A folder of this test's own for model versions (the session's one is in tests/conftest.py)."""
    root = tmp_path / "models"
    settings.CONCORD_MODEL_ROOT = root  # type: ignore[attr-defined]
    return root
