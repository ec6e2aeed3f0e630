"""Helpers the training tests share: a step's config from keys, and rows written as a data file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from alignment.training.config import StepConfig, load_config

C = TypeVar("C", bound=StepConfig)


def step_config(cls: type[C], /, **keys: Any) -> C:
    """The config `load_config` reads for `cls`'s step from `keys` (checked to be a `cls`)."""
    config = load_config({"strategy": cls.STEP, **keys})
    assert isinstance(config, cls)
    return config


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """The rows as a JSON-lines data file at `path`."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
