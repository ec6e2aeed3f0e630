"""Parsers that answer 400 where the stock ones read a body wrongly: JSON nested deeper than any of our bodies
needs, and a multipart body with a part that Django's parser would skip."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import IO, Any, cast

from django.http import multipartparser
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


# Django looks for the end of a part's headers in its first MAX_TOTAL_HEADER_SIZE bytes; the start of a part
# kept to say what is wrong with it holds those and the line break Django drops before a delimiter.
MAX_TOTAL_HEADER_SIZE: int = multipartparser.MAX_TOTAL_HEADER_SIZE  # type: ignore[attr-defined]
_HEAD_ROOM = MAX_TOTAL_HEADER_SIZE + 2


class _PartCounter:
    """Reads a multipart body through to Django's parser, counting the parts its boundaries open."""

    def __init__(self, stream: IO[bytes], boundary: bytes) -> None:
        self._stream = stream
        # Django splits on "--<boundary>" wherever it occurs (no CRLF needed before it); so does this.
        self._delimiter = b"--" + boundary
        self._pending = b""  # unscanned bytes that may hold the start of a delimiter
        self._head: bytearray | None = None  # the start of the part being read; None outside a part
        self._head_seen = 0  # how much of that part has been read
        self.bytes_read = 0
        self.parts = 0
        self.closed = False
        self.problem = ""  # what is wrong with the first part whose headers Django cannot read

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.bytes_read += len(chunk)
        self._scan(chunk, end=not chunk and size != 0)
        return chunk

    def finish(self) -> None:
        """Reads what Django left unread (normally nothing) and ends the last part."""
        while self.read(64 * 1024):
            pass

    def _scan(self, chunk: bytes, *, end: bool) -> None:
        data = self._pending + chunk
        size = len(self._delimiter)
        pos = 0
        while True:
            found = data.find(self._delimiter, pos)
            # The two bytes after a delimiter tell a closing one ("--") from one that opens a part.
            if found < 0 or (len(data) < found + size + 2 and not end):
                keep = found if found >= 0 else max(pos, len(data) - size - 1)
                self._feed(data, pos, keep)
                self._pending = data[keep:]
                return
            self._feed(data, pos, found)
            self._end_part()
            pos = found + size
            if data[pos : pos + 2] == b"--":
                self.closed = True
            else:
                self.parts += 1
                self._head = bytearray()
                self._head_seen = 0

    def _feed(self, data: bytes, start: int, stop: int) -> None:
        if self._head is not None:
            self._head_seen += stop - start
            room = _HEAD_ROOM - len(self._head)
            if room > 0:
                self._head += data[start : min(stop, start + room)]

    def _end_part(self) -> None:
        head, self._head = self._head, None
        if head is None or self.problem:
            return
        text = bytes(head)
        if self._head_seen <= _HEAD_ROOM:
            # Django drops the line break before the next delimiter: a part that ends with its headers (as
            # Werkzeug's test client writes an empty value) has no blank line after them.
            text = text.removesuffix(b"\n").removesuffix(b"\r")
        # Django looks for the blank line in the first MAX_TOTAL_HEADER_SIZE bytes of a part only.
        headers, blank, _ = text[:MAX_TOTAL_HEADER_SIZE].partition(b"\r\n\r\n")
        name = re.search(rb'\bname="([^"]{0,40})', headers, re.IGNORECASE)
        called = f" ({name.group(1).decode('utf-8', 'replace')!r})" if name else ""
        if not blank:
            self.problem = f"part {self.parts}{called} has no blank line after its headers"
        elif not re.search(rb"(?im)^content-disposition:[^\r\n]*\bname=", headers):
            self.problem = f"part {self.parts} has no Content-Disposition header with a name"


class StrictMultiPartParser(parsers.MultiPartParser):
    """Django's multipart parser skips a part it cannot read (a body with none is an empty form); that is a 400."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        boundary = parse_header_parameters(media_type or "")[1].get("boundary", "")
        try:
            counter = _PartCounter(stream, boundary.encode("ascii")) if boundary else None
        except UnicodeEncodeError:
            counter = None  # Django refuses a non-ASCII boundary itself
        result = super().parse(
            stream if counter is None else cast(IO[Any], counter), media_type, parser_context
        )
        if not result.data and not result.files:
            meta = (parser_context or {})["request"].META
            # "--<boundary>--" and a line break is an empty form; anything longer had parts we could not read.
            if int(meta.get("CONTENT_LENGTH") or 0) > len(boundary) + 8:
                raise ParseError("Multipart form parse error - the body has no readable part.")
        if counter is None:
            return result
        counter.finish()
        if not counter.bytes_read:
            return result  # an empty body, which Django does not read: an empty form
        if not counter.closed:
            raise ParseError("Multipart form parse error - the body ends before its closing boundary.")
        read = sum(len(values) for _, values in result.data.lists()) + sum(
            len(values) for _, values in result.files.lists()
        )
        # Django silently skips a part whose headers lack the blank line, a name, or a usable file name
        # (or reads one out of the preamble): the form would arrive without it, its field at the default.
        if read != counter.parts:
            detail = counter.problem or f"{counter.parts} part(s) were sent and {read} could be read"
            raise ParseError(f"Multipart form parse error - {detail}.")
        return result
