"""One record of each kind: check it and turn it into what the writer stores.

Every check says exactly what is wrong and with which field, and all of a record's
problems are reported at once. Pairs, ratings and HH-RLHF transcripts all become a
``ComparisonRecord`` whose ``choice`` says which response won (``a`` or ``b``); the
chosen response is ``response_a``, and the serving code randomises display order.

Over 350 lines on purpose: one field table and one checker serve every kind, so that a
field means the same in each; the formats themselves are ``annotate.formats``'.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from annotate.aggregation.labels import MARGIN_STRENGTH
from annotate.formats.columns import STAT_COLUMNS
from annotate.formats.hh import hh_prompt_turns, hh_turns
from annotate.importing.limits import ImportLimits
from annotate.importing.problems import UNSTORABLE

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


def _unstorable(text: str) -> str | None:
    """Why PostgreSQL cannot store this text (a NUL or a lone surrogate, and where), or None."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character (\\u0000)" if char == "\x00" else f"a lone surrogate (\\u{ord(char):04x})"
    return f"contains {what} at character {found.start() + 1:,}, which cannot be stored"


def json_text_decode(text: str) -> Any:
    """JSON from a CSV cell; raises ``ValueError`` saying why it is not (too deep included)."""
    try:
        return json.loads(text)
    except RecursionError:
        # The C decoder counts its depth against Python's recursion limit and stops cleanly.
        raise ValueError("JSON nested too deeply") from None


def batch_problems(batch: str) -> list[tuple[str | None, str]]:
    """What is wrong with a batch label given outside a file (an import's own batch), if anything."""
    problems: list[tuple[str | None, str]] = []
    _Checker(problems, False, ImportLimits()).optional_text({"batch": batch}, "batch")
    return problems


def record_parse(
    *, kind: str, value: Any, text_cells: bool = False, limits: ImportLimits | None = None
) -> Record:
    """The record, checked and normalised; raises ``RecordInvalid`` listing every problem."""
    if not isinstance(value, dict):
        raise RecordInvalid([(None, f"expected a JSON object, got {json_type(value)}")])
    required, optional = FIELDS[kind]
    allowed = required + optional
    problems: list[tuple[str | None, str]] = []
    for name in value:
        if name not in allowed:
            problems.append((str(name), f"unknown field; allowed: {', '.join(allowed)}"))
    # Absent optional values: null anywhere, and an empty cell in CSV.
    present = {k: v for k, v in value.items() if v is not None or k in required}
    if text_cells:
        present = {k: v for k, v in present.items() if v != "" or k in required}
    for name in required:
        if name not in present:
            problems.append((name, "missing required field"))
    check = _Checker(problems, text_cells, limits or ImportLimits())
    record = _BUILDERS[kind](check, present)
    record = _gold_apply(check, kind, present, record)
    if problems:
        raise RecordInvalid(problems)
    assert record is not None
    return record


class _Checker:
    def __init__(
        self, problems: list[tuple[str | None, str]], text_cells: bool, limits: ImportLimits
    ) -> None:
        self.problems = problems
        self.text_cells = text_cells
        self.limits = limits
        # The prompt was an HH transcript ending in an open "\n\nAssistant:" (TRL's standard form of
        # HH-RLHF): the responses then begin with the space that follows "Assistant:", which is dropped.
        self.assistant_open = False
        self.exported = False

    def bad(self, field: str, message: str) -> None:
        self.problems.append((field, message))

    def text(self, record: dict[str, Any], field: str) -> str | None:
        if field not in record:
            return None  # already reported as missing
        return self.text_value(record[field], field)

    def text_value(self, value: Any, field: str) -> str | None:
        if not isinstance(value, str):
            self.bad(field, f"expected a string, got {json_type(value)}")
            return None
        if not self.storable(value, field):
            return None
        if not value.strip():
            self.bad(field, "must not be empty")
            return None
        return value

    def storable(self, value: str, field: str) -> bool:
        """Within the field limit and free of what PostgreSQL refuses; else reported."""
        limit = self.limits.max_field_chars
        if len(value) > limit:
            self.bad(
                field,
                f"is {len(value):,} characters long; the limit is {limit:,} (CONCORD_IMPORT_MAX_FIELD_CHARS)",
            )
            return False
        reason = _unstorable(value)
        if reason is not None:
            self.bad(field, reason)
            return False
        return True

    def optional_text(self, record: dict[str, Any], field: str) -> str:
        value = record.get(field, "")
        if not isinstance(value, str):
            self.bad(field, f"expected a string, got {json_type(value)}")
            return ""
        limit = MAX_LENGTH[field]
        if len(value) > limit:
            self.bad(field, f"is longer than {limit} characters")
            return ""
        reason = _unstorable(value)
        if reason is not None:
            self.bad(field, reason)
            return ""
        return value

    def number(self, record: dict[str, Any], field: str, low: float, high: float | None) -> float | None:
        if field not in record:
            return None
        value = record[field]
        if self.text_cells and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                self.bad(field, f"expected a number, got {value!r}")
                return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            self.bad(field, f"expected a number, got {json_type(value)}")
            return None
        if value < low or (high is not None and value > high):
            self.bad(
                field,
                f"must be between {low:g} and {high:g}" if high is not None else f"must be at least {low:g}",
            )
            return None
        return float(value)

    def export_columns(self, record: dict[str, Any]) -> str:
        """Check margin/agreement/votes; the strength the margin stands for ("" without one)."""
        self.exported = "votes" in record
        margin = self.number(record, "margin", 0, 3)
        self.number(record, "agreement", 0, 1)
        self.number(record, "votes", 0, None)
        return "" if margin is None else MARGIN_STRENGTH[round(margin)]

    def metadata(self, record: dict[str, Any]) -> dict[str, Any]:
        value = record.get("metadata", {})
        if self.text_cells and isinstance(value, str):
            if len(value) > self.limits.max_field_chars:
                self.storable(value, "metadata")
                return {}
            try:
                value = json_text_decode(value)
            except ValueError as exc:
                reason = "JSON nested too deeply" if "deeply" in str(exc) else "text that is not JSON"
                self.bad("metadata", f"expected a JSON object, got {reason}")
                return {}
        if not isinstance(value, dict):
            self.bad("metadata", f"expected an object, got {json_type(value)}")
            return {}
        if not self.json_storable(value, "metadata"):
            return {}
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            self.bad("metadata", f"cannot be stored as JSON: {exc}")
            return {}
        limit = self.limits.max_field_chars
        if len(text) > limit:
            self.bad(
                "metadata",
                f"is {len(text):,} characters as JSON; the limit is {limit:,} (CONCORD_IMPORT_MAX_FIELD_CHARS)",
            )
            return {}
        return value

    def json_storable(self, value: Any, field: str) -> bool:
        """A JSON value PostgreSQL's jsonb takes: bounded depth, no NUL or lone surrogate, finite numbers."""
        # Walked with an explicit stack: a value nested thousands deep must not recurse here either.
        stack: list[tuple[Any, str, int]] = [(value, field, 1)]
        while stack:
            item, where, depth = stack.pop()
            if isinstance(item, dict | list | tuple):
                if depth > self.limits.max_json_depth:
                    self.bad(
                        field,
                        f"is nested more than {self.limits.max_json_depth} levels deep at {where} (CONCORD_IMPORT_MAX_JSON_DEPTH)",
                    )
                    return False
                if isinstance(item, dict):
                    for key, child in item.items():
                        if isinstance(key, str) and (reason := _unstorable(key)) is not None:
                            self.bad(field, f"a key at {where} {reason}")
                            return False
                        stack.append((child, f"{where}.{key}", depth + 1))
                else:
                    stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
            elif isinstance(item, str):
                if (reason := _unstorable(item)) is not None:
                    self.bad(field, f"{where} {reason}")
                    return False
            elif isinstance(item, float) and not math.isfinite(item):
                self.bad(field, f"{where} is {item}, which JSON cannot store")
                return False
        return True

    def prompt(self, record: dict[str, Any], field: str = "prompt") -> PromptContent | None:
        if field not in record:
            return None
        value = record[field]
        if self.text_cells and isinstance(value, str) and value.lstrip().startswith("["):
            # CSV carries turns as JSON text in the cell; text that merely starts with "[" stays text.
            if len(value) > self.limits.max_field_chars:
                self.storable(value, field)
                return None
            try:
                decoded = json_text_decode(value)
            except ValueError as exc:
                if "deeply" in str(exc):
                    self.bad(field, "the turns' JSON is nested too deeply")
                    return None
                decoded = None
            if isinstance(decoded, list):
                value = decoded
        if isinstance(value, str):
            text = self.text_value(value, field)
            read = None if text is None else hh_prompt_turns(text)
            if read is not None:
                # "…Assistant:" leaves the space to the responses; "…Assistant: " kept it.
                self.assistant_open = value.endswith(":")
                return read
            return text
        if not isinstance(value, list | tuple):
            self.bad(field, f"expected a string or a list of {{role, content}} turns, got {json_type(value)}")
            return None
        if not value:
            self.bad(field, "must not be empty")
            return None
        turns: list[dict[str, str]] = []
        for index, turn in enumerate(value):
            where = f"{field}[{index}]"
            if not isinstance(turn, dict):
                self.bad(where, f"expected a {{role, content}} object, got {json_type(turn)}")
                continue
            unknown = [k for k in turn if k not in ("role", "content")]
            for key in unknown:
                self.bad(f"{where}.{key}", "unknown field; allowed: role, content")
            role = turn.get("role")
            if role is None:
                self.bad(f"{where}.role", "missing required field")
            elif not isinstance(role, str):
                self.bad(f"{where}.role", f"expected a string, got {json_type(role)}")
            elif role not in ROLES:
                self.bad(f"{where}.role", f'expected "user", "assistant" or "system", got "{role}"')
            if "content" not in turn:
                self.bad(f"{where}.content", "missing required field")
                continue
            content = self.text_value(turn["content"], f"{where}.content")
            if isinstance(role, str) and content is not None and not unknown:
                turns.append({"role": role, "content": content})
        return turns if len(turns) == len(value) else None

    def reply(self, record: dict[str, Any], field: str) -> str | None:
        """A response: a string, or a list of one assistant turn (TRL's conversational form)."""
        if field not in record:
            return None
        value = record[field]
        if isinstance(value, list | tuple):
            turn = value[0] if len(value) == 1 else None
            if (
                not isinstance(turn, dict)
                or turn.get("role") != "assistant"
                or set(turn) != {"role", "content"}
            ):
                self.bad(
                    field,
                    'expected a string or a list of one {"role": "assistant", "content": ...} turn, '
                    f"got an array of {len(value)}" + ("" if turn is None else " that is not one"),
                )
                return None
            text = self.text_value(turn["content"], f"{field}[0].content")
        else:
            text = self.text_value(value, field)
        if text is not None and self.assistant_open and text.startswith(" ") and text[1:].strip():
            text = text[1:]
        return text

    def different(self, first: str | None, second: str | None, first_field: str, second_field: str) -> None:
        if first is not None and first == second:
            self.bad(second_field, f'is the same as "{first_field}"')


def _flag(check: _Checker, record: dict[str, Any], field: str) -> bool | None:
    """A boolean field (in CSV: true, false, 1 or 0); absent is False, a bad value reported and None."""
    value = record.get(field, False)
    if check.text_cells and isinstance(value, str):
        flag = BOOLEAN_CELLS.get(value.strip().lower())
        if flag is None:
            check.bad(field, f'expected true or false, got "{value}"')
        return flag
    if not isinstance(value, bool):
        check.bad(field, f"expected true or false, got {json_type(value)}")
        return None
    return value


def _gold_apply(check: _Checker, kind: str, present: dict[str, Any], record: Record | None) -> Record | None:
    if kind not in GOLD_KINDS:
        return record
    gold = _flag(check, present, GOLD_FIELD)
    if gold and isinstance(record, ComparisonRecord):
        return dataclasses.replace(record, gold=True)
    return record


def _prompt_record(check: _Checker, record: dict[str, Any]) -> PromptRecord | None:
    prompt = check.prompt(record)
    metadata = check.metadata(record)
    return None if prompt is None else PromptRecord(prompt=prompt, metadata=metadata)


def _response_record(check: _Checker, record: dict[str, Any]) -> ResponseRecord | None:
    prompt = check.prompt(record)
    responses: list[str | None] = []
    if "response" in record and "responses" in record:
        check.bad("responses", 'give "response" or "responses", not both')
    elif "response" in record:
        responses = [check.reply(record, "response")]
    elif "responses" not in record:
        check.bad("response", 'missing required field (or "responses", a list)')
    elif not isinstance(record["responses"], list | tuple) or not record["responses"]:
        kind = (
            "an empty array"
            if isinstance(record["responses"], list | tuple)
            else json_type(record["responses"])
        )
        check.bad("responses", f"expected a non-empty array of strings, got {kind}")
    else:
        items = {f"responses[{i}]": item for i, item in enumerate(record["responses"])}
        responses = [check.reply(items, name) for name in items]
    scores = _scores(check, record, len(responses))
    if "best" in record:
        best = check.text(record, "best")
        if best is not None and responses and best not in responses:
            check.bad("best", 'is not one of "responses"')
    check.number(record, "best_score", -math.inf, None)
    model_version = check.optional_text(record, "model_version")
    metadata = check.metadata(record)
    texts = [r for r in responses if r is not None]
    if prompt is None or not responses or len(texts) != len(responses):
        return None
    return ResponseRecord(
        prompt=prompt,
        responses=tuple(texts),
        model_version=model_version,
        metadata=tuple(metadata if s is None else {**metadata, "score": s} for s in scores),
    )


def _scores(check: _Checker, record: dict[str, Any], count: int) -> list[float | None]:
    """The generate scores of a record's responses, one per response (None where there are none)."""
    value = record.get("scores")
    if value is None:
        return [None] * count
    if not isinstance(value, list | tuple) or len(value) != count:
        shown = f"an array of {len(value)}" if isinstance(value, list | tuple) else json_type(value)
        check.bad("scores", f"expected one number per response ({count}), got {shown}")
        return [None] * count
    scores: list[float | None] = []
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            check.bad(f"scores[{index}]", f"expected a finite number, got {json_type(item)}")
            scores.append(None)
        else:
            scores.append(float(item))
    return scores


def _pair_record(check: _Checker, record: dict[str, Any]) -> ComparisonRecord | None:
    prompt = check.prompt(record)
    chosen = check.reply(record, "chosen")
    rejected = check.reply(record, "rejected")
    batch = check.optional_text(record, "batch")
    strength = check.export_columns(record)
    check.different(chosen, rejected, "chosen", "rejected")
    if prompt is None or chosen is None or rejected is None:
        return None
    return ComparisonRecord(
        prompt=prompt,
        response_a=chosen,
        response_b=rejected,
        choice="a",
        batch=batch,
        strength=strength,
        exported=check.exported,
    )


def _rating_record(check: _Checker, record: dict[str, Any]) -> ComparisonRecord | None:
    prompt = check.prompt(record)
    first = check.reply(record, "response_a")
    second = check.reply(record, "response_b")
    batch = check.optional_text(record, "batch")
    strength = check.export_columns(record)
    check.different(first, second, "response_a", "response_b")
    preference = record.get("preference")
    if "preference" in record and preference not in ("a", "b"):
        shown = f'"{preference}"' if isinstance(preference, str) else json_type(preference)
        check.bad("preference", f'expected "a" or "b", got {shown}')
    if prompt is None or first is None or second is None or preference not in ("a", "b"):
        return None
    return ComparisonRecord(
        prompt=prompt,
        response_a=first,
        response_b=second,
        choice=str(preference),
        batch=batch,
        strength=strength,
        exported=check.exported,
    )


def _hh_record(check: _Checker, record: dict[str, Any]) -> ComparisonRecord | None:
    parsed: dict[str, list[dict[str, str]] | None] = {}
    for field in ("chosen", "rejected"):
        text = check.text(record, field)
        parsed[field] = None
        if text is not None:
            try:
                parsed[field] = hh_turns(text)
            except ValueError as exc:
                check.bad(field, f"not an HH-RLHF transcript: {exc}")
    batch = check.optional_text(record, "batch")
    strength = check.export_columns(record)
    chosen, rejected = parsed["chosen"], parsed["rejected"]
    if chosen is None or rejected is None:
        return None
    if chosen[:-1] != rejected[:-1]:
        check.bad("rejected", 'the conversation before the last "Assistant:" turn differs from "chosen"')
        return None
    check.different(chosen[-1]["content"], rejected[-1]["content"], "chosen", "rejected")
    return ComparisonRecord(
        prompt=chosen[:-1],
        response_a=chosen[-1]["content"],
        response_b=rejected[-1]["content"],
        choice="a",
        batch=batch,
        strength=strength,
        exported=check.exported,
    )


def _unpaired_record(check: _Checker, record: dict[str, Any]) -> ResponseRecord | None:
    """A response with the dataset's verdict on it (KTO's label), stored in its metadata; no comparison."""
    prompt = check.prompt(record)
    completion = check.reply(record, "completion")
    label = _flag(check, record, "label") if "label" in record else None
    check.export_columns(record)
    if prompt is None or completion is None or label is None:
        return None
    return ResponseRecord(
        prompt=prompt, responses=(completion,), model_version="", metadata=({IMPORTED_LABEL: label},)
    )


_BUILDERS: dict[str, Any] = {
    "prompts": _prompt_record,
    "responses": _response_record,
    "pairs": _pair_record,
    "ratings": _rating_record,
    "hh": _hh_record,
    "unpaired": _unpaired_record,
}
