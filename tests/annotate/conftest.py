"""Fixtures shared by the annotate tests in several folders."""

from __future__ import annotations

import pytest

from annotate.models import Project
from tests.factories import (
    make_annotators,
    make_voted_pairs,
)


@pytest.fixture
def voted(project: Project) -> Project:
    users = make_annotators(project, 3)
    make_voted_pairs(project, users, [["a", "a", "b"], ["b", "b", "b"], ["a", "b", ""]])
    return project
