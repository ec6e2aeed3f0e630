"""A round's folder under the model root and the JSONL rows the library reads from it."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alignment.models import AlignmentRound
from alignment.services.runs import RunProgress, absolute, round_folder

MIN_PAIRS = 8


def round_dir(round_: AlignmentRound) -> Path:
    folder = absolute(round_folder(round_))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def jsonl_write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows atomically (a reader never sees half a file), also while another delivery writes the same file.

    Each write stages in a file of its own beside ``path``: with one fixed staging name, two deliveries
    of a step wrote into one file and the second ``os.replace`` found it gone. Removed on failure.
    """
    staging = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
    # As mkstemp does (a new file, never an existing one), but with the umask's mode rather than 0600:
    # the snapshot step writes these on the default queue's worker and the training worker reads them.
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path


def library_work(config: dict[str, Any]) -> Callable[[Path, RunProgress], dict[str, Any]]:
    """Work that runs one library step with ``config`` in the run's folder and returns its result as JSON."""

    def work(folder: Path, progress: RunProgress) -> dict[str, Any]:
        from alignment.training import load_config, run_step

        return run_step(load_config(config), None, folder, progress=progress).to_dict()

    return work


def jsonl_read(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
