"""Output shapes shared by several API views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rest_framework import serializers

from annotate.models import Assignment
from annotate.options import OptionInvalid

T = TypeVar("T")


class TaskOutputSerializer(serializers.Serializer[Assignment]):
    """A lease as the annotator sees it: display order applied, canonical ids hidden."""

    assignment = serializers.IntegerField(source="pk")
    expires_at = serializers.DateTimeField()
    prompt = serializers.SerializerMethodField()
    response_left = serializers.SerializerMethodField()
    response_right = serializers.SerializerMethodField()

    def get_prompt(self, lease: Assignment) -> list[dict[str, str]]:
        return lease.comparison.prompt.turns

    def get_response_left(self, lease: Assignment) -> str:
        c = lease.comparison
        return c.response_b.text if lease.flipped else c.response_a.text

    def get_response_right(self, lease: Assignment) -> str:
        c = lease.comparison
        return c.response_a.text if lease.flipped else c.response_b.text


def task_payload(lease: Assignment | None) -> dict[str, Any] | None:
    """The TaskOutputSerializer shape, built directly: this is on every submit's answer, and
    instantiating a serializer deep-copies its fields each time."""
    if lease is None:
        return None
    c = lease.comparison
    left, right = (c.response_b, c.response_a) if lease.flipped else (c.response_a, c.response_b)
    return {
        "assignment": lease.pk,
        "expires_at": lease.expires_at.isoformat().replace("+00:00", "Z"),
        "prompt": c.prompt.turns,
        "response_left": left.text,
        "response_right": right.text,
    }


def option_checked(rule: Callable[..., T], **values: Any) -> T:
    """``rule(**values)``, with the ``OptionInvalid`` it raises as a 400 at the option it names."""
    try:
        return rule(**values)
    except OptionInvalid as exc:
        raise serializers.ValidationError({exc.option: [exc.message]}) from exc


class _StringsOnly:
    """DRF's text fields turn the number 0 into "0"; the schema says string, so a number is refused."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


class TextField(_StringsOnly, serializers.CharField):
    """An input string (NUL and lone surrogates are refused by CharField itself)."""


class SlugTextField(_StringsOnly, serializers.SlugField):
    """An input slug."""


class FlagField(serializers.BooleanField):
    """A boolean: JSON true/false, or "true"/"false" in a form; DRF would also read 0, 1, "yes" and "on"."""

    TRUE_VALUES = {True, "true", "True", "TRUE"}
    FALSE_VALUES = {False, "false", "False", "FALSE"}
    NULL_VALUES = {None, "null"}

    def to_internal_value(self, data: Any) -> bool:
        # 0 == False and hash(0) == hash(False): the sets above alone would let the numbers through.
        if not isinstance(data, (bool, str)):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)


class _NoBooleans:
    """DRF reads false as 0 and true as 1 in number fields (bool is an int in Python); the schema says number."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool):
            self.fail("invalid")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


class IntField(_NoBooleans, serializers.IntegerField):
    """An input integer."""


class NumberField(_NoBooleans, serializers.FloatField):
    """An input number (finite: FloatField refuses NaN and infinities)."""
