from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotate.importing.kinds import RecordInvalid
from annotate.importing.problems import ImportRejected
from annotate.importing.records import record_parse
from annotate.models import Comparison, ComparisonStatus, Judgment, Project, Prompt, Response
from annotate.services.imports import import_file
from tests.annotate.importing.helpers import HH_CHOSEN, HH_REJECTED, _problems, _rows, _write
from tests.factories import make_comparison, make_import_file, make_pair_records


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
