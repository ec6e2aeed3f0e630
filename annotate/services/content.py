"""Prompts, responses and comparisons: content-addressed so that re-imports deduplicate."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from annotate.models import Comparison, Project, Prompt, Response, ResponseSource

PromptContent = str | list[dict[str, str]]


def content_hash(value: Any) -> str:
    """sha256 of the canonical JSON of a value: equal content, equal hash."""
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def prompt_canonical(content: Any) -> Any:
    """A prompt's one canonical form: its list of ``{role, content}`` turns, a plain string being one user turn.

    The same conversation is then the same prompt whether it came as ``"x"`` (a pairs file, a
    TRL standard export) or as ``[{"role": "user", "content": "x"}]`` (an HH transcript, a
    conversational export). Anything that is not a prompt (no importer stores one) stays as it is.
    """
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if isinstance(content, list) and all(
        isinstance(t, dict) and {"role", "content"} <= t.keys() for t in content
    ):
        return [{"role": t["role"], "content": t["content"]} for t in content]
    return content


def prompt_hash(content: Any) -> str:
    """The content hash of a prompt's canonical form: one hash per conversation, however it arrived."""
    return content_hash(prompt_canonical(content))


def prompt_get_or_create(
    *, project: Project, content: PromptContent, metadata: dict[str, Any] | None = None
) -> tuple[Prompt, bool]:
    """The project's prompt with this content, created if new."""
    return Prompt.objects.get_or_create(
        project=project,
        content_hash=prompt_hash(content),
        defaults={"content": content, "metadata": metadata or {}},
    )


def response_get_or_create(
    *,
    prompt: Prompt,
    text: str,
    source: str = ResponseSource.IMPORTED,
    model_version: str = "",
    metadata: dict[str, Any] | None = None,
) -> tuple[Response, bool]:
    """The prompt's response with this text, created if new."""
    return Response.objects.get_or_create(
        prompt=prompt,
        content_hash=content_hash(text),
        defaults={"text": text, "source": source, "model_version": model_version, "metadata": metadata or {}},
    )


def comparison_get_or_create(
    *,
    prompt: Prompt,
    response_a: Response,
    response_b: Response,
    priority: int = 0,
    is_gold: bool = False,
    gold_answer: str = "",
    batch: str = "",
) -> tuple[Comparison, bool]:
    """The comparison of these two responses (in either order), created if new."""
    existing = Comparison.objects.filter(response_a=response_b, response_b=response_a).first()
    if existing is not None:
        return existing, False
    return Comparison.objects.get_or_create(
        response_a=response_a,
        response_b=response_b,
        defaults={
            "project_id": prompt.project_id,
            "prompt": prompt,
            "priority": priority,
            "is_gold": is_gold,
            "gold_answer": gold_answer,
            "batch": batch,
        },
    )


def comparisons_for_all_pairs(*, prompt: Prompt, responses: Sequence[Response], batch: str = "") -> int:
    """A comparison for each unordered pair of the responses; returns how many were new."""
    created = 0
    for i, first in enumerate(responses):
        for second in responses[i + 1 :]:
            created += comparison_get_or_create(
                prompt=prompt, response_a=first, response_b=second, batch=batch
            )[1]
    return created
