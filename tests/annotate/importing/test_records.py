from __future__ import annotations

import json

import pytest

from annotate.formats.hh import hh_turns
from annotate.importing.kinds import ComparisonRecord, RecordInvalid, ResponseRecord
from annotate.importing.records import record_parse
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


class UnpairedRecordsTests:
    """The unpaired kind (TRL's KTO rows): a response with the dataset's verdict on it."""

    def test_it_reads_a_trl_standard_row_as_turns_and_a_response_with_its_verdict(self) -> None:
        record = record_parse(
            kind="unpaired",
            value={"prompt": "\n\nHuman: Name a prime.\n\nAssistant:", "completion": " 7", "label": True,
                   "margin": None, "agreement": 1.0, "votes": 2},
        )  # fmt: skip
        assert record == ResponseRecord(
            prompt=[{"role": "user", "content": "Name a prime."}],
            responses=("7",),
            model_version="",
            metadata=({"imported_label": True},),
        )

    def test_it_reads_a_conversational_completion_and_a_csv_label(self) -> None:
        value = {"prompt": "q", "completion": [{"role": "assistant", "content": "no"}], "label": False}
        record = record_parse(kind="unpaired", value=value)
        assert isinstance(record, ResponseRecord) and record.metadata == ({"imported_label": False},)
        for cell, label in (("true", True), ("0", False), ("FALSE", False)):
            record = record_parse(kind="unpaired", value={"prompt": "q", "completion": "x", "label": cell}, text_cells=True)
            assert isinstance(record, ResponseRecord) and record.metadata == ({"imported_label": label},)

    @pytest.mark.parametrize(
        ("value", "text_cells", "expected"),
        [
            ({"prompt": "q", "completion": "x", "label": "yes"}, True, [("label", 'expected true or false, got "yes"')]),
            ({"prompt": "q", "completion": "x", "label": ""}, True, [("label", 'expected true or false, got ""')]),
            ({"prompt": "q", "completion": "x", "label": 1}, False, [("label", "expected true or false, got number")]),
            ({"prompt": "q", "completion": "x", "label": None}, False, [("label", "expected true or false, got null")]),
            ({"prompt": "q", "completion": "x"}, False, [("label", "missing required field")]),
            ({"prompt": "q", "completion": "x", "label": True, "chosen": "y"}, False,
             [("chosen", "unknown field; allowed: prompt, completion, label, margin, agreement, votes")]),
            ({"prompt": "q", "completion": " ", "label": True, "votes": -1}, False,
             [("completion", "must not be empty"), ("votes", "must be at least 0")]),
        ],
    )  # fmt: skip
    def test_it_names_the_field_of_each_problem(
        self, value: dict[str, object], text_cells: bool, expected: list[tuple[str, str]]
    ) -> None:
        with pytest.raises(RecordInvalid) as caught:
            record_parse(kind="unpaired", value=value, text_cells=text_cells)
        assert caught.value.problems == expected
