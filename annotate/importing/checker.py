"""The checks of one field of a record: each says exactly what is wrong, and with which field.

``FieldChecker`` collects the problems of one record, so that all of them are reported at
once; ``annotate.importing.records`` calls it field by field for each kind. Text must be
storable in PostgreSQL (no NUL, no lone surrogate) and within the limits of ``ImportLimits``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from annotate.aggregation.labels import MARGIN_STRENGTH
from annotate.formats.hh import hh_prompt_turns
from annotate.importing.kinds import BOOLEAN_CELLS, MAX_LENGTH, ROLES, PromptContent, json_type
from annotate.importing.limits import ImportLimits
from annotate.importing.problems import UNSTORABLE


def unstorable(text: str) -> str | None:
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


class FieldChecker:
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
        reason = unstorable(value)
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
        reason = unstorable(value)
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
                        if isinstance(key, str) and (reason := unstorable(key)) is not None:
                            self.bad(field, f"a key at {where} {reason}")
                            return False
                        stack.append((child, f"{where}.{key}", depth + 1))
                else:
                    stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
            elif isinstance(item, str):
                if (reason := unstorable(item)) is not None:
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


def boolean_flag(check: FieldChecker, record: dict[str, Any], field: str) -> bool | None:
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
