"""TRL's preference schemas: standard (HH text split at the answer) and conversational ({role, content} lists).

Render in Python and its SQL mirror (PostgreSQL, over ``annotate_snapshotpair`` aliased ``sp``).
A standard prompt reads back through ``annotate.formats.hh.hh_prompt_turns``; a conversational
one is already turns.
"""

from __future__ import annotations

from typing import Any

from annotate.formats.sqljson import sql_json_string

# TRL's conversational roles, for the roles of any conversation (ShareGPT's human/gpt too).
TRL_ROLE = {"human": "user", "gpt": "assistant", "bot": "assistant"}


def trl_standard_columns(
    transcripts: list[str], chosen: list[str], rejected: list[str]
) -> dict[str, list[Any]]:
    """The standard schema's text columns: prompt + chosen is exactly the HH "chosen" transcript."""
    return {
        "prompt": [t + "\n\nAssistant:" for t in transcripts],
        "chosen": [" " + c for c in chosen],
        "rejected": [" " + r for r in rejected],
    }


def trl_conversational_columns(
    prompts: list[list[dict[str, str]]], chosen: list[str], rejected: list[str]
) -> dict[str, list[Any]]:
    """The conversational schema's columns: the prompt's turns with TRL's roles, each answer one assistant turn."""
    return {
        "prompt": [
            [{"role": TRL_ROLE.get(t["role"].lower(), t["role"].lower()), "content": t["content"]} for t in p]
            for p in prompts
        ],
        "chosen": [[{"role": "assistant", "content": c}] for c in chosen],
        "rejected": [[{"role": "assistant", "content": r}] for r in rejected],
    }


def sql_trl_standard_columns() -> list[tuple[str, str]]:
    """(name, SQL expression) of trl_standard_columns."""
    return [
        ("prompt", "sp.transcript || E'\\n\\nAssistant:'"),
        ("chosen", "' ' || sp.chosen"),
        ("rejected", "' ' || sp.rejected"),
    ]


def _sql_trl_role() -> str:
    cases = " ".join(f"WHEN '{role}' THEN '{name}'" for role, name in TRL_ROLE.items())
    return f"CASE lower(t->>'role') {cases} ELSE lower(t->>'role') END"


def sql_trl_conversational_json() -> list[tuple[str, str]]:
    """(name, SQL for the JSON text) of trl_conversational_columns, as the JSONL writer encodes them."""
    # The turn's content goes out as its jsonb text: for a string, that is to_json's escaping.
    turn = (
        """'{"role": ' || """
        + sql_json_string(_sql_trl_role())
        + """ || ', "content": ' || (t->'content')::text || '}'"""
    )

    def reply(column: str) -> str:
        return """'[{"role": "assistant", "content": ' || """ + sql_json_string(column) + " || '}]'"

    return [
        (
            "prompt",
            f"(SELECT '[' || coalesce(string_agg({turn}, ', ' ORDER BY o), '') || ']'"
            " FROM jsonb_array_elements(sp.prompt) WITH ORDINALITY AS e(t, o))",
        ),
        ("chosen", reply("sp.chosen")),
        ("rejected", reply("sp.rejected")),
    ]
