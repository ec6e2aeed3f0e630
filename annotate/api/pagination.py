"""Limit/offset pagination with a ceiling, and a 400 for a limit or offset that is not a count."""

from __future__ import annotations

import contextlib
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

DEFAULT_LIMIT = 50
# A page of comparisons carries two full responses each; 500 of them is already megabytes.
MAX_LIMIT = 500


def _count(request: Request, name: str, *, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = None
    if raw.isascii() and raw.isdigit():
        # Past 4,300 digits int() refuses (ValueError): that is not a count either.
        with contextlib.suppress(ValueError):
            value = int(raw)
    if value is None or value < minimum:
        raise ValidationError({name: [f"Must be a whole number of at least {minimum}, got {raw[:40]!r}."]})
    return value


class ApiPagination(LimitOffsetPagination):
    """``?limit=`` defaults to 50; a limit above 500 is clamped to 500 (the answer's ``next`` says
    where to go on). A limit below 1, a negative offset or anything that is not a whole number is a 400."""

    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def get_limit(self, request: Request) -> int:
        value = _count(request, self.limit_query_param, minimum=1)
        return self.default_limit if value is None else min(value, self.max_limit)

    def get_offset(self, request: Request) -> int:
        # An offset past the end gives an empty page before any query is built from it.
        return _count(request, self.offset_query_param, minimum=0) or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page: {self.default_limit} by default; above {self.max_limit} it is {self.max_limit}.",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.offset_query_param,
                "required": False,
                "in": "query",
                "description": "Index of the first result; past the end the page is empty.",
                "schema": {"type": "integer", "minimum": 0},
            },
        ]
