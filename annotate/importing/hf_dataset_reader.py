"""A `datasets` folder (``save_to_disk``, as the hf_dataset export writes it), or a zip of one, read as Arrow batches."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from annotate.importing.limits import ImportLimits
from annotate.importing.parquet_reader import row_bytes
from annotate.importing.problems import rejected
from annotate.importing.source import Position, Unreadable, too_long


class HfDatasetSource:
    """A ``datasets`` folder (``save_to_disk``), or a zip of one, read an Arrow record batch at a time.

    The folder's ``state.json`` lists its Arrow files in order (else they are taken by name).
    Arrow files are uncompressed, so their sizes (a zip member's uncompressed size) are the
    data's size, checked against CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES before anything is read;
    each row's size is checked against the record limit before it is turned into Python values.
    """

    text_cells: bool = False

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        import pyarrow as pa  # heavy; only when a datasets folder comes in

        self.path = path
        self.limits = limits
        try:
            self.files = self._data_files()
            if not self.files:
                raise ValueError("it has no Arrow data files (data-*.arrow)")
            with self._open(self.files[0][0]) as handle:
                schema = pa.ipc.open_stream(handle).schema
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, pa.ArrowException) as exc:
            raise rejected(f"not a readable datasets folder: {exc}") from exc
        self.columns: list[str] | None = list(schema.names)
        self.uncompressed = sum(size for _, size in self.files)
        limit = limits.max_uncompressed_bytes
        if self.uncompressed > limit:
            raise rejected(
                f"the file's data is {self.uncompressed:,} bytes uncompressed; the limit is {limit:,} bytes "
                "(CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES)"
            )

    def _data_files(self) -> list[tuple[str, int]]:
        """(name, uncompressed size) of the Arrow files in order: paths in the folder or names in the zip."""
        if self.path.is_dir():
            sizes = {
                p.relative_to(self.path).as_posix(): p.stat().st_size
                for p in self.path.rglob("*")
                if p.is_file()
            }
            state_text = (self.path / "state.json").read_text() if "state.json" in sizes else None
            base = ""
        else:
            with zipfile.ZipFile(self.path) as archive:
                sizes = {i.filename: i.file_size for i in archive.infolist() if not i.is_dir()}
                states = sorted(
                    (n for n in sizes if n.rsplit("/", 1)[-1] == "state.json"), key=lambda n: n.count("/")
                )
                state_text = archive.read(states[0]).decode("utf-8") if states else None
                base = states[0][: -len("state.json")] if states else ""
        names: list[str] = []
        if state_text is not None:
            state = json.loads(state_text)
            names = [base + str(f["filename"]) for f in state.get("_data_files", [])]
        if not names:
            names = sorted(n for n in sizes if n.endswith(".arrow") and "cache-" not in n.rsplit("/", 1)[-1])
        missing = [n for n in names if n not in sizes]
        if missing:
            raise ValueError(f"state.json names {missing[0]}, which is not there")
        return [(n, sizes[n]) for n in names]

    @contextmanager
    def _open(self, name: str) -> Iterator[IO[bytes]]:
        if self.path.is_dir():
            with (self.path / name).open("rb") as handle:
                yield handle
            return
        with zipfile.ZipFile(self.path) as archive, archive.open(name) as handle:
            yield handle

    def __iter__(self) -> Iterator[tuple[Position, Any]]:
        import numpy as np
        import pyarrow as pa

        number = 0
        record_limit = self.limits.max_record_bytes
        try:
            for name, _ in self.files:
                with self._open(name) as handle:
                    for batch in pa.ipc.open_stream(handle):
                        sizes = np.zeros(batch.num_rows, dtype=np.int64)
                        for column in batch.columns:
                            sizes += row_bytes(column)
                        for index, size in enumerate(sizes.tolist()):
                            number += 1
                            if size > record_limit:
                                message = too_long("the record", f"{size:,} bytes decoded", record_limit)
                                yield Position(record=number), Unreadable(message)
                                continue
                            yield Position(record=number), batch.slice(index, 1).to_pylist()[0]
        except Exception as exc:  # a truncated or corrupt Arrow stream surfaces only when read
            yield (
                Position(record=number + 1),
                Unreadable(f"unreadable datasets folder data: {exc}", fatal=True),
            )
