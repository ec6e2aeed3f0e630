"""Parquet, bounded by its uncompressed size before reading and by each row's decoded size while reading.

``row_bytes`` measures Arrow values without decoding them; the `datasets` folder reader
(``annotate.importing.hf_dataset_reader``) uses it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotate.importing.limits import ImportLimits
from annotate.importing.problems import rejected
from annotate.importing.source import Position, Unreadable, too_long


def parquet_uncompressed_bytes(metadata: Any) -> int:
    """A Parquet file's data size once uncompressed, from its row-group metadata (nothing is read)."""
    total = 0
    for group in range(metadata.num_row_groups):
        total += group_bytes(metadata.row_group(group))
    return total


def group_bytes(group: Any) -> int:
    # Both figures are written by the producer; take the larger so that neither alone can understate.
    columns = sum(group.column(i).total_uncompressed_size for i in range(group.num_columns))
    return max(int(group.total_byte_size), int(columns))


def row_bytes(array: Any) -> Any:
    """The decoded bytes of each value of an Arrow array (a numpy int64 array), read without decoding it."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        lengths = row_bytes(array.dictionary)
        indices = pc.fill_null(array.indices, 0).to_numpy(zero_copy_only=False)
        sizes = lengths[indices] if len(lengths) else np.zeros(len(array), dtype=np.int64)
        return np.where(array.is_null().to_numpy(zero_copy_only=False), 0, sizes)
    if (
        pa.types.is_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_string(kind)
        or (pa.types.is_large_binary(kind))
    ):
        return pc.fill_null(pc.binary_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        counts = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        child = row_bytes(array.flatten())
        running = np.concatenate([[0], np.cumsum(child)])
        ends = np.cumsum(counts)
        return running[ends] - running[ends - counts] + 8 * counts
    if pa.types.is_struct(kind):
        sizes = np.zeros(len(array), dtype=np.int64)
        for field in array.flatten():
            sizes += row_bytes(field)
        return sizes
    width = getattr(kind, "bit_width", 64) // 8 or 1
    return np.full(len(array), width, dtype=np.int64)


class ParquetSource:
    """Parquet, bounded before reading by its uncompressed size and while reading by its decoded size.

    A column of repeated values is dictionary-encoded: small on disk and in the metadata, yet
    it decodes into a copy per row, so a few KB can become gigabytes. Top-level text columns are
    therefore read as dictionaries, which stay small; each row's decoded size is computed from
    them, a row over the record limit is refused without being decoded, and rows are turned into
    Python values a few megabytes at a time.
    """

    text_cells: bool = False
    BATCH = 4096
    # Decoded bytes turned into Python values at a time, and read per batch (from the metadata).
    BATCH_BYTES = 8 << 20

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq  # heavy; only when a Parquet file comes in

        self.path = path
        self.limits = limits
        try:
            plain = pq.ParquetFile(path)
            schema = plain.schema_arrow
            texts = [
                f.name
                for f in schema
                if pa.types.is_string(f.type)
                or pa.types.is_large_string(f.type)
                or pa.types.is_binary(f.type)
            ]
            self.file = pq.ParquetFile(path, read_dictionary=texts) if texts else plain
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others for a bad file
            raise rejected(f"not a readable Parquet file: {exc}") from exc
        self.columns: list[str] | None = list(schema.names)
        self.rows = self.file.metadata.num_rows
        self.uncompressed = parquet_uncompressed_bytes(self.file.metadata)
        limit = limits.max_uncompressed_bytes
        if self.uncompressed > limit:
            raise rejected(
                f"the file's data is {self.uncompressed:,} bytes uncompressed; the limit is {limit:,} bytes "
                "(CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES)"
            )

    def _batches(self) -> Iterator[tuple[Any, list[int]]]:
        """Record batches (text columns still dictionaries) with each row's decoded size in bytes."""
        import numpy as np

        metadata = self.file.metadata
        for group in range(metadata.num_row_groups):
            meta = metadata.row_group(group)
            # Rows per batch so that a batch holds about BATCH_BYTES, as far as the metadata tells.
            size = max(1, min(self.BATCH, meta.num_rows * self.BATCH_BYTES // max(1, group_bytes(meta))))
            for batch in self.file.iter_batches(batch_size=size, row_groups=[group], use_threads=False):
                sizes = np.zeros(batch.num_rows, dtype=np.int64)
                for column in batch.columns:
                    sizes += row_bytes(column)
                yield batch, sizes.tolist()

    def decoded_bytes(self, *, stop_above: int) -> int:
        """The data's decoded size, or the first running total past ``stop_above``; decodes no text."""
        total = 0
        for _, sizes in self._batches():
            total += sum(sizes)
            if total > stop_above:
                break
        return total

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        number = 0
        decoded = 0
        limit, record_limit = self.limits.max_uncompressed_bytes, self.limits.max_record_bytes
        try:
            for batch, sizes in self._batches():
                decoded += sum(sizes)
                if decoded > limit:
                    message = f"the file's data decodes to more than {limit:,} bytes (CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES)"
                    yield Position(record=number + 1), Unreadable(message, fatal=True)
                    return
                start = 0
                while start < batch.num_rows:
                    if sizes[start] > record_limit:
                        number += 1
                        message = too_long("the record", f"{sizes[start]:,} bytes decoded", record_limit)
                        yield Position(record=number), Unreadable(message)
                        start += 1
                        continue
                    # Rows become Python values a few megabytes at a time, never a whole big batch.
                    stop, held = start, 0
                    while (
                        stop < batch.num_rows
                        and sizes[stop] <= record_limit
                        and (stop == start or held + sizes[stop] <= self.BATCH_BYTES)
                    ):
                        held += sizes[stop]
                        stop += 1
                    for row in batch.slice(start, stop - start).to_pylist():
                        number += 1
                        yield Position(record=number), row
                    start = stop
        except Exception as exc:  # a corrupt page surfaces only when read
            yield Position(record=number + 1), Unreadable(f"unreadable Parquet data: {exc}", fatal=True)
