"""HH-RLHF transcripts (Bai et al., 2022): render (Python and its SQL mirror) and parse.

A transcript is "\\n\\nHuman: …" and "\\n\\nAssistant: …" turns, and ours for a system turn,
"\\n\\nSystem: …", where it is in the conversation. The export writes exactly these three
speakers and the HH import reads exactly these three, which are the only roles an import stores.
"""

from __future__ import annotations

import re
from typing import Any

# Role → HH speaker name, for the roles of any conversation (ShareGPT's human/gpt too).
HH_SPEAKER = {
    "user": "Human",
    "human": "Human",
    "assistant": "Assistant",
    "gpt": "Assistant",
    "bot": "Assistant",
    "system": "System",
}
# HH speaker name → the role an import stores.
_HH_ROLES = {"Human": "user", "Assistant": "assistant", "System": "system"}
_HH_MARK = re.compile(r"\n\n(Human|Assistant|System): ?")
# The open assistant turn that ends a TRL standard prompt ("\n\nHuman: …\n\nAssistant:").
_HH_OPEN = re.compile(r"\n\nAssistant: ?\Z")


def hh_transcript(turns: list[dict[str, str]]) -> str:
    """The prompt turns as an HH-RLHF transcript: each turn "\\n\\nHuman: …", "\\n\\nAssistant: …" or "\\n\\nSystem: …"."""
    return "".join(
        f"\n\n{HH_SPEAKER.get(t['role'].lower(), t['role'].capitalize())}: {t['content']}" for t in turns
    )


def hh_columns(transcripts: list[str], chosen: list[str], rejected: list[str]) -> dict[str, list[Any]]:
    """The HH schema's text columns: the prompt's transcript with each answer as the last Assistant turn."""
    heads = [t + "\n\nAssistant: " for t in transcripts]
    return {
        "chosen": [h + c for h, c in zip(heads, chosen, strict=True)],
        "rejected": [h + r for h, r in zip(heads, rejected, strict=True)],
    }


# --- SQL mirror (PostgreSQL), over ``annotate_snapshotpair`` aliased ``sp`` ------------------------


def _sql_speaker() -> str:
    cases = " ".join(f"WHEN '{role}' THEN '{name}'" for role, name in HH_SPEAKER.items())
    # Python's str.capitalize for any other role.
    return (
        f"CASE lower(t->>'role') {cases} ELSE upper(left(t->>'role', 1)) || lower(substr(t->>'role', 2)) END"
    )


def sql_hh_transcript(turns: str) -> str:
    """SQL for hh_transcript of a jsonb array of turns (the expression ``turns``)."""
    return (
        "(SELECT coalesce(string_agg(E'\\n\\n' || "
        + _sql_speaker()
        + " || ': ' || (t->>'content'), '' ORDER BY o), '')"
        f" FROM jsonb_array_elements({turns}) WITH ORDINALITY AS e(t, o))"
    )


def sql_hh_columns() -> list[tuple[str, str]]:
    """(name, SQL expression) of hh_columns."""
    head = "sp.transcript || E'\\n\\nAssistant: '"
    return [("chosen", f"{head} || sp.chosen"), ("rejected", f"{head} || sp.rejected")]


# --- parse -----------------------------------------------------------------------------------------


def _hh_split(text: str) -> list[dict[str, str]]:
    """The turns of HH-RLHF text, each turn's text exactly as written after "Speaker: "."""
    if not text.startswith("\n\n"):
        # Copies of HH-RLHF that went through a strip() lost the leading blank line; the rest is intact.
        text = "\n\n" + text
    parts = _HH_MARK.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise ValueError('does not start with "\\n\\nHuman: " (or "\\n\\nSystem: ")')
    # parts[0] is what came before the first speaker: nothing, or only blank space.
    return [
        {"role": _HH_ROLES[speaker], "content": content}
        for speaker, content in zip(parts[1::2], parts[2::2], strict=True)
    ]


def hh_turns(text: str) -> list[dict[str, str]]:
    """An HH-RLHF transcript as turns; raises ``ValueError`` saying why it is not one.

    Turns are Human, Assistant or System (``"\\n\\nSystem: …"``), in any order, and the last is
    the assistant's answer. A turn's text is kept exactly (only the one space after the colon
    is the separator's), so that what the export writes reads back to the same text.
    """
    turns = _hh_split(text)
    if turns[-1]["role"] != "assistant":
        raise ValueError('does not end with an "\\n\\nAssistant: " turn')
    if len(turns) < 2:
        raise ValueError("has no human turn before the assistant's answer")
    for number, turn in enumerate(turns, start=1):
        if not turn["content"].strip():
            raise ValueError(f"turn {number} is empty")
    return turns


def hh_prompt_turns(text: str) -> list[dict[str, str]] | None:
    """The turns of a TRL standard HH prompt (a transcript ending in an open "\\n\\nAssistant:"), else None.

    Such a prompt is the same conversation as the HH transcript and the conversational
    export's turns, so it is read as those turns; any other text is a plain prompt.
    """
    end = _HH_OPEN.search(text)
    if end is None:
        return None
    try:
        turns = _hh_split(text[: end.start()])
    except ValueError:
        return None
    if any(not turn["content"].strip() for turn in turns):
        return None
    return turns
