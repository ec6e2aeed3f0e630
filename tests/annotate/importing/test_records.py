from __future__ import annotations

import json

import pytest

from annotate.formats.hh import hh_turns
from annotate.importing.records import ComparisonRecord, RecordInvalid, record_parse
from tests.annotate.importing.helpers import HH_CHOSEN, HH_REJECTED


class RecordsTests:
    def test_it_accepts_a_prompt_as_text_or_turns(self) -> None:
        turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        record = record_parse(kind="pairs", value={"prompt": turns, "chosen": "a", "rejected": "b"})
        assert record == ComparisonRecord(prompt=turns, response_a="a", response_b="b", choice="a", batch="")

    def test_it_decodes_turns_given_as_json_in_a_csv_cell(self) -> None:
        turns = [{"role": "user", "content": "Hi"}]
        record = record_parse(
            kind="prompts", value={"prompt": json.dumps(turns), "metadata": ""}, text_cells=True
        )
        assert record.prompt == turns
        text = record_parse(kind="prompts", value={"prompt": "[INST] hello"}, text_cells=True)
        assert text.prompt == "[INST] hello"

    def test_it_turns_a_rating_for_b_into_a_verdict_for_b(self) -> None:
        record = record_parse(
            kind="ratings",
            value={"prompt": "q", "response_a": "x", "response_b": "y", "preference": "b", "batch": "r1"},
        )
        assert record == ComparisonRecord(prompt="q", response_a="x", response_b="y", choice="b", batch="r1")

    def test_it_splits_an_hh_transcript_into_prompt_turns_and_answers(self) -> None:
        record = record_parse(kind="hh", value={"chosen": HH_CHOSEN, "rejected": HH_REJECTED})
        assert record == ComparisonRecord(
            prompt=[
                {"role": "user", "content": "Hi there"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "Name a colour."},
            ],
            response_a="Blue.",
            response_b="No.",
            choice="a",
            batch="",
        )

    def test_it_accepts_hh_text_that_lost_its_leading_blank_line(self) -> None:
        assert hh_turns("Human: hi\n\nAssistant: hello") == [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ]


class PairShapesTests:
    """The pairs import reads both TRL shapes that the export writes."""

    def test_it_reads_conversational_chosen_and_rejected(self) -> None:
        record = record_parse(
            kind="pairs",
            value={
                "prompt": [{"role": "user", "content": "q"}],
                "chosen": [{"role": "assistant", "content": "good"}],
                "rejected": [{"role": "assistant", "content": "bad"}],
            },
        )
        assert record == ComparisonRecord(
            prompt=[{"role": "user", "content": "q"}],
            response_a="good",
            response_b="bad",
            choice="a",
            batch="",
        )

    def test_it_refuses_a_reply_that_is_not_one_assistant_turn(self) -> None:
        with pytest.raises(RecordInvalid) as caught:
            record_parse(
                kind="pairs",
                value={
                    "prompt": "q",
                    "chosen": [{"role": "user", "content": "good"}],
                    "rejected": [
                        {"role": "assistant", "content": "a"},
                        {"role": "assistant", "content": "b"},
                    ],
                },
            )
        assert caught.value.problems == [
            ("chosen", 'expected a string or a list of one {"role": "assistant", "content": ...} turn, got an array of 1 that is not one'),
            ("rejected", 'expected a string or a list of one {"role": "assistant", "content": ...} turn, got an array of 2'),
        ]  # fmt: skip

    def test_it_reads_a_trl_standard_hh_prompt_as_its_turns(self) -> None:
        record = record_parse(
            kind="pairs",
            value={
                "prompt": "\n\nSystem: Be brief.\n\nHuman: q\n\nAssistant:",
                "chosen": " good",
                "rejected": "  bad",
            },
        )
        assert record == ComparisonRecord(
            prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}],
            response_a="good",
            response_b=" bad",  # only the space that belongs to "Assistant: " goes
            choice="a",
            batch="",
        )

    def test_it_leaves_the_space_to_a_prompt_that_kept_it(self) -> None:
        record = record_parse(
            kind="pairs", value={"prompt": "Human: q\n\nAssistant: ", "chosen": "good", "rejected": " bad"}
        )
        assert isinstance(record, ComparisonRecord)
        assert (record.prompt, record.response_a, record.response_b) == (
            [{"role": "user", "content": "q"}],
            "good",
            " bad",
        )

    def test_it_keeps_other_text_as_a_plain_prompt(self) -> None:
        record = record_parse(
            kind="pairs", value={"prompt": "Human: q", "chosen": " good", "rejected": "bad"}
        )
        assert isinstance(record, ComparisonRecord)
        assert (record.prompt, record.response_a) == ("Human: q", " good")
