"""A JSON parser that refuses JSON nested deeper than any of our bodies needs, with a 400."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import IO, Any

from django.utils.http import parse_header_parameters
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No API body nests more than two levels; 64 leaves room and stays far below Python's recursion limit.
MAX_JSON_DEPTH = 64
# A string literal (skipped whole, so brackets inside it do not count) or one bracket.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_too_deep(text: str, *, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when brackets in ``text`` nest deeper than ``limit``; one scan, no recursion."""
    # The hot path (a submit body) has two brackets: counting them is all it pays.
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSONParser, with a 400 naming the problem for JSON nested deeper than MAX_JSON_DEPTH."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        # DRF's check: a bytes-to-bytes codec (bz2_codec) would inflate the body past the upload limit.
        encoding = parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]
        try:
            text = stream.read().decode(encoding)
        except UnicodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding} text: {exc}") from exc
        if json_too_deep(text):
            raise ParseError(
                f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects."
            )
        try:
            return json.loads(text, parse_constant=_refuse_constant if self.strict else None)
        except RecursionError as exc:  # unreachable after the scan; kept so no input can make a 500
            raise ParseError("JSON parse error - nested too deeply.") from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class StrictMultiPartParser(parsers.MultiPartParser):
    """Django's multipart parser reads a body with no well-formed part as an empty form; that is a 400."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        result = super().parse(stream, media_type, parser_context)
        if not result.data and not result.files:
            meta = (parser_context or {})["request"].META
            boundary = parse_header_parameters(media_type or "")[1].get("boundary", "")
            # "--<boundary>--" and a line break is an empty form; anything longer had parts we could not read.
            if int(meta.get("CONTENT_LENGTH") or 0) > len(boundary) + 8:
                raise ParseError("Multipart form parse error - the body has no readable part.")
        return result
