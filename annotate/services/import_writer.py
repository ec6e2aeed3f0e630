"""The import's writes: one chunk of checked records into prompts, responses, comparisons and verdicts.

Prompts, responses and comparisons go through ``annotate.services.content.content_write``;
this module adds what only an import has: one imported judgment per comparison
(``Judgment.is_imported``), gold items from ``"gold": true`` records, and the comparisons
made among a responses import's responses. ``annotate.services.imports.import_file`` calls
it inside the import's one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from annotate.db import rows_insert
from annotate.importing.kinds import ComparisonRecord, PromptRecord, ResponseRecord
from annotate.models import Comparison, Judgment, Project, Response
from annotate.services.content import NewComparison, NewPrompt, NewResponse, content_write
from annotate.services.gold import gold_answers_set

# Comparisons inserted at a time among a responses import's responses (as the import's chunks).
CHUNK = settings.CONCORD_IMPORT_CHUNK_RECORDS


@dataclass(slots=True)
class ImportResult:
    """What an import added (the writers below add to it chunk by chunk); ``duplicates`` counts records
    that added nothing new.

    A responses row with a list of ``responses`` (generate's output) counts once per response.

    ``pairs_not_created`` counts the pairs of a responses import's prompts left without a
    comparison by CONCORD_IMPORT_MAX_PAIRS_PER_PROMPT, over ``capped_prompts`` prompts;
    ``warnings`` says so in words.
    """

    records: int = 0
    prompts: int = 0
    responses: int = 0
    comparisons: int = 0
    judgments: int = 0
    duplicates: int = 0
    pairs_not_created: int = 0
    gold: int = 0  # comparisons made gold items (or given a new gold answer) by "gold": true records
    capped_prompts: int = 0
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0

    def as_counts(self) -> dict[str, Any]:
        """The counts a job stores and the API shows (the capped prompts are in the warning's words)."""
        counts = asdict(self)
        del counts["capped_prompts"]
        counts["warnings"] = list(self.warnings)
        return counts


def prompts_write(project: Project, chunk: list[PromptRecord], tally: ImportResult) -> None:
    written = content_write(
        project=project, prompts=[NewPrompt(content=r.prompt, metadata=r.metadata) for r in chunk]
    )
    tally.prompts += len(written.new_prompts)
    tally.duplicates += len(chunk) - len(written.new_prompts)


def responses_write(project: Project, chunk: list[ResponseRecord], tally: ImportResult) -> set[int]:
    # A record of generate's output carries several responses; each counts as one here.
    responses = [
        # A file's own model label is kept in metadata: Response.model_version is only ever a policy
        # version of ours that sampled the text.
        NewResponse(
            prompt=record.prompt,
            text=text,
            metadata={**metadata, "model_version": record.model_version} if record.model_version else metadata,
        )
        for record in chunk
        for text, metadata in zip(record.responses, record.metadata, strict=True)
    ]
    written = content_write(project=project, responses=responses)
    tally.prompts += len(written.new_prompts)
    tally.responses += len(written.new_responses)
    tally.duplicates += len(responses) - len(written.new_responses)
    return {key[0] for key in written.new_responses}


def comparisons_write(
    project: Project, chunk: list[ComparisonRecord], default_batch: str, tally: ImportResult
) -> None:
    written = content_write(
        project=project,
        comparisons=[
            NewComparison(
                prompt=r.prompt,
                response_a=r.response_a,
                response_b=r.response_b,
                batch=r.batch or default_batch,
            )
            for r in chunk
        ],
    )
    existing, pairs = written.comparisons, written.pairs

    # One imported verdict per comparison: the first the data gives. A repeat, in this file or a later
    # one, is a duplicate, so re-importing a file adds nothing.
    old_ids = [existing[k][0] for k in written.old_comparisons]
    judged = (
        set(
            Judgment.objects.filter(comparison_id__in=old_ids, is_imported=True).values_list(
                "comparison_id", flat=True
            )
        )
        if old_ids
        else set()
    )
    # A row of our own export summarises the votes it came from: where the comparison already has
    # votes (human or imported), its verdict is already there, and importing it would count them twice.
    voted = (
        set(Judgment.objects.filter(comparison_id__in=old_ids).values_list("comparison_id", flat=True))
        if old_ids and any(r.exported for r in chunk)
        else set()
    )
    judgments: list[dict[str, Any]] = []
    for (ia, ib), record in zip(pairs, chunk, strict=True):
        comparison_id, stored_a = existing[frozenset((ia, ib))]
        if comparison_id in judged or (record.exported and comparison_id in voted):
            tally.duplicates += 1
            continue
        judged.add(comparison_id)
        # The record's "a" is ia; if the stored comparison has the pair the other way round, so is the verdict.
        choice = record.choice if stored_a == ia else {"a": "b", "b": "a"}[record.choice]
        judgments.append(
            {
                "comparison_id": comparison_id,
                "choice": choice,
                "strength": record.strength,
                "is_imported": True,
            }
        )
    rows_insert(Judgment, judgments)
    _gold_write(existing, pairs, chunk, tally)
    tally.prompts += len(written.new_prompts)
    tally.responses += len(written.new_responses)
    tally.comparisons += len(existing) - len(written.old_comparisons)
    tally.judgments += len(judgments)


def _gold_write(
    existing: dict[frozenset[int], tuple[int, int]],
    pairs: list[tuple[int, int]],
    chunk: list[ComparisonRecord],
    tally: ImportResult,
) -> None:
    """Make the comparisons of ``"gold": true`` records gold items, with the record's verdict as the answer."""
    answers: dict[int, str] = {}
    for (ia, ib), record in zip(pairs, chunk, strict=True):
        if record.gold:
            comparison_id, stored_a = existing[frozenset((ia, ib))]
            # As for the verdict: the record's "a" is ia, so flip it if the comparison stores the pair reversed.
            answers[comparison_id] = record.choice if stored_a == ia else {"a": "b", "b": "a"}[record.choice]
    if answers:
        tally.gold += gold_answers_set(answers=answers)


def pairs_chosen(
    responses: list[int], existing: set[frozenset[int]], budget: int
) -> Iterator[tuple[int, int]]:
    """Up to ``budget`` new pairs of these responses, chosen so that each response is compared early.

    Pairs go by distance round a ring: first (0,1), (2,3), ... (every response once), then
    (1,2), (3,4), ... (every response twice), then distance 2, and so on. ``responses`` should
    list those not yet compared first. Pairs in ``existing`` are skipped, not counted.
    """
    n = len(responses)
    made: set[frozenset[int]] = set()
    for distance in range(1, n // 2 + 1):
        for parity in (0, 1):
            for i in range(parity, n, 2):
                if budget <= 0:
                    return
                first, second = responses[i], responses[(i + distance) % n]
                key = frozenset((first, second))
                if first == second or key in existing or key in made:
                    continue
                made.add(key)
                budget -= 1
                yield first, second


# Prompts whose responses and comparisons are read at a time; their pairs are held in memory.
PAIRS_PROMPTS_AT_ONCE = 100


def comparisons_for_pairs_write(
    project: Project, prompt_ids: set[int], batch: str, tally: ImportResult, cap: int
) -> None:
    """Comparisons for the pairs of each prompt's responses (old ones included), about ``cap`` per prompt at most.

    Below the cap every unordered pair is compared. Above it, ``pairs_chosen`` picks pairs that
    cover the responses not compared yet first (each of them is compared, even past the cap),
    and the pairs left out are counted.
    """
    ordered = sorted(prompt_ids)
    for start in range(0, len(ordered), PAIRS_PROMPTS_AT_ONCE):
        group = ordered[start : start + PAIRS_PROMPTS_AT_ONCE]
        responses: dict[int, list[int]] = {}
        for prompt_id, response_id in (
            Response.objects.filter(prompt_id__in=group)
            .order_by("prompt_id", "id")
            .values_list("prompt_id", "id")
        ):
            responses.setdefault(prompt_id, []).append(response_id)
        existing: dict[int, set[frozenset[int]]] = {}
        for prompt_id, first, second in Comparison.objects.filter(prompt_id__in=group).values_list(
            "prompt_id", "response_a_id", "response_b_id"
        ):
            existing.setdefault(prompt_id, set()).add(frozenset((first, second)))
        new: list[dict[str, Any]] = []
        for prompt_id, ids in responses.items():
            old = existing.get(prompt_id, set())
            possible = len(ids) * (len(ids) - 1) // 2
            if possible <= cap:
                pairs: Iterable[tuple[int, int]] = (
                    (first, second)
                    for i, first in enumerate(ids)
                    for second in ids[i + 1 :]
                    if frozenset((first, second)) not in old
                )
            else:
                compared = {r for pair in old for r in pair}
                ids = sorted(ids, key=lambda r: (r in compared, r))
                # A prompt at its cap still compares each new response once (pairs_chosen pairs the
                # uncompared first), so its comparisons grow with its responses, never with their square.
                fresh = len(ids) - len(compared)
                pairs = pairs_chosen(ids, old, max(cap - len(old), (fresh + 1) // 2))
            made = 0
            for first, second in pairs:
                made += 1
                new.append(
                    {"project_id": project.pk, "prompt_id": prompt_id, "response_a_id": first,
                     "response_b_id": second, "batch": batch}
                )  # fmt: skip
            if possible > cap:
                tally.capped_prompts += 1
                tally.pairs_not_created += possible - len(old) - made
        for offset in range(0, len(new), CHUNK):
            rows_insert(Comparison, new[offset : offset + CHUNK])
        tally.comparisons += len(new)
