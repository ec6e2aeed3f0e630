"""The kinds of record an import reads: their fields, the records they become, and the checks of a header.

One field table serves every kind, so that a field means the same in each: ``FIELDS`` says
which are required and which optional, ``annotate.importing.checker`` checks each field and
``annotate.importing.records`` builds each kind's record from them. Pairs, ratings and HH-RLHF
transcripts all become a ``ComparisonRecord`` whose ``choice`` says which response won (``a`` or
``b``); the chosen response is ``response_a``, and the serving code randomises display order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotate.formats.columns import STAT_COLUMNS

PromptContent = str | list[dict[str, str]]
ROLES = ("user", "assistant", "system")
# The kinds of import and their names in forms and the API: annotate.models.ImportKind is made from
# this table, so that the kinds the reader knows and the kinds a job may have are one list.
KIND_LABELS = {
    "prompts": "Prompts",
    "responses": "Responses",
    "pairs": "Preference pairs {prompt, chosen, rejected}",
    "ratings": "Ratings {prompt, response_a, response_b, preference}",
    "hh": "HH-RLHF transcripts {chosen, rejected}",
    "unpaired": "Unpaired verdicts (KTO) {prompt, completion, label}",
}
KINDS = tuple(KIND_LABELS)

# The columns our own exports add, accepted so that an exported file imports back: ``margin``
# becomes the imported verdict's strength; ``agreement`` and ``votes`` describe the source's
# vote and are checked but not stored.
EXPORT_COLUMNS = STAT_COLUMNS
# The columns `python -m alignment.training generate` writes besides ``prompt`` and ``responses``:
# ``scores`` (one per response) goes into each response's metadata as ``score``; ``best`` and
# ``best_score`` repeat one of them and are checked but not stored.
GENERATE_COLUMNS = ("scores", "best", "best_score")

# (required, optional) fields per kind.
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "prompts": (("prompt",), ("metadata",)),
    # ``response`` (one) or ``responses`` (a list, as generate writes them): one of the two is required.
    "responses": (("prompt",), ("response", "responses", "model_version", "metadata", *GENERATE_COLUMNS)),
    "pairs": (("prompt", "chosen", "rejected"), ("batch", *EXPORT_COLUMNS)),
    "ratings": (("prompt", "response_a", "response_b", "preference"), ("batch", *EXPORT_COLUMNS)),
    "hh": (("chosen", "rejected"), ("batch", *EXPORT_COLUMNS)),
    # TRL's unpaired preference rows (our trl_unpaired export): each response with its verdict.
    "unpaired": (("prompt", "completion", "label"), EXPORT_COLUMNS),
}
# Column sizes in annotate.models (Response.model_version, Comparison.batch).
MAX_LENGTH = {"model_version": 200, "batch": 100}

# Gold items (docs/formats.md, "Gold items"): ``"gold": true`` on a judged record makes its
# comparison a gold item whose answer is the record's verdict. Kept apart from FIELDS above.
GOLD_FIELD = "gold"
GOLD_KINDS = ("pairs", "ratings", "hh")
# CSV cells carry text; these are the spellings of a boolean accepted there.
BOOLEAN_CELLS = {"true": True, "false": False, "1": True, "0": False}
# Where an unpaired record's verdict is stored: Response.metadata[IMPORTED_LABEL], true for a
# desirable response and false for an undesirable one (the quality page counts them apart).
IMPORTED_LABEL = "imported_label"
for _kind in GOLD_KINDS:
    FIELDS[_kind] = (FIELDS[_kind][0], (*FIELDS[_kind][1], GOLD_FIELD))


@dataclass(frozen=True, slots=True)
class PromptRecord:
    prompt: PromptContent
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    prompt: PromptContent
    responses: tuple[str, ...]
    model_version: str
    # One per response: the record's metadata, plus the response's generate score if any.
    metadata: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class ComparisonRecord:
    prompt: PromptContent
    response_a: str
    response_b: str
    choice: str  # "a" or "b": which response the record says is better
    batch: str
    strength: str = ""  # from an exported file's margin, else unknown
    # The record has our export's ``votes``: its verdict summarises votes already cast, so a
    # comparison that has votes of its own takes no imported verdict from it (a re-import adds nothing).
    exported: bool = False
    gold: bool = False  # a gold item with ``choice`` as its answer (GOLD_FIELD)


Record = PromptRecord | ResponseRecord | ComparisonRecord


class RecordInvalid(Exception):
    """The record's problems as ``(field or None, message)`` pairs."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


def json_type(value: Any) -> str:
    """The JSON name of a value's type, as people who write JSON say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def columns_check(*, kind: str, columns: list[str]) -> list[tuple[str | None, str]]:
    """Problems with a header (CSV) or schema (Parquet): missing, unknown, unnamed or repeated columns."""
    required, optional = FIELDS[kind]
    allowed = required + optional
    problems: list[tuple[str | None, str]] = []
    seen: set[str] = set()
    for index, name in enumerate(columns, start=1):
        if not name:
            problems.append((None, f"column {index} has no name"))
        elif name in seen:
            problems.append((name, "column appears twice"))
        elif name not in allowed:
            problems.append((name, f"unknown column; allowed: {', '.join(allowed)}"))
        seen.add(name)
    for name in required:
        if name not in seen:
            problems.append((name, f"missing column; the header has: {', '.join(columns)}"))
    if kind == "responses" and not seen & {"response", "responses"}:
        problems.append(("response", f"missing column (or responses); the header has: {', '.join(columns)}"))
    return problems
