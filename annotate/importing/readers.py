"""The five file formats: which one a file is, and a reader for it, each yielding ``(Position, value)`` pairs.

A reader knows nothing of kinds: it hands over what the file holds (a dict, or
anything else the file happens to contain, which ``records`` then refuses) with
where it was found (``annotate.importing.source``). Memory stays flat: JSONL and CSV go a
line at a time, JSON arrays are decoded an element at a time from a growing buffer, and
Parquet and `datasets` folders go a record batch at a time. No reader holds much more than
``ImportLimits.max_record_bytes`` of one record: a longer line or element is refused as it
is read, and Parquet and Arrow data are bounded by their uncompressed size before anything
is decoded, then by their decoded size as they are read. Each format is its own module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from annotate.importing.csv_reader import CsvSource
from annotate.importing.hf_dataset_reader import HfDatasetSource
from annotate.importing.json_reader import JsonArraySource, JsonLinesSource
from annotate.importing.limits import ImportLimits
from annotate.importing.parquet_reader import ParquetSource
from annotate.importing.problems import rejected
from annotate.importing.source import RecordSource

# hf_dataset: a folder that ``datasets``' save_to_disk wrote (Arrow files), or the zip of one that
# the export's download is; so that every export format imports back.
FORMATS = ("jsonl", "json", "csv", "parquet", "hf_dataset")
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".zip": "hf_dataset",
}


def format_for(*, name: str, fmt: str | None) -> str:
    """The format to read ``name`` as: ``fmt`` when given, else from the file name's extension."""
    if fmt:
        if fmt not in FORMATS:
            raise rejected(f'unknown format "{fmt}"; use one of: {", ".join(FORMATS)}')
        return fmt
    suffix = Path(name).suffix.lower()
    if suffix not in EXTENSIONS:
        raise rejected(
            f'cannot tell the format of "{Path(name).name}" from its extension; '
            f"name it {', '.join(EXTENSIONS)} or give the format ({', '.join(FORMATS)})"
        )
    return EXTENSIONS[suffix]


def records_open(*, path: str | Path, fmt: str, limits: ImportLimits | None = None) -> RecordSource:
    """A reader for the file; raises ``ImportRejected`` when the file as a whole cannot be read."""
    path = Path(path)
    limits = limits or ImportLimits()
    readers: dict[str, Callable[[Path, ImportLimits], RecordSource]] = {
        "jsonl": JsonLinesSource,
        "json": JsonArraySource,
        "csv": CsvSource,
        "parquet": ParquetSource,
        "hf_dataset": HfDatasetSource,
    }
    if fmt not in readers:
        raise rejected(f'unknown format "{fmt}"; use one of: {", ".join(FORMATS)}')
    return readers[fmt](path, limits)
