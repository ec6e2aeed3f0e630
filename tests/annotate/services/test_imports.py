from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from annotate.importing.problems import ImportRejected
from annotate.models import Choice, Comparison, ComparisonStatus, Judgment, Project, Prompt, Response
from annotate.selectors.quality import ResponseVerdicts, imported_response_verdicts
from annotate.services import import_writer, imports
from annotate.services.imports import import_file
from tests.annotate.importing.helpers import GOOD, HH_CHOSEN, HH_REJECTED, _problems, _rows, _write
from tests.factories import make_comparison, make_import_file, make_pair_records


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
        # The file's model label is kept as metadata; Response.model_version is only ever a version of ours.
        new = Response.objects.get(text="new")
        assert (new.model_version, new.metadata["model_version"]) == (None, "m1")

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


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.django_db
class UnpairedImportTests:
    """The unpaired kind: prompts and responses with an imported desirable/undesirable verdict, no comparisons."""

    ROWS = [
        {"prompt": "\n\nHuman: Name a prime.\n\nAssistant:", "completion": " 7", "label": True},
        {"prompt": "\n\nHuman: Name a prime.\n\nAssistant:", "completion": " 9", "label": False},
        {"prompt": "Say hi.", "completion": "Hi!", "label": True},
    ]

    @pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
    def test_it_stores_each_response_with_its_verdict_and_makes_no_comparison(
        self, project: Project, tmp_path: Path, fmt: str
    ) -> None:
        result = import_file(project=project, path=make_import_file(tmp_path, self.ROWS, fmt=fmt), kind="unpaired")
        assert (result.records, result.prompts, result.responses, result.comparisons, result.judgments) == (
            3, 2, 3, 0, 0
        )  # fmt: skip
        labels = dict(Response.objects.values_list("text", "metadata"))
        assert labels == {
            "7": {"imported_label": True}, "9": {"imported_label": False}, "Hi!": {"imported_label": True}
        }  # fmt: skip
        # The TRL standard prompt is the same prompt as its one user turn.
        assert Prompt.objects.get(responses__text="7").turns == [{"role": "user", "content": "Name a prime."}]
        assert Comparison.objects.count() == 0

    def test_it_reports_duplicates_on_a_second_import_and_keeps_the_first_verdict(
        self, project: Project, tmp_path: Path
    ) -> None:
        import_file(project=project, path=make_import_file(tmp_path, self.ROWS), kind="unpaired")
        before = _rows()
        flipped = [{**row, "label": not row["label"]} for row in self.ROWS]
        again = import_file(project=project, path=make_import_file(tmp_path, flipped), kind="unpaired")
        assert (again.prompts, again.responses, again.duplicates) == (0, 0, 3)
        assert _rows() == before
        assert Response.objects.get(text="7").metadata == {"imported_label": True}

    def test_it_rejects_the_whole_file_naming_line_and_field(self, project: Project, tmp_path: Path) -> None:
        text = json.dumps(self.ROWS[0]) + "\n" + '{"prompt": "q", "completion": "x", "label": "yes"}\n'
        assert _problems(project, _write(tmp_path, "bad.jsonl", text), "unpaired") == [
            'line 2, field "label": expected true or false, got string'
        ]
        csv = "prompt,completion,label\nq,x,true\nq,y,maybe\n"
        assert _problems(project, _write(tmp_path, "bad.csv", csv), "unpaired") == [
            'line 3, field "label": expected true or false, got "maybe"'
        ]

    def test_the_quality_page_counts_imported_verdicts_apart_from_annotators(
        self, project: Project, tmp_path: Path
    ) -> None:
        from annotate.selectors.pages import quality_page

        assert imported_response_verdicts(project=project) is None
        import_file(project=project, path=make_import_file(tmp_path, self.ROWS), kind="unpaired")
        assert imported_response_verdicts(project=project) == ResponseVerdicts(desirable=2, undesirable=1)
        page = quality_page(project=project)
        assert page["response_verdicts"] == ResponseVerdicts(desirable=2, undesirable=1)
        assert page["annotators"] == []  # no annotator, no vote


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
