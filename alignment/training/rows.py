"""Rows in, rows checked: reading data files and turning prompts (text or chat turns) into text."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

Row = Mapping[str, Any]
Rows = Sequence[Row] | str | Path


class DataError(ValueError):
    """Rows that a step cannot train on; the message names the row and the missing field."""


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a JSONL, JSON (list of objects), CSV or Parquet file as dicts."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        with path.open() as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        return rows
    if suffix == ".json":
        data = json.loads(path.read_text())
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of objects")
        return data
    if suffix == ".csv":
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_table(path).to_pylist())
    raise DataError(f"{path}: unknown data format '{suffix}'; use .jsonl, .json, .csv or .parquet")


def as_rows(rows: Rows | None, dataset: str | None) -> list[dict[str, Any]]:
    """Rows given directly, else read from a path, else from the config's `dataset` file."""
    if rows is None:
        if dataset is None:
            raise DataError("no data: pass rows or a data file, or set 'dataset' in the config")
        rows = dataset
    if isinstance(rows, str | Path):
        return read_rows(rows)
    return [dict(row) for row in rows]


def require_fields(rows: Iterable[Row], fields: Sequence[str], *, step: str) -> None:
    """Raise `DataError` naming the first row without one of `fields`."""
    for number, row in enumerate(rows, start=1):
        for name in fields:
            if row.get(name) in (None, ""):
                raise DataError(f"{step}: row {number} has no '{name}' (needs {', '.join(fields)})")


def prompt_text(prompt: Any) -> str:
    """A prompt as text: strings as they are, chat turns as 'role: content' lines ending in 'assistant: '."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        lines = [f"{turn['role']}: {turn['content']}" for turn in prompt]
        return "\n".join([*lines, "assistant: "])
    raise DataError(
        f"a prompt must be text or a list of {{role, content}} turns, got {type(prompt).__name__}"
    )


def response_text(response: Any) -> str:
    """A response as text: strings as they are, assistant turns (conversational exports) as their content."""
    if isinstance(response, list):
        return "\n".join(str(turn.get("content", "")) for turn in response if isinstance(turn, Mapping))
    if isinstance(response, Mapping):
        return str(response.get("content", ""))
    return str(response)


def prompts_of(rows: Iterable[Row]) -> list[str]:
    """The prompt text of each row (`prompt`, or `query` as TRL's PPO examples name it)."""
    out = []
    for number, row in enumerate(rows, start=1):
        prompt = row.get("prompt", row.get("query"))
        if prompt is None:
            raise DataError(f"row {number} has no 'prompt'")
        out.append(prompt_text(prompt))
    return out


def split_rows(rows: Sequence[Row], share: float, *, seed: int) -> tuple[list[Row], list[Row]]:
    """A seeded (train, held-out) split with `share` of the rows held out (at least one when share > 0)."""
    import random

    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held = 0 if share <= 0 else max(1, round(len(rows) * share))
    held_idx = set(order[:held])
    return [r for i, r in enumerate(rows) if i not in held_idx], [
        r for i, r in enumerate(rows) if i in held_idx
    ]
