"""Fixtures of the export tests."""

from tests.annotate.services.export_helpers import snapshot  # noqa: F401
