"""How much one import may hold, so that a hostile file is refused while it is read, not after.

The defaults are those of ``config.settings`` (which reads them from the environment);
``annotate.services.imports`` passes the configured values in, so this package stays Django-free.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImportLimits:
    # Records in one file (CONCORD_IMPORT_MAX_RECORDS).
    max_records: int = 2_000_000
    # One text field: a prompt, a turn's content, a response, metadata as JSON (CONCORD_IMPORT_MAX_FIELD_CHARS).
    max_field_chars: int = 256 * 1024
    # One record: a JSONL line in bytes, a JSON element or CSV row in characters, a Parquet row in
    # decoded bytes (CONCORD_IMPORT_MAX_RECORD_BYTES). Readers hold no more than about this of a record.
    max_record_bytes: int = 1024 * 1024
    # Nesting of JSON inside a record (CONCORD_IMPORT_MAX_JSON_DEPTH).
    max_json_depth: int = 32
    # A Parquet file's data once uncompressed and decoded (CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES).
    max_uncompressed_bytes: int = 512 * 1024 * 1024
