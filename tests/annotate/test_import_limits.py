"""Hostile import files: each is refused with its line, field and reason, writes nothing, and is read in bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from annotate.importing.limits import ImportLimits
from annotate.importing.problems import ImportProblem, ImportRejected
from annotate.importing.readers import records_open
from annotate.importing.source import Position, Unreadable
from annotate.models import Comparison, ImportJob, JobStatus, Project, Prompt, Response
from annotate.services import imports
from annotate.services.import_files import import_files_clean
from annotate.services.import_writer import pairs_chosen
from annotate.services.imports import import_file
from tests.annotate.importing.helpers import GOOD, _problems, _write
from tests.factories import make_import_file, make_pair_records

DEEP = "[" * 100_000


NUL_CHOSEN = (
    'line 2, field "chosen": contains a NUL character (\\u0000) at character 2, which cannot be stored'
)


@pytest.mark.django_db
class HostileFileTests:
    @pytest.mark.parametrize(
        ("kind", "name", "text", "expected"),
        [
            ("pairs", "deep.jsonl", GOOD + '{"prompt": ' + DEEP + "\n", ["line 2: invalid JSON: nested too deeply"]),
            ("pairs", "deep.json", "[" + GOOD + ", " + DEEP + "]",
             ["record 2: invalid JSON: nested too deeply (file line 2, column 3)"]),
            ("prompts", "deep.csv", 'prompt,metadata\nq,\n"r","' + DEEP + '"\n',
             ['line 3, field "metadata": expected a JSON object, got JSON nested too deeply']),
            ("prompts", "deep-turns.csv", 'prompt\n"' + DEEP + '"\n',
             ['line 2, field "prompt": the turns\' JSON is nested too deeply']),
            ("prompts", "deep-meta.jsonl", '{"prompt": "q", "metadata": {"a": ' + "[" * 40 + "]" * 40 + "}}\n",
             ['line 1, field "metadata": is nested more than 32 levels deep at metadata.a' + "[0]" * 31
              + " (CONCORD_IMPORT_MAX_JSON_DEPTH)"]),
            ("pairs", "nul.jsonl", GOOD + '{"prompt": "q", "chosen": "a\\u0000b", "rejected": "no"}\n', [NUL_CHOSEN]),
            ("pairs", "nul.csv", "prompt,chosen,rejected\nq,a\x00b,no\n",
             ['line 2, field "chosen": contains a NUL character (\\u0000) at character 2, which cannot be stored']),
            ("pairs", "nul-batch.jsonl", '{"prompt": "q", "chosen": "a", "rejected": "b", "batch": "\\u0000"}\n',
             ['line 1, field "batch": contains a NUL character (\\u0000) at character 1, which cannot be stored']),
            ("prompts", "nul-turn.jsonl", '{"prompt": [{"role": "user", "content": "hi\\u0000"}]}\n',
             ['line 1, field "prompt[0].content": contains a NUL character (\\u0000) at character 3, '
              "which cannot be stored"]),
            ("prompts", "nul-meta.jsonl", '{"prompt": "q", "metadata": {"tags": ["ok", "x\\u0000"]}}\n',
             ['line 1, field "metadata": metadata.tags[1] contains a NUL character (\\u0000) at character 2, '
              "which cannot be stored"]),
            ("prompts", "nul-key.jsonl", '{"prompt": "q", "metadata": {"k\\u0000": 1}}\n',
             ['line 1, field "metadata": a key at metadata contains a NUL character (\\u0000) at character 2, '
              "which cannot be stored"]),
            ("responses", "surrogate.jsonl", '{"prompt": "q", "response": "a\\ud800"}\n',
             ['line 1, field "response": contains a lone surrogate (\\ud800) at character 2, which cannot be stored']),
            # The same, written as raw bytes: json.loads decodes bytes with surrogatepass.
            ("responses", "surrogate-raw.jsonl", b'{"prompt": "q", "response": "a\xed\xa0\x80"}\n',
             ['line 1, field "response": contains a lone surrogate (\\ud800) at character 2, which cannot be stored']),
            ("responses", "surrogate-meta.jsonl", '{"prompt": "q", "response": "r", "metadata": {"m": "\\udfff"}}\n',
             ['line 1, field "metadata": metadata.m contains a lone surrogate (\\udfff) at character 1, '
              "which cannot be stored"]),
            ("prompts", "nan.jsonl", '{"prompt": "q", "metadata": {"score": NaN}}\n',
             ['line 1, field "metadata": metadata.score is nan, which JSON cannot store']),
            ("pairs", "nul-name.jsonl", '{"prompt": "q", "chosen": "a", "rejected": "b", "x\\u0000": 1}\n',
             ['line 1, field "x\\u0000": unknown field; allowed: prompt, chosen, rejected, batch, margin, agreement, '
              "votes, gold"]),
        ],
    )  # fmt: skip
    def test_it_refuses_the_file_with_line_field_and_reason(
        self, project: Project, tmp_path: Path, kind: str, name: str, text: str | bytes, expected: list[str]
    ) -> None:
        assert _problems(project, _write(tmp_path, name, text), kind) == expected

    def test_it_names_the_files_line_not_a_line_inside_a_write_batch(
        self, project: Project, tmp_path: Path
    ) -> None:
        # 2,500 good records, then a NUL: the write phase works in 2,000-record chunks, the check does not.
        lines = [json.dumps({"prompt": f"q{i}", "chosen": "a", "rejected": "b"}) for i in range(2500)]
        lines.append('{"prompt": "q", "chosen": "a\\u0000", "rejected": "b"}')
        path = _write(tmp_path, "late-nul.jsonl", "\n".join(lines) + "\n")
        assert _problems(project, path, "pairs") == [
            'line 2501, field "chosen": contains a NUL character (\\u0000) at character 2, which cannot be stored'
        ]

    def test_it_stores_the_problems_of_a_refused_job_even_when_they_quote_nuls(
        self, project: Project, project_admin: User, settings: Any, tmp_path: Path
    ) -> None:
        # A problem quotes the file (an unknown field's name); the job row keeps it in jsonb.
        settings.MEDIA_ROOT = tmp_path / "media"
        text = '{"prompt": "q", "chosen": "a", "rejected": "b", "x\\u0000\\ud800": 1}\n'
        upload = SimpleUploadedFile("p.jsonl", text.encode())
        job = imports.import_job_create(
            project=project, uploaded_file=upload, kind="pairs", created_by=project_admin
        )
        assert job.status == JobStatus.FAILED
        assert job.errors[0]["field"] == "x\\u0000\\ud800"

    @pytest.mark.parametrize(
        ("name", "text", "expected"),
        [
            ("field.jsonl", json.dumps({"prompt": "q", "chosen": "x" * 600, "rejected": "b"}) + "\n",
             ['line 1, field "chosen": is 600 characters long; the limit is 500 (CONCORD_IMPORT_MAX_FIELD_CHARS)']),
            ("line.jsonl", GOOD + json.dumps({"prompt": "q", "chosen": "x" * 5000, "rejected": "b"}) + "\n" + GOOD,
             ["line 2: the line is 5,046 bytes; the limit is 2,000 (CONCORD_IMPORT_MAX_RECORD_BYTES)"]),
            ("line.json", "[" + GOOD + "," + json.dumps({"prompt": "q", "chosen": "x" * 5000, "rejected": "b"}) + "]",
             ["record 2: the record is 5,046 characters; the limit is 2,000 (CONCORD_IMPORT_MAX_RECORD_BYTES)"]),
            ("line.csv", "prompt,chosen,rejected\nq,a,b\nq," + "x" * 5000 + ",b\n",
             ["line 3: the line is over 2,000 characters; the limit is 2,000 (CONCORD_IMPORT_MAX_RECORD_BYTES)"]),
            ("cell.csv", 'prompt,chosen,rejected\nq,a,b\nq,"' + "x\n" * 3000 + '",b\n',
             ["line 3: a cell is over 2,000 characters; the limit is 2,000 (CONCORD_IMPORT_MAX_RECORD_BYTES)"]),
            ("row.csv", "prompt,chosen,rejected\nq,a,b\n" + '"' + "p\n" * 400 + '","' + "c\n" * 400 + '","'
             + "r\n" * 400 + '"\n',
             ["line 3: the row is 2,400 characters; the limit is 2,000 (CONCORD_IMPORT_MAX_RECORD_BYTES)"]),
        ],
    )  # fmt: skip
    def test_it_refuses_a_field_or_record_over_the_limit(
        self, project: Project, tmp_path: Path, settings: Any, name: str, text: str, expected: list[str]
    ) -> None:
        settings.CONCORD_IMPORT_MAX_FIELD_CHARS = 500
        settings.CONCORD_IMPORT_MAX_RECORD_BYTES = 2000
        assert _problems(project, _write(tmp_path, name, text), "pairs") == expected

    def test_it_keeps_reading_after_a_long_jsonl_line(
        self, project: Project, tmp_path: Path, settings: Any
    ) -> None:
        settings.CONCORD_IMPORT_MAX_RECORD_BYTES = 100
        long = json.dumps({"prompt": "q", "chosen": "x" * 500, "rejected": "b"})
        path = _write(tmp_path, "a.jsonl", long + "\n" + GOOD + '{"prompt": 1}\n')
        assert _problems(project, path, "pairs") == [
            "line 1: the line is 546 bytes; the limit is 100 (CONCORD_IMPORT_MAX_RECORD_BYTES)",
            'line 3, field "chosen": missing required field',
            'line 3, field "rejected": missing required field',
            'line 3, field "prompt": expected a string or a list of {role, content} turns, got number',
        ]

    def test_it_refuses_parquet_by_its_uncompressed_size_before_reading(
        self, project: Project, tmp_path: Path, settings: Any
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        settings.CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES = 1_000_000
        path = tmp_path / "bomb.parquet"
        rows = [{"prompt": f"q{i}", "chosen": "x" * 20_000, "rejected": "b"} for i in range(100)]
        pq.write_table(pa.Table.from_pylist(rows), path, compression="zstd", use_dictionary=False)
        assert path.stat().st_size < 100_000
        (problem,) = _problems(project, path, "pairs")
        assert problem.startswith("the file's data is 2,0") and problem.endswith(
            "bytes uncompressed; the limit is 1,000,000 bytes (CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES)"
        )

    def test_it_refuses_a_dictionary_encoded_parquet_bomb_while_reading(
        self, project: Project, tmp_path: Path, settings: Any
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # One distinct 1 MB value, 2,000 times: under a kilobyte on disk and in the metadata, 2 GB decoded.
        settings.CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES = 50_000_000
        path = tmp_path / "dict-bomb.parquet"
        big = "x" * 1_000_000
        table = pa.table({"prompt": ["q"] * 2000, "chosen": pa.array([big] * 2000).dictionary_encode(),
                          "rejected": ["b"] * 2000})  # fmt: skip
        pq.write_table(table, path, compression="zstd")
        assert path.stat().st_size < 10_000
        assert _problems(project, path, "pairs") == [
            "record 1: the file's data decodes to more than 50,000,000 bytes (CONCORD_IMPORT_MAX_UNCOMPRESSED_BYTES)"
        ]

    def test_it_refuses_a_parquet_row_over_the_record_limit_without_decoding_it(
        self, project: Project, tmp_path: Path, settings: Any
    ) -> None:
        settings.CONCORD_IMPORT_MAX_RECORD_BYTES = 10_000
        rows = [*make_pair_records(2), {"prompt": "q", "chosen": "x" * 20_000, "rejected": "b"}]
        path = make_import_file(tmp_path, rows, fmt="parquet")
        assert _problems(project, path, "pairs") == [
            "record 3: the record is 20,002 bytes decoded; the limit is 10,000 (CONCORD_IMPORT_MAX_RECORD_BYTES)"
        ]

    def test_it_imports_turns_and_metadata_from_parquet_read_in_small_batches(
        self, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from annotate.importing import parquet_reader

        monkeypatch.setattr(parquet_reader.ParquetSource, "BATCH_BYTES", 200)  # a few rows per Python batch
        rows = [
            {"prompt": [{"role": "user", "content": f"turn {i}"}], "response": f"r{i}", "model_version": "v1"}
            for i in range(30)
        ]
        path = make_import_file(tmp_path, rows, fmt="parquet")
        result = import_file(project=project, path=path, kind="responses")
        assert (result.records, result.prompts, result.responses) == (30, 30, 30)
        assert Prompt.objects.filter(content=[{"role": "user", "content": "turn 29"}]).exists()


class BoundedReaderTests:
    """The readers hold about the record limit of a long line, not the line."""

    def _peak(self, path: Path, fmt: str) -> tuple[list[tuple[Position, Any]], int]:
        tracemalloc.start()
        try:
            got = list(records_open(path=path, fmt=fmt, limits=ImportLimits(max_record_bytes=64 * 1024)))
            return got, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def test_it_skips_a_30_mb_jsonl_line_holding_a_tenth_of_it_at_most(self, tmp_path: Path) -> None:
        path = tmp_path / "long.jsonl"
        with path.open("w") as handle:
            handle.write('{"prompt": "' + "x" * 30_000_000 + '"}\n{"prompt": "next"}\n')
        got, peak = self._peak(path, "jsonl")
        assert got[0] == (
            Position(line=1),
            Unreadable("the line is 30,000,014 bytes; the limit is 65,536 (CONCORD_IMPORT_MAX_RECORD_BYTES)"),
        )
        assert got[1] == (Position(line=2), {"prompt": "next"})
        assert peak < 3_000_000, peak

    def test_it_stops_at_a_30_mb_csv_line_holding_a_tenth_of_it_at_most(self, tmp_path: Path) -> None:
        path = tmp_path / "long.csv"
        path.write_text("prompt\nq\n" + "x" * 30_000_000 + "\n")
        got, peak = self._peak(path, "csv")
        assert got[-1][0] == Position(line=3) and isinstance(got[-1][1], Unreadable) and got[-1][1].fatal
        assert peak < 3_000_000, peak

    def test_it_stops_at_a_30_mb_json_element_holding_a_tenth_of_it_at_most(self, tmp_path: Path) -> None:
        path = tmp_path / "long.json"
        path.write_text('[{"prompt": "q"}, {"prompt": "' + "x" * 30_000_000 + '"}]')
        got, peak = self._peak(path, "json")
        assert got[0] == (Position(record=1), {"prompt": "q"})
        assert got[1][0] == Position(record=2) and isinstance(got[1][1], Unreadable) and got[1][1].fatal
        assert peak < 3_000_000, peak


class ImportProblemLimitTests:
    def test_it_cuts_and_escapes_what_it_quotes_from_the_file(self) -> None:
        problem = ImportProblem(1, None, "a\x00" + "b" * 500, "got " + "\ud800" * 2000)
        assert problem.field is not None and len(problem.field) == 120 and "\x00" not in problem.field
        assert problem.field.startswith("a\\u0000b")
        assert len(problem.message) == 600 and "\ud800" not in problem.message
        json.dumps(problem.as_dict(), ensure_ascii=False).encode("utf-8")  # storable and printable


class PairsChosenTests:
    def test_it_compares_every_response_with_half_as_many_pairs(self) -> None:
        ids = list(range(100, 107))  # seven responses
        pairs = list(pairs_chosen(ids, set(), 4))
        assert len(pairs) == 4
        assert {r for pair in pairs for r in pair} == set(ids)

    def test_it_gives_every_pair_once_when_the_budget_allows(self) -> None:
        ids = list(range(10))
        pairs = list(pairs_chosen(ids, {frozenset((0, 1))}, 10_000))
        assert len(pairs) == 45 - 1 and len({frozenset(p) for p in pairs}) == 44
        assert frozenset((0, 1)) not in {frozenset(p) for p in pairs}


@pytest.mark.django_db
class ResponsesPairCapTests:
    def test_it_caps_2000_responses_to_one_prompt_and_says_so(self, project: Project, tmp_path: Path) -> None:
        rows = [{"prompt": "one prompt", "response": f"answer {i}"} for i in range(2000)]
        result = import_file(project=project, path=make_import_file(tmp_path, rows), kind="responses")
        cap = django_settings.CONCORD_IMPORT_MAX_PAIRS_PER_PROMPT
        assert (result.responses, result.comparisons) == (2000, cap)
        assert result.pairs_not_created == 2000 * 1999 // 2 - cap
        assert Comparison.objects.count() == cap
        compared = set(Comparison.objects.values_list("response_a_id", flat=True)) | set(
            Comparison.objects.values_list("response_b_id", flat=True)
        )
        assert compared == set(Response.objects.values_list("id", flat=True)), "every response is compared"
        assert result.warnings == (
            f"{result.pairs_not_created:,} pairs of responses were not made into comparisons: 1 prompts have more "
            f"pairs than the limit of {cap:,} per prompt (CONCORD_IMPORT_MAX_PAIRS_PER_PROMPT); pairs were chosen "
            "so that every response is compared",
        )
        assert result.as_counts()["pairs_not_created"] == result.pairs_not_created

    def test_it_compares_new_responses_of_a_capped_prompt_first(
        self, project: Project, tmp_path: Path, settings: Any
    ) -> None:
        settings.CONCORD_IMPORT_MAX_PAIRS_PER_PROMPT = 6
        first = [{"prompt": "p", "response": f"a{i}"} for i in range(6)]
        assert (
            import_file(project=project, path=make_import_file(tmp_path, first), kind="responses").comparisons
            == 6
        )
        # At the cap, the new responses are still compared: once each, with each other first.
        later = [{"prompt": "p", "response": f"b{i}"} for i in range(3)]
        result = import_file(project=project, path=make_import_file(tmp_path, later), kind="responses")
        assert result.comparisons == 2 and Comparison.objects.count() == 8
        new = set(Response.objects.filter(text__startswith="b").values_list("id", flat=True))
        compared = set(Comparison.objects.values_list("response_a_id", flat=True)) | set(
            Comparison.objects.values_list("response_b_id", flat=True)
        )
        assert new <= compared
        assert result.pairs_not_created == 9 * 8 // 2 - 8

    def test_it_makes_every_pair_below_the_cap_with_no_warning(
        self, project: Project, tmp_path: Path
    ) -> None:
        rows = [{"prompt": "p", "response": f"r{i}"} for i in range(5)]
        result = import_file(project=project, path=make_import_file(tmp_path, rows), kind="responses")
        assert (result.comparisons, result.pairs_not_created, result.warnings) == (10, 0, ())


@pytest.mark.django_db
class RecordEstimateTests:
    def test_it_sends_a_file_big_in_bytes_to_a_worker_however_few_its_records(
        self, tmp_path: Path, settings: Any
    ) -> None:
        settings.CONCORD_IMPORT_INLINE_MAX_RECORDS = 100
        settings.CONCORD_IMPORT_INLINE_MAX_BYTES = 10_000
        small = make_import_file(tmp_path, make_pair_records(3))
        big = make_import_file(tmp_path, [{"prompt": "q", "chosen": "x" * 20_000, "rejected": "b"}])
        assert imports._record_estimate(small, "jsonl") == 3
        assert imports._record_estimate(big, "jsonl") == 101

    def test_it_counts_parquet_by_its_uncompressed_bytes(self, tmp_path: Path, settings: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        settings.CONCORD_IMPORT_INLINE_MAX_RECORDS = 100
        settings.CONCORD_IMPORT_INLINE_MAX_BYTES = 100_000
        path = tmp_path / "b.parquet"
        table = pa.table({"prompt": ["q"] * 5, "chosen": ["x" * 100_000] * 5, "rejected": ["b"] * 5})
        pq.write_table(table, path, compression="zstd", use_dictionary=False)
        assert path.stat().st_size < 20_000
        assert imports._record_estimate(path, "parquet") == 101

    def test_it_counts_a_dictionary_encoded_parquet_by_its_decoded_bytes(
        self, tmp_path: Path, settings: Any
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        settings.CONCORD_IMPORT_INLINE_MAX_RECORDS = 100
        settings.CONCORD_IMPORT_INLINE_MAX_BYTES = 100_000
        path = tmp_path / "d.parquet"
        chosen = pa.DictionaryArray.from_arrays(pa.array([0] * 50, pa.int32()), pa.array(["x" * 10_000]))
        pq.write_table(pa.table({"prompt": ["q"] * 50, "chosen": chosen, "rejected": ["b"] * 50}), path)
        assert imports._record_estimate(path, "parquet") == 101, "500 KB decoded: a worker's job"
        small = make_import_file(tmp_path, make_pair_records(5), fmt="parquet")
        assert imports._record_estimate(small, "parquet") == 5


def _job(
    project: Project, name: str, status: str, age: timedelta, media: Path, body: bytes = b"x"
) -> ImportJob:
    (media / name).parent.mkdir(parents=True, exist_ok=True)
    (media / name).write_bytes(body)
    now = timezone.now()
    job = ImportJob.objects.create(project=project, kind="pairs", format="jsonl", file=name, status=status)
    finished = now - age if status in (JobStatus.SUCCEEDED, JobStatus.FAILED) else None
    ImportJob.objects.filter(pk=job.pk).update(created_at=now - age, finished_at=finished)
    return job


@pytest.mark.django_db
class ImportFilesCleanTests:
    def test_it_deletes_old_uploads_of_finished_imports_only(
        self, project: Project, settings: Any, tmp_path: Path
    ) -> None:
        media = tmp_path / "media"
        settings.MEDIA_ROOT = media
        settings.CONCORD_IMPORT_FILE_RETENTION_HOURS = 24
        old, new = timedelta(hours=30), timedelta(hours=2)
        done = _job(project, "imports/2026/01/done.jsonl", JobStatus.SUCCEEDED, old, media)
        refused = _job(project, "imports/2026/01/refused.jsonl", JobStatus.FAILED, old, media)
        recent = _job(project, "imports/2026/01/recent.jsonl", JobStatus.SUCCEEDED, new, media)
        queued = _job(project, "imports/2026/01/queued.jsonl", JobStatus.QUEUED, old, media)
        running = _job(project, "imports/2026/01/running.jsonl", JobStatus.RUNNING, old, media)
        orphan_old = media / "imports/2025/12/orphan.jsonl"
        orphan_old.parent.mkdir(parents=True)
        orphan_old.write_bytes(b"y")
        stamp = time.time() - 30 * 3600
        os.utime(orphan_old, (stamp, stamp))
        orphan_new = media / "imports/2026/01/just-uploaded.jsonl"
        orphan_new.write_bytes(b"z")

        assert import_files_clean() == 3
        left = sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file())
        assert left == [
            "imports/2026/01/just-uploaded.jsonl",
            "imports/2026/01/queued.jsonl",
            "imports/2026/01/recent.jsonl",
            "imports/2026/01/running.jsonl",
        ]
        assert not (media / "imports/2025").exists(), "emptied folders go too"
        files = dict(ImportJob.objects.values_list("pk", "file"))
        assert files[done.pk] == "" and files[refused.pk] == ""
        assert files[recent.pk] and files[queued.pk] and files[running.pk]
        assert ImportJob.objects.count() == 5, "the rows, with their counts and problems, stay"
        assert import_files_clean() == 0

    def test_the_periodic_task_runs_it_and_is_scheduled(
        self, project: Project, settings: Any, tmp_path: Path
    ) -> None:
        from annotate.tasks.cleanup import import_files_clean_task

        media = tmp_path / "media"
        settings.MEDIA_ROOT = media
        _job(project, "imports/a.jsonl", JobStatus.FAILED, timedelta(days=30), media)
        assert import_files_clean_task.run() == 1
        assert not (media / "imports/a.jsonl").exists()
        entries = [
            e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == import_files_clean_task.name
        ]
        assert len(entries) == 1


@pytest.mark.django_db
class ImportDataHostileTests:
    def test_it_names_the_problem_of_a_deeply_nested_file_without_a_traceback(
        self, project: Project, tmp_path: Path
    ) -> None:
        path = _write(tmp_path, "deep.jsonl", DEEP + "\n")
        err = StringIO()
        with pytest.raises(
            CommandError, match="line 1: invalid JSON: nested too deeply; nothing was imported"
        ):
            call_command(
                "import_data", project.slug, str(path), "--kind", "pairs", stdout=StringIO(), stderr=err
            )
        assert Prompt.objects.count() == 0

    def test_it_refuses_a_batch_label_it_could_not_store(self, project: Project, tmp_path: Path) -> None:
        path = _write(tmp_path, "ok.jsonl", GOOD)
        with pytest.raises(
            CommandError, match='field "batch": the import\'s batch is longer than 100 characters'
        ):
            call_command("import_data", project.slug, str(path), "--kind", "pairs", "--batch", "b" * 101)
        with pytest.raises(ImportRejected) as caught:
            import_file(project=project, path=path, kind="pairs", batch="r\x00")
        assert str(caught.value.problems[0]) == (
            'field "batch": the import\'s batch contains a NUL character (\\u0000) at character 2, '
            "which cannot be stored"
        )
        assert Prompt.objects.count() == 0

    def test_it_says_a_directory_is_not_a_file(self, project: Project, tmp_path: Path) -> None:
        folder = tmp_path / "x.jsonl"
        folder.mkdir()
        with pytest.raises(CommandError, match="cannot read the file: it is not a file"):
            call_command("import_data", project.slug, str(folder), "--kind", "pairs", stdout=StringIO())

    def test_it_prints_warnings_for_capped_pairs(
        self, project: Project, tmp_path: Path, settings: Any
    ) -> None:
        settings.CONCORD_IMPORT_MAX_PAIRS_PER_PROMPT = 2
        rows = [{"prompt": "p", "response": f"r{i}"} for i in range(4)]
        err = StringIO()
        call_command(
            "import_data", project.slug, str(make_import_file(tmp_path, rows)), "--kind", "responses",
            stdout=StringIO(), stderr=err,
        )  # fmt: skip
        assert "warning: 4 pairs of responses were not made into comparisons" in err.getvalue()


@pytest.mark.django_db(transaction=True)
class ImportDataProcessTests:
    def test_manage_py_prints_the_named_error_and_no_traceback(
        self, project: Project, tmp_path: Path
    ) -> None:
        if connection.vendor != "postgresql":
            pytest.skip("the subprocess reaches the test database through DATABASE_URL (PostgreSQL)")
        from tests.worker import _database_url

        path = _write(
            tmp_path, "hostile.jsonl", GOOD + '{"prompt": "q", "chosen": "a\\u0000", "rejected": "b"}\n'
        )
        env = {**os.environ, "DATABASE_URL": _database_url(connection.settings_dict), "DEBUG": "1"}
        done = subprocess.run(
            [sys.executable, "manage.py", "import_data", project.slug, str(path), "--kind", "pairs", "-v", "0"],
            cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert 'line 2, field "chosen": contains a NUL character (\\u0000) at character 2' in done.stderr
        assert "CommandError: " in done.stderr and "nothing was imported" in done.stderr
        assert Prompt.objects.count() == 0
