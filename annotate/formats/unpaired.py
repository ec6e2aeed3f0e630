"""TRL's unpaired preference schema (KTO's ``{"prompt", "completion", "label"}``): render and its SQL mirror.

Each snapshot row becomes two rows, one per response, with the prompt as the TRL standard
export writes it (``annotate.formats.trl``) and the completion after the space that follows
"Assistant:": a preference's chosen response is desirable (``label`` true) and its rejected one
undesirable, both responses of a both-bad verdict undesirable, and both of a tie desirable
(the export reads tie rows only when asked). Rows are named by ``annotate.models.VoteKind`` values.
"""

from __future__ import annotations

from typing import Any

from annotate.formats.sqljson import sql_json_object, sql_json_string
from annotate.formats.trl import sql_trl_standard_columns, trl_standard_columns

PREFERENCE, BOTH_BAD, TIE = "preference", "both_bad", "tie"
# (label of the row's first response, label of its second) for each kind of vote.
LABELS = {PREFERENCE: (True, False), BOTH_BAD: (False, False), TIE: (True, True)}
# The unpaired schema's text and label columns, before the stat columns.
UNPAIRED_COLUMNS = ("prompt", "completion", "label")


def trl_unpaired_columns(
    transcripts: list[str], chosen: list[str], rejected: list[str], kinds: list[str]
) -> dict[str, list[Any]]:
    """The unpaired schema's columns, two rows per snapshot row: its first response, then its second."""
    standard = trl_standard_columns(transcripts, chosen, rejected)
    out: dict[str, list[Any]] = {name: [] for name in UNPAIRED_COLUMNS}
    for prompt, first, second, kind in zip(
        standard["prompt"], standard["chosen"], standard["rejected"], kinds, strict=True
    ):
        first_label, second_label = LABELS[kind]
        out["prompt"] += [prompt, prompt]
        out["completion"] += [first, second]
        out["label"] += [first_label, second_label]
    return out


def twice(values: list[Any]) -> list[Any]:
    """Each value twice in a row: a snapshot row's stat columns on both of its unpaired rows."""
    return [value for value in values for _ in (0, 1)]


# --- SQL mirror (PostgreSQL), over ``annotate_snapshotpair`` aliased ``sp`` ------------------------


def sql_trl_unpaired_lines(stats: list[tuple[str, str]]) -> str:
    """SQL for a snapshot row's two JSONL lines (joined by a newline), each with the ``stats`` fields after the label."""
    columns = dict(sql_trl_standard_columns())
    prompt = sql_json_string(columns["prompt"])
    first_label = f"CASE WHEN sp.vote_kind = '{BOTH_BAD}' THEN 'false' ELSE 'true' END"
    second_label = f"CASE WHEN sp.vote_kind = '{TIE}' THEN 'true' ELSE 'false' END"
    lines = [
        sql_json_object(
            [("prompt", prompt), ("completion", sql_json_string(columns[side])), ("label", label), *stats]
        )
        for side, label in (("chosen", first_label), ("rejected", second_label))
    ]
    return f"{lines[0]} || E'\\n' || {lines[1]}"
