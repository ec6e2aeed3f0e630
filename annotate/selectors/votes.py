"""A project's judgments loaded as parallel NumPy arrays: the one query every quality figure starts from.

Label coding (``annotate.aggregation.labels``): 0=a, 1=b, 2=tie, 3=both_bad. Imported
judgments (``annotator=None``) are the votes of one "imported" pseudo-annotator (see
``annotate.aggregation.votes.ProjectVotes``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from annotate.aggregation.labels import (
    LABEL_NAMES,
    STRENGTH_MARGIN,
)
from annotate.aggregation.votes import ProjectVotes
from annotate.models import (
    Judgment,
    Project,
)

_LABEL_CODE = {name: code for code, name in enumerate(LABEL_NAMES)}
_CHUNK = 20_000


def project_votes(*, project: Project) -> ProjectVotes:
    """All of a project's judgments as NumPy arrays, read in one query streamed in chunks."""
    rows = (
        Judgment.objects.filter(comparison__project=project)
        .order_by()
        .values_list(
            "comparison_id",
            "annotator_id",
            "choice",
            "strength",
            "shown_flipped",
            "seconds_spent",
            "created_at",
            "comparison__is_gold",
            "comparison__gold_answer",
            "comparison__batch",
            "comparison__response_a_id",
            "comparison__response_b_id",
        )
        .iterator(chunk_size=_CHUNK)
    )
    item_index: dict[int, int] = {}
    items: list[tuple[int, int, int, bool, int, str]] = []
    worker_index: dict[int | None, int] = {}
    cols: dict[str, list[Any]] = {
        k: [] for k in ("item", "worker", "label", "strength", "flipped", "seconds", "day", "time")
    }
    for cid, aid, choice, strength, flipped, seconds, created, is_gold, gold, batch, ra, rb in rows:
        i = item_index.get(cid)
        if i is None:
            i = item_index[cid] = len(items)
            items.append((cid, ra, rb, is_gold, _LABEL_CODE.get(gold, -1) if is_gold else -1, batch))
        w = worker_index.get(aid)
        if w is None:
            w = worker_index[aid] = len(worker_index)
        cols["item"].append(i)
        cols["worker"].append(w)
        cols["label"].append(_LABEL_CODE[choice])
        cols["strength"].append(STRENGTH_MARGIN.get(strength, -1))
        cols["flipped"].append(flipped)
        cols["seconds"].append(np.nan if seconds is None else seconds)
        cols["day"].append(created.toordinal())
        cols["time"].append(created.timestamp())
    return ProjectVotes(
        item=np.asarray(cols["item"], dtype=np.int64),
        worker=np.asarray(cols["worker"], dtype=np.int64),
        label=np.asarray(cols["label"], dtype=np.int64),
        strength=np.asarray(cols["strength"], dtype=np.int64),
        flipped=np.asarray(cols["flipped"], dtype=bool),
        seconds=np.asarray(cols["seconds"], dtype=np.float64),
        day=np.asarray(cols["day"], dtype=np.int64),
        time=np.asarray(cols["time"], dtype=np.float64),
        comparison_id=np.asarray([r[0] for r in items], dtype=np.int64),
        response_a_id=np.asarray([r[1] for r in items], dtype=np.int64),
        response_b_id=np.asarray([r[2] for r in items], dtype=np.int64),
        is_gold=np.asarray([r[3] for r in items], dtype=bool),
        gold_label=np.asarray([r[4] for r in items], dtype=np.int64),
        batch=[r[5] for r in items],
        annotator_id=list(worker_index),
    )
