"""Output shapes shared by several API views."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotate.models import Assignment


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
