"""One record of each kind: check it field by field and turn it into what the writer stores.

Every problem of a record is reported at once, each naming its field; the fields of each
kind are ``annotate.importing.kinds``', the checks of one field ``annotate.importing.checker``'s,
and the formats themselves ``annotate.formats``'.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from annotate.formats.hh import hh_turns
from annotate.importing.checker import FieldChecker, boolean_flag
from annotate.importing.kinds import (
    FIELDS,
    GOLD_FIELD,
    GOLD_KINDS,
    IMPORTED_LABEL,
    ComparisonRecord,
    PromptContent,
    PromptRecord,
    Record,
    RecordInvalid,
    ResponseRecord,
    json_type,
)
from annotate.importing.limits import ImportLimits


def batch_problems(batch: str) -> list[tuple[str | None, str]]:
    """What is wrong with a batch label given outside a file (an import's own batch), if anything."""
    problems: list[tuple[str | None, str]] = []
    FieldChecker(problems, False, ImportLimits()).optional_text({"batch": batch}, "batch")
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
    check = FieldChecker(problems, text_cells, limits or ImportLimits())
    record = _BUILDERS[kind](check, present)
    record = _gold_apply(check, kind, present, record)
    if problems:
        raise RecordInvalid(problems)
    assert record is not None
    return record


def _gold_apply(check: FieldChecker, kind: str, present: dict[str, Any], record: Record | None) -> Record | None:
    if kind not in GOLD_KINDS:
        return record
    gold = boolean_flag(check, present, GOLD_FIELD)
    if gold and isinstance(record, ComparisonRecord):
        return dataclasses.replace(record, gold=True)
    return record


def _prompt_record(check: FieldChecker, record: dict[str, Any]) -> PromptRecord | None:
    prompt = check.prompt(record)
    metadata = check.metadata(record)
    return None if prompt is None else PromptRecord(prompt=prompt, metadata=metadata)


def _response_record(check: FieldChecker, record: dict[str, Any]) -> ResponseRecord | None:
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


def _scores(check: FieldChecker, record: dict[str, Any], count: int) -> list[float | None]:
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


def _verdict_fields(check: FieldChecker, record: dict[str, Any]) -> dict[str, Any]:
    """What every judged kind has besides its texts: the batch, and from an export's columns the strength."""
    batch = check.optional_text(record, "batch")
    strength = check.export_columns(record)
    return {"batch": batch, "strength": strength, "exported": check.exported}


def _two_replies(
    check: FieldChecker, record: dict[str, Any], first: str, second: str
) -> tuple[PromptContent | None, str | None, str | None, dict[str, Any]]:
    """A prompt and two different responses (pairs and ratings), with the verdict's shared fields."""
    prompt = check.prompt(record)
    first_text, second_text = check.reply(record, first), check.reply(record, second)
    verdict = _verdict_fields(check, record)
    check.different(first_text, second_text, first, second)
    return prompt, first_text, second_text, verdict


def _pair_record(check: FieldChecker, record: dict[str, Any]) -> ComparisonRecord | None:
    prompt, chosen, rejected, verdict = _two_replies(check, record, "chosen", "rejected")
    if prompt is None or chosen is None or rejected is None:
        return None
    return ComparisonRecord(prompt=prompt, response_a=chosen, response_b=rejected, choice="a", **verdict)


def _rating_record(check: FieldChecker, record: dict[str, Any]) -> ComparisonRecord | None:
    prompt, first, second, verdict = _two_replies(check, record, "response_a", "response_b")
    preference = record.get("preference")
    if "preference" in record and preference not in ("a", "b"):
        shown = f'"{preference}"' if isinstance(preference, str) else json_type(preference)
        check.bad("preference", f'expected "a" or "b", got {shown}')
    if prompt is None or first is None or second is None or preference not in ("a", "b"):
        return None
    return ComparisonRecord(prompt=prompt, response_a=first, response_b=second, choice=str(preference), **verdict)


def _hh_record(check: FieldChecker, record: dict[str, Any]) -> ComparisonRecord | None:
    parsed: dict[str, list[dict[str, str]] | None] = {}
    for field in ("chosen", "rejected"):
        text = check.text(record, field)
        parsed[field] = None
        if text is not None:
            try:
                parsed[field] = hh_turns(text)
            except ValueError as exc:
                check.bad(field, f"not an HH-RLHF transcript: {exc}")
    verdict = _verdict_fields(check, record)
    chosen, rejected = parsed["chosen"], parsed["rejected"]
    if chosen is None or rejected is None:
        return None
    if chosen[:-1] != rejected[:-1]:
        check.bad("rejected", 'the conversation before the last "Assistant:" turn differs from "chosen"')
        return None
    check.different(chosen[-1]["content"], rejected[-1]["content"], "chosen", "rejected")
    first, second = chosen[-1]["content"], rejected[-1]["content"]
    return ComparisonRecord(prompt=chosen[:-1], response_a=first, response_b=second, choice="a", **verdict)


def _unpaired_record(check: FieldChecker, record: dict[str, Any]) -> ResponseRecord | None:
    """A response with the dataset's verdict on it (KTO's label), stored in its metadata; no comparison."""
    prompt = check.prompt(record)
    completion = check.reply(record, "completion")
    label = boolean_flag(check, record, "label") if "label" in record else None
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
