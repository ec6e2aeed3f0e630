"""Prompts, responses and comparisons: content-addressed so that re-imports deduplicate, and one writer for them.

``content_write`` is the one way rows of these three tables are made: the import writes each
chunk of a file through it, the demo and the test factories one row at a time through the
``*_get_or_create`` conveniences below, and the alignment rounds their new candidates. It writes
in bulk (``annotate.db.rows_insert``: COPY on PostgreSQL), with content hashes computed here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from annotate.db import rows_insert
from annotate.importing.kinds import PromptContent
from annotate.models import Comparison, Project, Prompt, Response, ResponseSource

ResponseKey = tuple[int, str]  # (prompt id, text hash)
Pair = frozenset[int]  # the two response ids of a comparison, in either order


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


@dataclass(frozen=True, slots=True)
class NewPrompt:
    content: PromptContent
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewResponse:
    prompt: PromptContent
    text: str
    model_version_id: int | None = None  # the sampling policy's ModelVersion (alignment rounds)
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ResponseSource.IMPORTED


@dataclass(frozen=True, slots=True)
class NewComparison:
    prompt: PromptContent
    response_a: str
    response_b: str
    batch: str = ""
    priority: int = 0
    is_gold: bool = False
    gold_answer: str = ""


@dataclass(frozen=True, slots=True)
class ContentWritten:
    """What ``content_write`` found or made; "new" is what it inserted."""

    prompt_ids: dict[str, int]  # prompt hash -> id, for every prompt named
    new_prompts: set[str]
    response_ids: dict[ResponseKey, int]  # for every response named
    new_responses: set[ResponseKey]
    # One per NewComparison, in order: (the row's response_a id, its response_b id).
    pairs: list[tuple[int, int]]
    # Every pair named -> (comparison id, the id stored as its response_a), which may be the other way round.
    comparisons: dict[Pair, tuple[int, int]]
    old_comparisons: set[Pair]  # of those, the ones that were there before


def content_write(
    *,
    project: Project,
    prompts: Iterable[NewPrompt] = (),
    responses: Iterable[NewResponse] = (),
    comparisons: Iterable[NewComparison] = (),
) -> ContentWritten:
    """The project's prompts, responses and comparisons with this content, each inserted once if new.

    Prompts dedupe per project by ``prompt_hash``, responses per prompt by ``content_hash`` of
    the text, comparisons per unordered pair of responses; a row already there is left as it
    is, and the first of several equal rows given wins. A response's or comparison's prompt
    (and a comparison's responses) are made too when new, with empty metadata. Runs in one
    transaction under the project's row lock (FOR NO KEY UPDATE, which annotators' leases and
    votes do not wait for), so two writers never insert the same row.
    """
    prompts, responses, comparisons = list(prompts), list(responses), list(comparisons)
    with transaction.atomic():
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
        wanted_prompts: dict[str, tuple[Any, dict[str, Any]]] = {}
        for p in prompts:
            wanted_prompts.setdefault(prompt_hash(p.content), (p.content, p.metadata))
        response_prompts = [prompt_hash(r.prompt) for r in responses]
        comparison_prompts = [prompt_hash(c.prompt) for c in comparisons]
        for h, r in zip(response_prompts, responses, strict=True):
            wanted_prompts.setdefault(h, (r.prompt, {}))
        for h, c in zip(comparison_prompts, comparisons, strict=True):
            wanted_prompts.setdefault(h, (c.prompt, {}))
        prompt_ids, new_prompts = _prompts_ensure(project, wanted_prompts)

        wanted: dict[ResponseKey, tuple[str, int | None, dict[str, Any], str]] = {}
        for h, r in zip(response_prompts, responses, strict=True):
            wanted.setdefault(
                (prompt_ids[h], content_hash(r.text)), (r.text, r.model_version_id, r.metadata, r.source)
            )
        sides: list[tuple[int, ResponseKey, ResponseKey]] = []
        for h, c in zip(comparison_prompts, comparisons, strict=True):
            prompt_id = prompt_ids[h]
            a = (prompt_id, content_hash(c.response_a))
            b = (prompt_id, content_hash(c.response_b))
            wanted.setdefault(a, (c.response_a, None, {}, ResponseSource.IMPORTED))
            wanted.setdefault(b, (c.response_b, None, {}, ResponseSource.IMPORTED))
            sides.append((prompt_id, a, b))
        response_ids, new_responses = _responses_ensure(wanted, {prompt_ids[h] for h in new_prompts})

        pairs = [(response_ids[a], response_ids[b]) for _, a, b in sides]
        existing, old = _comparisons_ensure(project, sides, pairs, comparisons, new_responses)
    return ContentWritten(
        prompt_ids=prompt_ids,
        new_prompts=new_prompts,
        response_ids=response_ids,
        new_responses=new_responses,
        pairs=pairs,
        comparisons=existing,
        old_comparisons=old,
    )


def _prompts_ensure(
    project: Project, wanted: dict[str, tuple[Any, dict[str, Any]]]
) -> tuple[dict[str, int], set[str]]:
    """Ids of the project's prompts with these hashes, creating the missing ones; and the new hashes."""
    if not wanted:
        return {}, set()
    ids = dict(
        Prompt.objects.filter(project=project, content_hash__in=list(wanted)).values_list(
            "content_hash", "id"
        )
    )
    missing = [h for h in wanted if h not in ids]
    rows = [
        {"project_id": project.pk, "content": wanted[h][0], "content_hash": h, "metadata": wanted[h][1]}
        for h in missing
    ]
    ids.update(zip(missing, rows_insert(Prompt, rows), strict=True))
    return ids, set(missing)


def _responses_ensure(
    wanted: dict[ResponseKey, tuple[str, int | None, dict[str, Any], str]], new_prompts: set[int]
) -> tuple[dict[ResponseKey, int], set[ResponseKey]]:
    """Ids of the responses with these (prompt, hash) keys, creating the missing ones; and the new keys."""
    # A prompt created in this call has no responses yet: look up only the older ones.
    old = [key for key in wanted if key[0] not in new_prompts]
    ids: dict[ResponseKey, int] = {}
    if old:
        ids = {(p, h): i for p, h, i in _responses_lookup(old) if (p, h) in wanted}
    missing = [key for key in wanted if key not in ids]
    new_rows = [
        {
            "prompt_id": key[0],
            "content_hash": key[1],
            "text": wanted[key][0],
            "model_version_id": wanted[key][1],
            "metadata": wanted[key][2],
            "source": wanted[key][3],
        }
        for key in missing
    ]
    ids.update(zip(missing, rows_insert(Response, new_rows), strict=True))
    return ids, set(missing)


def _responses_lookup(keys: list[ResponseKey]) -> list[tuple[int, str, int]]:
    """(prompt id, hash, id) of the existing responses among these keys."""
    if not keys:
        return []
    return list(
        Response.objects.filter(
            prompt_id__in={k[0] for k in keys}, content_hash__in={k[1] for k in keys}
        ).values_list("prompt_id", "content_hash", "id")
    )


def _comparisons_ensure(
    project: Project,
    sides: list[tuple[int, ResponseKey, ResponseKey]],
    pairs: list[tuple[int, int]],
    comparisons: list[NewComparison],
    new_responses: set[ResponseKey],
) -> tuple[dict[Pair, tuple[int, int]], set[Pair]]:
    """pair -> (comparison id, its response_a id) for every pair, creating the missing ones; and the old pairs."""
    if not pairs:
        return {}, set()
    # Comparisons are unique per unordered pair; only a pair of two old responses may already have one.
    old_pairs_wanted = [
        (ia, ib)
        for (_, a, b), (ia, ib) in zip(sides, pairs, strict=True)
        if a not in new_responses and b not in new_responses
    ]
    existing = {frozenset((ra, rb)): (cid, ra) for cid, ra, rb in comparisons_lookup(old_pairs_wanted)}
    old = set(existing)
    new: dict[Pair, dict[str, Any]] = {}
    for (prompt_id, _, _), (ia, ib), c in zip(sides, pairs, comparisons, strict=True):
        key = frozenset((ia, ib))
        if key not in existing and key not in new:
            new[key] = {
                "project_id": project.pk,
                "prompt_id": prompt_id,
                "response_a_id": ia,
                "response_b_id": ib,
                "batch": c.batch,
                "priority": c.priority,
                "is_gold": c.is_gold,
                "gold_answer": c.gold_answer,
            }
    for (key, row), comparison_id in zip(
        new.items(), rows_insert(Comparison, list(new.values())), strict=True
    ):
        existing[key] = (comparison_id, row["response_a_id"])
    return existing, old


def comparisons_lookup(pairs: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(id, response_a id, response_b id) of the existing comparisons of these pairs of response ids, in either order."""
    if not pairs:
        return []
    if connection.vendor == "postgresql":
        firsts = [a for a, b in pairs] + [b for a, b in pairs]
        seconds = [b for a, b in pairs] + [a for a, b in pairs]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT c.id, c.response_a_id, c.response_b_id FROM {Comparison._meta.db_table} c "
                "JOIN unnest(%s::bigint[], %s::bigint[]) AS k(a, b) ON c.response_a_id = k.a AND c.response_b_id = k.b",
                [firsts, seconds],
            )
            return list(cursor.fetchall())
    ids = {i for pair in pairs for i in pair}
    return list(
        Comparison.objects.filter(response_a_id__in=ids, response_b_id__in=ids).values_list(
            "id", "response_a_id", "response_b_id"
        )
    )


# --- One row at a time (the demo, the test factories), through the writer above ---------------


def prompt_get_or_create(
    *, project: Project, content: PromptContent, metadata: dict[str, Any] | None = None
) -> tuple[Prompt, bool]:
    """The project's prompt with this content, created if new."""
    written = content_write(project=project, prompts=[NewPrompt(content=content, metadata=metadata or {})])
    h = prompt_hash(content)
    return Prompt.objects.get(pk=written.prompt_ids[h]), h in written.new_prompts


def response_get_or_create(
    *,
    prompt: Prompt,
    text: str,
    source: str = ResponseSource.IMPORTED,
    model_version_id: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[Response, bool]:
    """The prompt's response with this text, created if new."""
    new = NewResponse(
        prompt=prompt.content, text=text, model_version_id=model_version_id, metadata=metadata or {}, source=source
    )
    written = content_write(project=prompt.project, responses=[new])
    key = (prompt.pk, content_hash(text))
    return Response.objects.get(pk=written.response_ids[key]), key in written.new_responses


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
    texts = {"prompt": prompt.content, "response_a": response_a.text, "response_b": response_b.text}
    new = NewComparison(**texts, batch=batch, priority=priority, is_gold=is_gold, gold_answer=gold_answer)
    written = content_write(project=prompt.project, comparisons=[new])
    key = frozenset(written.pairs[0])
    return Comparison.objects.get(pk=written.comparisons[key][0]), key not in written.old_comparisons
