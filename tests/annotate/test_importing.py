from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from annotate.importing import readers
from annotate.importing.problems import ImportProblem, ImportRejected
from annotate.importing.readers import Position, Unreadable, format_for, records_open
from annotate.importing.records import ComparisonRecord, RecordInvalid, hh_turns, record_parse
from annotate.models import Choice, Comparison, ComparisonStatus, Judgment, Project, Prompt, Response
from annotate.services import import_writer, imports
from annotate.services.imports import import_file
from tests.factories import make_comparison, make_import_file, make_pair_records

HH_CHOSEN = (
    "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Name a colour.\n\nAssistant: Blue."
)
HH_REJECTED = (
    "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Name a colour.\n\nAssistant: No."
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _rows() -> dict[str, int]:
    return {
        "prompts": Prompt.objects.count(),
        "responses": Response.objects.count(),
        "comparisons": Comparison.objects.count(),
        "judgments": Judgment.objects.count(),
    }


class ReadersTests:
    def test_it_reads_jsonl_with_physical_line_numbers(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "a.jsonl", '{"x": 1}\n\n  \n{"x": 2}\n{bad\n')
        got = list(records_open(path=path, fmt="jsonl"))
        assert got[0] == (Position(line=1), {"x": 1})
        assert got[1] == (Position(line=4), {"x": 2})
        assert got[2][0] == Position(line=5) and isinstance(got[2][1], Unreadable)

    def test_it_reads_a_json_array_one_element_at_a_time(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A tiny chunk makes every element straddle reads, including numbers cut mid-way.
        monkeypatch.setattr(readers._JsonArray, "CHUNK", 3)
        path = _write(tmp_path, "a.json", ' [ {"x": "long enough to split"}, 12345, {"y": [1, 2]} ]\n')
        got = list(records_open(path=path, fmt="json"))
        assert got == [
            (Position(record=1), {"x": "long enough to split"}),
            (Position(record=2), 12345),
            (Position(record=3), {"y": [1, 2]}),
        ]

    def test_it_gives_csv_rows_the_line_they_start_on(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "a.csv", 'prompt,chosen\n"two\nlines",x\n\nthird,y\n')
        got = list(records_open(path=path, fmt="csv"))
        assert got == [
            (Position(line=2), {"prompt": "two\nlines", "chosen": "x"}),
            (Position(line=5), {"prompt": "third", "chosen": "y"}),
        ]

    def test_it_reads_parquet_record_by_record(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(readers.ParquetSource, "BATCH", 2)
        path = make_import_file(tmp_path, make_pair_records(5), fmt="parquet")
        source = records_open(path=path, fmt="parquet")
        got = list(source)
        assert source.columns == ["prompt", "chosen", "rejected"]
        assert [p for p, _ in got] == [Position(record=n) for n in range(1, 6)]
        assert got[4][1]["chosen"] == "p good answer 4"

    def test_it_infers_the_format_from_the_extension(self) -> None:
        assert format_for(name="x/y.JSONL", fmt=None) == "jsonl"
        assert format_for(name="y.ndjson", fmt=None) == "jsonl"
        assert format_for(name="y.parquet", fmt=None) == "parquet"
        assert format_for(name="y.txt", fmt="csv") == "csv"


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


class ImportProblemTests:
    def test_it_says_where_and_what(self) -> None:
        assert str(ImportProblem(3, None, "chosen", "expected a string, got number")) == (
            'line 3, field "chosen": expected a string, got number'
        )
        assert str(ImportProblem(None, 7, None, "expected a JSON object, got array")) == (
            "record 7: expected a JSON object, got array"
        )
        assert str(ImportProblem(None, None, None, "the file is empty")) == "the file is empty"


def _problems(project: Project, path: Path, kind: str, fmt: str | None = None) -> list[str]:
    before = _rows()
    with pytest.raises(ImportRejected) as caught:
        import_file(project=project, path=path, kind=kind, fmt=fmt)
    assert _rows() == before, "a rejected file must write nothing"
    return [str(p) for p in caught.value.problems]


GOOD = '{"prompt": "q", "chosen": "yes", "rejected": "no"}\n'


@pytest.mark.django_db
class ImportErrorsTests:
    @pytest.mark.parametrize(
        ("kind", "name", "text", "expected"),
        [
            ("pairs", "bad.jsonl", GOOD + '{"prompt": "q", "chosen": "a" "rejected": "b"}\n',
             ["line 2: invalid JSON: Expecting ',' delimiter at column 31"]),
            ("pairs", "bad.jsonl", GOOD + '["q", "a", "b"]\n', ["line 2: expected a JSON object, got array"]),
            ("pairs", "bad.jsonl", '{"prompt": "q", "chosen": "a"}\n', ['line 1, field "rejected": missing required field']),
            ("pairs", "bad.jsonl", '{"prompt": "q", "chosen": 5, "rejected": "b"}\n',
             ['line 1, field "chosen": expected a string, got number']),
            ("pairs", "bad.jsonl", '{"prompt": "  ", "chosen": "a", "rejected": "b"}\n',
             ['line 1, field "prompt": must not be empty']),
            ("ratings", "bad.jsonl", '{"prompt": "q", "response_a": "x", "response_b": "y", "preference": "c"}\n',
             ['line 1, field "preference": expected "a" or "b", got "c"']),
            ("pairs", "bad.jsonl", '{"prompt": "q", "chosen": "same", "rejected": "same"}\n',
             ['line 1, field "rejected": is the same as "chosen"']),
            ("ratings", "bad.jsonl", '{"prompt": "q", "response_a": "x", "response_b": "x", "preference": "a"}\n',
             ['line 1, field "response_b": is the same as "response_a"']),
            ("pairs", "bad.jsonl", '{"prompt": "q", "chosen": "a", "rejected": "b", "score": 1}\n',
             ['line 1, field "score": unknown field; allowed: prompt, chosen, rejected, batch, margin, agreement, votes, gold']),
            ("pairs", "bad.jsonl", '{"prompt": [{"role": "bot", "content": "hi"}], "chosen": "a", "rejected": "b"}\n',
             ['line 1, field "prompt[0].role": expected "user", "assistant" or "system", got "bot"']),
            ("hh", "bad.jsonl", json.dumps({"chosen": "\n\nHuman: hi", "rejected": HH_REJECTED}) + "\n",
             ['line 1, field "chosen": not an HH-RLHF transcript: does not end with an "\\n\\nAssistant: " turn']),
            ("hh", "bad.jsonl", json.dumps({"chosen": "Hello", "rejected": HH_REJECTED}) + "\n",
             ['line 1, field "chosen": not an HH-RLHF transcript: does not start with "\\n\\nHuman: " (or "\\n\\nSystem: ")']),
            ("hh", "bad.jsonl", json.dumps({"chosen": "\n\nHuman: other\n\nAssistant: Blue.", "rejected": HH_REJECTED}) + "\n",
             ['line 1, field "rejected": the conversation before the last "Assistant:" turn differs from "chosen"']),
            ("pairs", "bad.json", '[{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": null, "rejected": "b"}]',
             ['record 2, field "chosen": expected a string, got null']),
            ("pairs", "bad.json", '{"prompt": "q", "chosen": "a", "rejected": "b"}',
             ["expected a JSON array of records, got an object (for one record per line, use the jsonl format)"]),
            ("pairs", "bad.json", '[{"prompt": "q", "chosen": "a", "rejected": "b"},\n {"prompt": "q",, }]',
             ['record 2: invalid JSON: Expecting property name enclosed in double quotes (file line 2, column 16)']),
            ("pairs", "bad.csv", "prompt,chosen\nq,a\n", ['line 1, field "rejected": missing column; the header has: prompt, chosen']),
            ("pairs", "bad.csv", "prompt,chosen,rejected\nq,a,b\n\nq,a,b,extra\n", ["line 4: expected 3 cells as in the header, got 4"]),
            ("pairs", "bad.csv", 'prompt,chosen,rejected\nq,a,b\n"q\nq",,b\n', ['line 3, field "chosen": must not be empty']),
            ("pairs", "bad.zip", "not a zip", ["not a readable datasets folder: File is not a zip file"]),
            ("pairs", "empty.jsonl", "", ["the file is empty"]),
            ("pairs", "empty.csv", "prompt,chosen,rejected\n", ["the file has no records"]),
            ("pairs", "empty.json", "[ ]", ["the file has no records"]),
            ("pairs", "data.xlsx", GOOD,
             ['cannot tell the format of "data.xlsx" from its extension; name it .jsonl, .ndjson, .json, .csv, .parquet, .zip '
              "or give the format (jsonl, json, csv, parquet, hf_dataset)"]),
        ],
    )  # fmt: skip
    def test_it_rejects_each_kind_of_bad_input_with_an_exact_message(
        self, project: Project, tmp_path: Path, kind: str, name: str, text: str, expected: list[str]
    ) -> None:
        assert _problems(project, _write(tmp_path, name, text), kind) == expected

    def test_it_rejects_an_unknown_format(self, project: Project, tmp_path: Path) -> None:
        path = _write(tmp_path, "a.jsonl", GOOD)
        assert _problems(project, path, "pairs", fmt="xlsx") == [
            'unknown format "xlsx"; use one of: jsonl, json, csv, parquet, hf_dataset'
        ]

    def test_it_rejects_a_file_over_the_size_limit(
        self, project: Project, tmp_path: Path, settings: Any
    ) -> None:
        settings.CONCORD_IMPORT_MAX_BYTES = 100
        path = make_import_file(tmp_path, make_pair_records(5))
        size = path.stat().st_size
        assert _problems(project, path, "pairs") == [
            f"the file is {size:,} bytes; the limit is 100 bytes (CONCORD_IMPORT_MAX_BYTES)"
        ]

    def test_it_rejects_a_file_with_too_many_records(
        self, project: Project, tmp_path: Path, settings: Any
    ) -> None:
        settings.CONCORD_IMPORT_MAX_RECORDS = 3
        path = make_import_file(tmp_path, make_pair_records(4))
        assert _problems(project, path, "pairs") == [
            "too many records: the limit is 3 (CONCORD_IMPORT_MAX_RECORDS)"
        ]

    def test_it_reports_the_missing_parquet_column(self, project: Project, tmp_path: Path) -> None:
        path = make_import_file(tmp_path, [{"prompt": "q", "chosen": "a"}], fmt="parquet")
        assert _problems(project, path, "pairs") == [
            'field "rejected": missing column; the header has: prompt, chosen'
        ]

    def test_it_reports_every_problem_of_a_record_and_stops_at_a_hundred(
        self, project: Project, tmp_path: Path
    ) -> None:
        bad = '{"prompt": "", "chosen": 1}\n' * 60
        with pytest.raises(ImportRejected) as caught:
            import_file(project=project, path=_write(tmp_path, "a.jsonl", GOOD + bad), kind="pairs")
        problems = caught.value.problems
        assert [str(p) for p in problems[:3]] == [
            'line 2, field "rejected": missing required field',
            'line 2, field "prompt": must not be empty',
            'line 2, field "chosen": expected a string, got number',
        ]
        assert len(problems) == 100 and caught.value.truncated
        assert caught.value.message == "100 problems (stopped looking after 100); nothing was imported"


@pytest.mark.django_db
class ImportFileTests:
    @pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
    def test_it_imports_pairs_as_open_comparisons_with_an_imported_verdict(
        self, project: Project, tmp_path: Path, fmt: str
    ) -> None:
        records = make_pair_records(3)
        records[0]["prompt"] = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi?"}]
        if fmt == "parquet":  # a Parquet column has one type: turns for every record
            for record in records[1:]:
                record["prompt"] = [{"role": "user", "content": record["prompt"]}]
        result = import_file(
            project=project, path=make_import_file(tmp_path, records, fmt=fmt), kind="pairs", batch="b1"
        )
        assert (result.records, result.prompts, result.responses, result.comparisons, result.judgments) == (
            3,
            3,
            6,
            3,
            3,
        )
        comparison = Comparison.objects.get(prompt__content=records[0]["prompt"])
        assert (
            comparison.response_a.text == "p good answer 0" and comparison.response_b.text == "p bad answer 0"
        )
        assert (comparison.status, comparison.vote_count, comparison.slots_taken, comparison.batch) == (
            ComparisonStatus.OPEN, 0, 0, "b1",
        )  # fmt: skip
        judgment = comparison.judgments.get()
        assert (judgment.is_imported, judgment.annotator, judgment.choice) == (True, None, Choice.A)

    def test_it_imports_ratings_with_the_rated_winner(self, project: Project, tmp_path: Path) -> None:
        path = make_import_file(
            tmp_path, [{"prompt": "q", "response_a": "x", "response_b": "y", "preference": "b", "batch": "r"}]
        )
        import_file(project=project, path=path, kind="ratings")
        comparison = Comparison.objects.get()
        assert (comparison.response_a.text, comparison.batch, comparison.judgments.get().choice) == (
            "x",
            "r",
            "b",
        )

    def test_it_imports_hh_transcripts_with_the_conversation_as_the_prompt(
        self, project: Project, tmp_path: Path
    ) -> None:
        path = make_import_file(tmp_path, [{"chosen": HH_CHOSEN, "rejected": HH_REJECTED}])
        import_file(project=project, path=path, kind="hh")
        comparison = Comparison.objects.get()
        assert [t["role"] for t in comparison.prompt.turns] == ["user", "assistant", "user"]
        assert (comparison.response_a.text, comparison.response_b.text) == ("Blue.", "No.")

    def test_it_imports_prompts_with_their_metadata(self, project: Project, tmp_path: Path) -> None:
        path = make_import_file(
            tmp_path, [{"prompt": "q1", "metadata": {"src": "x"}}, {"prompt": "q2"}], fmt="csv"
        )
        result = import_file(project=project, path=path, kind="prompts")
        assert (result.prompts, result.duplicates) == (2, 0)
        assert Prompt.objects.get(content="q1").metadata == {"src": "x"}

    def test_it_compares_every_pair_of_a_prompts_responses(self, project: Project, tmp_path: Path) -> None:
        make_comparison(project, prompt="q", a="old 1", b="old 2")
        records = [
            {"prompt": "q", "response": "new", "model_version": "m1"},
            {"prompt": "q2", "response": "only"},
        ]
        result = import_file(
            project=project, path=make_import_file(tmp_path, records), kind="responses", batch="r2"
        )
        # "q" now has three responses: the old pair exists, two new comparisons; "q2" has one, so none.
        assert (result.prompts, result.responses, result.comparisons, result.judgments) == (1, 2, 2, 0)
        assert Comparison.objects.filter(prompt__content="q", batch="r2").count() == 2
        assert Response.objects.get(text="new").model_version == "m1"

    def test_it_adds_nothing_when_the_same_file_comes_again(self, project: Project, tmp_path: Path) -> None:
        path = make_import_file(tmp_path, make_pair_records(5) + make_pair_records(2))
        first = import_file(project=project, path=path, kind="pairs")
        assert (first.comparisons, first.judgments, first.duplicates) == (5, 5, 2)
        before = _rows()
        again = import_file(project=project, path=path, kind="pairs")
        assert (again.prompts, again.responses, again.comparisons, again.judgments, again.duplicates) == (
            0,
            0,
            0,
            0,
            7,
        )
        assert _rows() == before

    def test_it_turns_the_verdict_round_when_the_pair_exists_the_other_way(
        self, project: Project, tmp_path: Path
    ) -> None:
        existing = make_comparison(project, prompt="q", a="worse", b="better")
        path = make_import_file(tmp_path, [{"prompt": "q", "chosen": "better", "rejected": "worse"}])
        result = import_file(project=project, path=path, kind="pairs")
        assert (result.comparisons, result.judgments) == (0, 1)
        assert Judgment.objects.get(comparison=existing).choice == Choice.B

    def test_it_keeps_prompts_of_other_projects_apart(self, project: Project, tmp_path: Path) -> None:
        from tests.factories import make_project

        path = make_import_file(tmp_path, make_pair_records(2))
        import_file(project=project, path=path, kind="pairs")
        other = make_project()
        assert import_file(project=other, path=path, kind="pairs").prompts == 2

    def test_it_reports_progress_up_to_the_record_count(
        self, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imports, "CHUNK", 4)
        calls: list[tuple[int, int]] = []
        import_file(
            project=project, path=make_import_file(tmp_path, make_pair_records(10)), kind="pairs",
            progress=lambda done, total: calls.append((done, total)),
        )  # fmt: skip
        assert calls == [(0, 10), (4, 10), (8, 10), (10, 10)]

    def test_it_writes_nothing_when_the_database_fails_midway(
        self, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imports, "CHUNK", 3)
        real = import_writer.rows_insert
        calls = {"n": 0}

        def failing(model: Any, rows: Any) -> Any:
            calls["n"] += model is Judgment
            if calls["n"] == 2:
                raise RuntimeError("disk full")
            return real(model, rows)

        monkeypatch.setattr(import_writer, "rows_insert", failing)
        before = _rows()
        with pytest.raises(RuntimeError):
            import_file(project=project, path=make_import_file(tmp_path, make_pair_records(8)), kind="pairs")
        assert _rows() == before

    def test_it_writes_nothing_from_a_file_with_one_bad_record(
        self, project: Project, tmp_path: Path
    ) -> None:
        records: list[dict[str, Any]] = [
            *make_pair_records(50),
            {"prompt": "q", "chosen": "a", "rejected": 3},
        ]
        assert _problems(project, make_import_file(tmp_path, records), "pairs") == [
            'line 51, field "rejected": expected a string, got number'
        ]
        assert Prompt.objects.count() == 0


@pytest.mark.django_db
class ImportDataCommandTests:
    def test_it_imports_and_prints_the_counts(self, project: Project, tmp_path: Path) -> None:
        from io import StringIO

        from django.core.management import call_command

        out, err = StringIO(), StringIO()
        path = make_import_file(tmp_path, make_pair_records(3), fmt="csv")
        call_command(
            "import_data", project.slug, str(path), "--kind", "pairs", "--batch", "c1", stdout=out, stderr=err
        )
        assert "Imported 3 records into demo" in out.getvalue()
        assert "3 new comparisons, 3 imported verdicts, 0 duplicates" in out.getvalue()
        assert set(Comparison.objects.values_list("batch", flat=True)) == {"c1"}

    def test_it_prints_the_first_twenty_problems_and_fails(self, project: Project, tmp_path: Path) -> None:
        from io import StringIO

        from django.core.management import CommandError, call_command

        err = StringIO()
        path = _write(tmp_path, "bad.jsonl", '{"prompt": "q", "chosen": 1, "rejected": "b"}\n' * 25)
        with pytest.raises(CommandError, match="25 problems; nothing was imported"):
            call_command(
                "import_data", project.slug, str(path), "--kind", "pairs", stdout=StringIO(), stderr=err
            )
        lines = [line for line in err.getvalue().splitlines() if line.startswith(("line", "and"))]
        assert lines[0] == 'line 1, field "chosen": expected a string, got number'
        assert lines[19].startswith("line 20,") and lines[20] == "and 5 more"
        assert Prompt.objects.count() == 0

    def test_it_says_when_the_project_does_not_exist(self, db: None, tmp_path: Path) -> None:
        from django.core.management import CommandError, call_command

        with pytest.raises(CommandError, match='no project with slug "nope"'):
            call_command("import_data", "nope", str(tmp_path / "x.jsonl"), "--kind", "pairs")


@pytest.mark.slow
@pytest.mark.django_db
class LargeImportTests:
    # The speed figure (100k records in under a minute) comes from bench/import_pairs.py;
    # this test checks that an import of that size is complete and correct.
    def test_it_imports_100k_pairs_completely(self, project: Project, tmp_path: Path) -> None:
        records = [
            {"prompt": f"Question {i}: how do I do thing {i}?", "chosen": f"A careful answer {i}. " * 5,
             "rejected": f"A worse answer {i}. " * 4}
            for i in range(100_000)
        ]  # fmt: skip
        path = make_import_file(tmp_path, records)
        result = import_file(project=project, path=path, kind="pairs")
        assert (result.prompts, result.responses, result.comparisons, result.judgments) == (
            100_000,
            200_000,
            100_000,
            100_000,
        )
        assert Judgment.objects.filter(is_imported=True, choice=Choice.A).count() == 100_000


class ExportColumnsImportTests:
    """Our own exports carry margin/agreement/votes; they must import back."""

    def test_it_turns_margin_into_the_imported_strength(self, project: Project, tmp_path: Path) -> None:
        path = tmp_path / "pairs.jsonl"
        rows = [
            {"prompt": "Q1?", "chosen": "good", "rejected": "bad", "margin": 3, "agreement": 1.0, "votes": 3},
            {
                "prompt": "Q2?",
                "chosen": "good",
                "rejected": "bad",
                "margin": 0.6,
                "agreement": 0.67,
                "votes": 3,
            },
            {"prompt": "Q3?", "chosen": "good", "rejected": "bad", "margin": None},
        ]
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        import_file(project=project, path=path, kind="pairs")
        strengths = sorted(Judgment.objects.filter(is_imported=True).values_list("strength", flat=True))
        assert strengths == ["", "significantly", "slightly"]

    def test_it_names_a_bad_export_column(self, project: Project, tmp_path: Path) -> None:
        path = tmp_path / "pairs.jsonl"
        path.write_text(
            json.dumps({"prompt": "Q?", "chosen": "x", "rejected": "y", "margin": 7, "votes": "many"}) + "\n"
        )
        with pytest.raises(ImportRejected) as caught:
            import_file(project=project, path=path, kind="pairs")
        assert [str(p) for p in caught.value.problems] == [
            'line 1, field "margin": must be between 0 and 3',
            'line 1, field "votes": expected a number, got string',
        ]
        assert Judgment.objects.count() == 0


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


@pytest.mark.django_db
class CanonicalPromptTests:
    def test_a_plain_prompt_and_its_one_user_turn_are_one_prompt(
        self, project: Project, tmp_path: Path
    ) -> None:
        first = import_file(
            project=project,
            path=make_import_file(tmp_path, [{"prompt": "x", "chosen": "a", "rejected": "b"}]),
            kind="pairs",
        )
        again = make_import_file(
            tmp_path,
            [{"prompt": [{"role": "user", "content": "x"}], "chosen": "a", "rejected": "b"}],
            fmt="json",
        )
        second = import_file(project=project, path=again, kind="pairs")
        assert (first.prompts, second.prompts, second.comparisons, second.duplicates) == (1, 0, 0, 1)
        hh = make_import_file(
            tmp_path,
            [{"chosen": "\n\nHuman: x\n\nAssistant: a", "rejected": "\n\nHuman: x\n\nAssistant: b"}],
            fmt="csv",
        )
        assert import_file(project=project, path=hh, kind="hh").duplicates == 1
        assert _rows() == {"prompts": 1, "responses": 2, "comparisons": 1, "judgments": 1}

    def test_the_migration_rehashes_old_prompts_and_keeps_both_of_a_collision(self, project: Project) -> None:
        import importlib

        from django.apps import apps

        from annotate.services.content import content_hash, prompt_hash

        migration = importlib.import_module("annotate.migrations.0005_canonical_prompt_hash")
        turns = [{"role": "user", "content": "same"}]
        plain = Prompt.objects.create(project=project, content="plain", content_hash=content_hash("plain"))
        early = Prompt.objects.create(project=project, content="same", content_hash=content_hash("same"))
        late = Prompt.objects.create(project=project, content=turns, content_hash=content_hash(turns))
        migration.forwards(apps, None)
        got = dict(Prompt.objects.values_list("pk", "content_hash"))
        assert got[plain.pk] == prompt_hash("plain")
        # The turns already had the canonical hash and keep it; the plain twin keeps its old, unique one.
        assert (got[late.pk], got[early.pk]) == (prompt_hash(turns), content_hash("same"))
        migration.backwards(apps, None)
        assert dict(Prompt.objects.values_list("pk", "content_hash")) == {
            plain.pk: content_hash("plain"),
            early.pk: content_hash("same"),
            late.pk: content_hash(turns),
        }


@pytest.mark.django_db
class GenerateOutputImportTests:
    """`python -m alignment.training generate` writes rows the responses import reads."""

    ROW = {
        "prompt": [{"role": "user", "content": "Name a prime."}],
        "responses": ["7", "11", "7"],
        "scores": [0.5, 0.25, 0.5],
        "best": "7",
        "best_score": 0.5,
    }

    def test_it_imports_each_response_with_its_score(self, project: Project, tmp_path: Path) -> None:
        make_comparison(project, prompt="Name a prime.", a="2", b="9")
        result = import_file(project=project, path=make_import_file(tmp_path, [self.ROW]), kind="responses")
        assert (result.prompts, result.responses, result.duplicates, result.comparisons) == (0, 2, 1, 5)
        stored = dict(Response.objects.filter(text__in=["7", "11"]).values_list("text", "metadata"))
        assert stored == {"7": {"score": 0.5}, "11": {"score": 0.25}}

    def test_it_says_what_is_wrong_with_a_generate_row(self) -> None:
        with pytest.raises(RecordInvalid) as caught:
            record_parse(kind="responses", value={**self.ROW, "scores": [1.0], "best": "13"})
        assert caught.value.problems == [
            ("scores", "expected one number per response (3), got an array of 1"),
            ("best", 'is not one of "responses"'),
        ]
        with pytest.raises(RecordInvalid) as caught:
            record_parse(kind="responses", value={"prompt": "q"})
        assert caught.value.problems == [("response", 'missing required field (or "responses", a list)')]

class GoldImportTests:
    """``"gold": true`` on a pairs, ratings or hh record makes a gold item with the record's verdict as its answer."""

    def test_it_imports_gold_pairs_ratings_and_transcripts_with_their_answers(
        self, project: Project, tmp_path: Path
    ) -> None:
        pairs = make_import_file(
            tmp_path,
            [
                {"prompt": "Gold?", "chosen": "right", "rejected": "wrong", "gold": True},
                {"prompt": "Plain?", "chosen": "x", "rejected": "y", "gold": False},
                {"prompt": "Also plain?", "chosen": "x", "rejected": "y"},
            ],
        )
        result = import_file(project=project, path=pairs, kind="pairs")
        assert (result.comparisons, result.judgments, result.gold) == (3, 3, 1)
        gold = Comparison.objects.get(is_gold=True)
        assert (gold.gold_answer, gold.response_a.text, gold.status) == ("a", "right", ComparisonStatus.OPEN)
        ratings = make_import_file(
            tmp_path,
            [{"prompt": "R?", "response_a": "no", "response_b": "yes", "preference": "b", "gold": True}],
        )
        assert import_file(project=project, path=ratings, kind="ratings").gold == 1
        assert Comparison.objects.get(response_b__text="yes").gold_answer == "b"
        hh = make_import_file(tmp_path, [{"chosen": HH_CHOSEN, "rejected": HH_REJECTED, "gold": True}])
        assert import_file(project=project, path=hh, kind="hh").gold == 1
        assert Comparison.objects.filter(is_gold=True).count() == 3

    def test_it_reads_gold_from_csv_cells(self, project: Project, tmp_path: Path) -> None:
        path = _write(
            tmp_path, "gold.csv", "prompt,chosen,rejected,gold\nq1,a,b,true\nq2,a,b,0\nq3,a,b,\nq4,a,b,1\n"
        )
        assert import_file(project=project, path=path, kind="pairs").gold == 2
        assert sorted(Comparison.objects.filter(is_gold=True).values_list("prompt__content", flat=True)) == [
            "q1",
            "q4",
        ]

    def test_it_reads_gold_from_a_parquet_boolean_column(self, project: Project, tmp_path: Path) -> None:
        records = [dict(r, gold=i % 2 == 0) for i, r in enumerate(make_pair_records(4))]
        path = make_import_file(tmp_path, records, fmt="parquet")
        assert import_file(project=project, path=path, kind="pairs").gold == 2

    def test_it_answers_for_the_stored_order_when_the_pair_exists_the_other_way(
        self, project: Project, tmp_path: Path
    ) -> None:
        existing = make_comparison(project, prompt="q", a="worse", b="better")
        path = make_import_file(
            tmp_path, [{"prompt": "q", "chosen": "better", "rejected": "worse", "gold": True}]
        )
        assert import_file(project=project, path=path, kind="pairs").gold == 1
        existing.refresh_from_db()
        assert existing.is_gold and existing.gold_answer == "b"

    def test_reimporting_a_file_with_gold_marks_existing_comparisons_once(
        self, project: Project, tmp_path: Path
    ) -> None:
        records = make_pair_records(3)
        first = import_file(project=project, path=make_import_file(tmp_path, records), kind="pairs")
        assert first.gold == 0
        marked = import_file(
            project=project,
            path=make_import_file(tmp_path, [dict(r, gold=True) for r in records]),
            kind="pairs",
        )
        assert (marked.comparisons, marked.judgments, marked.duplicates, marked.gold) == (0, 0, 3, 3)
        again = import_file(
            project=project,
            path=make_import_file(tmp_path, [dict(r, gold=True) for r in records]),
            kind="pairs",
        )
        assert again.gold == 0 and again.as_counts()["gold"] == 0
        assert Comparison.objects.filter(is_gold=True, gold_answer="a").count() == 3

    @pytest.mark.parametrize(
        ("name", "text", "expected"),
        [
            ("bad.jsonl", '{"prompt": "q", "chosen": "a", "rejected": "b", "gold": "yes"}\n',
             ['line 1, field "gold": expected true or false, got string']),
            ("bad.jsonl", '{"prompt": "q", "chosen": "a", "rejected": "b", "gold": 1}\n',
             ['line 1, field "gold": expected true or false, got number']),
            ("bad.csv", "prompt,chosen,rejected,gold\nq,a,b,maybe\n", ['line 2, field "gold": expected true or false, got "maybe"']),
        ],
    )  # fmt: skip
    def test_it_refuses_a_gold_value_that_is_not_a_boolean_and_writes_nothing(
        self, project: Project, tmp_path: Path, name: str, text: str, expected: list[str]
    ) -> None:
        assert _problems(project, _write(tmp_path, name, text), "pairs") == expected
        assert Comparison.objects.count() == 0

    def test_prompts_and_responses_have_no_gold_field(self, project: Project, tmp_path: Path) -> None:
        path = _write(tmp_path, "p.jsonl", '{"prompt": "q", "gold": true}\n')
        assert _problems(project, path, "prompts") == [
            'line 1, field "gold": unknown field; allowed: prompt, metadata'
        ]
