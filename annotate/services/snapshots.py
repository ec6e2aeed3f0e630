"""Dataset snapshots: freeze the pairs that pass a filter set, hashed and versioned per project."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Max

from annotate.aggregation.labels import LABEL_BOTH_BAD, LABEL_TIE
from annotate.aggregation.selection import PairSelection, SnapshotFilters
from annotate.formats.hh import hh_transcript, sql_hh_transcript
from annotate.models import Comparison, Project, Prompt, Response, Snapshot, SnapshotPair, VoteKind
from annotate.selectors.pairs import pair_selection
from annotate.services.decontamination import DEFAULT_NGRAM, benchmark_index_build, prompt_text

# Pairs are written in slices of this many comparisons, in comparison-id order, so that
# SnapshotPair ids follow comparison ids and memory stays bounded for any snapshot size.
WRITE_CHUNK = 50_000
# SnapshotPair.vote_kind of each aggregation.labels verdict; a row of A or B is a preference.
_VOTE_KINDS = {LABEL_BOTH_BAD: VoteKind.BOTH_BAD.value, LABEL_TIE: VoteKind.TIE.value}


def _vote_kinds(selection: PairSelection, start: int, stop: int) -> list[str]:
    return [_VOTE_KINDS.get(v, VoteKind.PREFERENCE.value) for v in selection.verdict[start:stop].tolist()]


def selection_hash(selection: PairSelection) -> str:
    """sha256 over (comparison, chosen response, rejected response, margin, agreement, votes), in comparison order.

    Responses are content-addressed and never edited, so their ids stand for their text
    within one database; equal hashes mean the same pairs with the same labels. A both-bad
    or tie row (keep_unpaired) adds its kind of vote, so a preference row hashes as it always has.
    """
    digest = hashlib.sha256()
    for cid, chosen, rejected, margin, agreement, votes, kind in zip(
        selection.comparison_id.tolist(), selection.chosen_response_id.tolist(),
        selection.rejected_response_id.tolist(), selection.margin.tolist(), selection.agreement.tolist(),
        selection.votes.tolist(), _vote_kinds(selection, 0, selection.pair_count), strict=True,
    ):
        margin_text = "" if math.isnan(margin) else f"{margin:.6f}"
        tail = "" if kind == VoteKind.PREFERENCE else f"\t{kind}"
        digest.update(f"{cid}\t{chosen}\t{rejected}\t{margin_text}\t{agreement:.6f}\t{votes}{tail}\n".encode())
    return digest.hexdigest()


def _decontaminate(selection: PairSelection, path: Path, ngram: int, name: str) -> tuple[PairSelection, dict[str, Any]]:
    index = benchmark_index_build(path=path, ngram=ngram, name=name)
    ids = selection.comparison_id.tolist()
    contaminated: set[int] = set()
    for start in range(0, len(ids), WRITE_CHUNK):
        rows = Comparison.objects.filter(pk__in=ids[start : start + WRITE_CHUNK]).values_list("id", "prompt__content")
        contaminated.update(cid for cid, content in rows if index.contaminates(prompt_text(content)))
    keep = ~np.isin(selection.comparison_id, np.fromiter(contaminated, dtype=np.int64, count=len(contaminated)))
    return selection.take(keep), index.record(dropped=len(contaminated))


def _nullable(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


def _write_pairs_postgresql(snapshot: Snapshot, s: PairSelection, start: int, stop: int) -> None:
    # One INSERT … SELECT per slice: texts are copied inside the database and never
    # pass through Python, which keeps a million-pair snapshot to seconds.
    tables = {m.__name__: m._meta.db_table for m in (SnapshotPair, Comparison, Prompt, Response)}
    sql = f"""
        INSERT INTO {tables["SnapshotPair"]}
            (snapshot_id, comparison_id, chosen_is_a, prompt, transcript, chosen, rejected, margin, agreement, votes,
             posterior, vote_kind)
        SELECT %s, y.cid, y.chosen_is_a, y.turns, {sql_hh_transcript("y.turns")}, y.chosen, y.rejected,
               y.margin, y.agreement, y.votes, y.posterior, y.vote_kind
        FROM (
            SELECT x.*,
                   CASE WHEN jsonb_typeof(p.content) = 'string'
                        THEN jsonb_build_array(jsonb_build_object('role', 'user', 'content', p.content))
                        ELSE p.content END AS turns,
                   CASE WHEN x.chosen_is_a THEN ra.text ELSE rb.text END AS chosen,
                   CASE WHEN x.chosen_is_a THEN rb.text ELSE ra.text END AS rejected
            FROM unnest(%s::bigint[], %s::boolean[], %s::float8[], %s::float8[], %s::integer[], %s::float8[],
                        %s::text[])
                 AS x(cid, chosen_is_a, margin, agreement, votes, posterior, vote_kind)
            JOIN {tables["Comparison"]} c ON c.id = x.cid
            JOIN {tables["Prompt"]} p ON p.id = c.prompt_id
            JOIN {tables["Response"]} ra ON ra.id = c.response_a_id
            JOIN {tables["Response"]} rb ON rb.id = c.response_b_id
        ) AS y
        ORDER BY y.cid
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                snapshot.pk, s.comparison_id[start:stop].tolist(), s.chosen_is_a[start:stop].tolist(),
                _nullable(s.margin[start:stop]), s.agreement[start:stop].tolist(), s.votes[start:stop].tolist(),
                s.posterior[start:stop].tolist(), _vote_kinds(s, start, stop),
            ],
        )


def _write_pairs_portable(snapshot: Snapshot, s: PairSelection, start: int, stop: int) -> None:
    ids = s.comparison_id[start:stop].tolist()
    texts = {
        cid: (content, a, b)
        for cid, content, a, b in Comparison.objects.filter(pk__in=ids).values_list(
            "id", "prompt__content", "response_a__text", "response_b__text"
        )
    }
    pairs = []
    kinds = _vote_kinds(s, start, stop)
    for offset, cid in enumerate(ids):
        i = start + offset
        content, a, b = texts[cid]
        chosen_is_a = bool(s.chosen_is_a[i])
        margin = float(s.margin[i])
        turns = Prompt(content=content).turns
        pairs.append(
            SnapshotPair(
                snapshot=snapshot, comparison_id=cid, chosen_is_a=chosen_is_a, prompt=turns, transcript=hh_transcript(turns),
                chosen=a if chosen_is_a else b, rejected=b if chosen_is_a else a,
                margin=None if math.isnan(margin) else margin, agreement=float(s.agreement[i]),
                votes=int(s.votes[i]), posterior=float(s.posterior[i]), vote_kind=kinds[offset],
            )
        )
    SnapshotPair.objects.bulk_create(pairs, batch_size=2_000)


def snapshot_create(
    *,
    project: Project,
    filters: SnapshotFilters,
    created_by: User | None = None,
    benchmark_path: Path | None = None,
    benchmark_name: str = "",
    ngram: int = DEFAULT_NGRAM,
) -> Snapshot:
    """A new immutable snapshot with the next version number; all of its pairs or none are written."""
    selection = pair_selection(project=project, filters=filters)
    decontamination: dict[str, Any] = {}
    if benchmark_path is not None:
        selection, decontamination = _decontaminate(selection, benchmark_path, ngram, benchmark_name)
    counts = {**selection.counts, "decontaminated": decontamination.get("dropped", 0), **selection.kind_counts()}
    counts["flagged_annotators"] = selection.flagged
    write = _write_pairs_postgresql if connection.vendor == "postgresql" else _write_pairs_portable
    with transaction.atomic():
        # The project row lock serialises snapshot_create per project, so two callers never
        # compute the same next version; the unique constraint backs this up.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        last = Snapshot.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0
        snapshot = Snapshot.objects.create(
            project=project, version=last + 1, method=filters.method, filters=filters.as_dict(), counts=counts,
            pair_count=selection.pair_count, content_hash=selection_hash(selection),
            decontamination=decontamination, created_by=created_by,
        )
        for start in range(0, selection.pair_count, WRITE_CHUNK):
            write(snapshot, selection, start, min(start + WRITE_CHUNK, selection.pair_count))
    if connection.vendor == "postgresql" and selection.pair_count >= WRITE_CHUNK:
        # Fresh statistics after a bulk insert, so the planner streams exports through the
        # (snapshot, id) index instead of sorting a million wide rows on disk.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {SnapshotPair._meta.db_table}")
    return snapshot
