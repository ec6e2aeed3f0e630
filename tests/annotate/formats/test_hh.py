from __future__ import annotations

from annotate.formats.hh import hh_turns


class HhSystemTurnTests:
    """Export and import agree on a system turn: a "\\n\\nSystem: " turn where it is in the conversation."""

    def test_it_reads_a_system_turn(self) -> None:
        text = "\n\nSystem: Be brief.\n\nHuman: Name a prime.\n\nAssistant: 7"
        assert hh_turns(text) == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a prime."},
            {"role": "assistant", "content": "7"},
        ]

    def test_it_keeps_each_turns_text_exactly(self) -> None:
        assert hh_turns("\n\nHuman:  two spaces\n\n\n\nAssistant: trailing \n") == [
            {"role": "user", "content": " two spaces\n\n"},
            {"role": "assistant", "content": "trailing \n"},
        ]

    def test_it_reads_what_the_export_writes(self) -> None:
        from annotate.formats.hh import hh_transcript

        turns = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": " Hi\n"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Name a colour."},
        ]
        assert hh_turns(hh_transcript(turns) + "\n\nAssistant: Blue.") == [
            *turns,
            {"role": "assistant", "content": "Blue."},
        ]
