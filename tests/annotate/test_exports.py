from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.db import connection

from annotate.formats.sqljson import sql_json_number
from annotate.models import ExportJob, JobStatus, Project, Snapshot
from annotate.selectors_quality import SnapshotFilters
from annotate.services import export_files
from annotate.services import exports as export_services
from annotate.services.export_files import export_write
from annotate.services.exports import export_job_create, export_job_run
from annotate.services.snapshots import snapshot_create
from tests.factories import add_member, make_comparison, make_judgment, make_project, make_user

pytestmark = pytest.mark.django_db

LENIENT = SnapshotFilters(min_votes=1, min_agreement=0.0, drop_flagged=False)
CHAT = [
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Name a colour."},
]


@pytest.fixture
def snapshot(project: Project) -> Snapshot:
    users = [make_user() for _ in range(2)]
    for user in users:
        add_member(project, user)
    chat = make_comparison(project, prompt=CHAT, a="Blue.", b="I’d rather not — ünïcode")
    single = make_comparison(project, prompt="What is 2+2?", a="5", b="4")
    make_judgment(chat, users[0], "a", strength="significantly")
    make_judgment(chat, users[1], "a", strength="slightly")
    make_judgment(single, users[0], "b", strength="better")
    make_judgment(single, users[1], "a", strength="better")
    make_judgment(single, None, "b")
    return snapshot_create(project=project, filters=LENIENT)


HH_CHAT = "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Name a colour.\n\nAssistant: "
HH_SINGLE = "\n\nHuman: What is 2+2?\n\nAssistant: "


def _jsonl(path: Path) -> list[dict[str, object]]:
    # Lines end at "\n" only: str.splitlines would also split inside a JSON string at U+2028.
    return [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]


class ExportWriteTests:
    def test_it_writes_hh_transcripts_as_jsonl(self, snapshot: Snapshot, tmp_path: Path) -> None:
        out = tmp_path / "hh.jsonl"
        assert export_write(snapshot=snapshot, fmt="jsonl", schema="hh", path=out) == 2
        rows = _jsonl(out)
        assert rows[0] == {"chosen": HH_CHAT + "Blue.", "rejected": HH_CHAT + "I’d rather not — ünïcode",
                           "margin": 2.0, "agreement": 1.0, "votes": 2}
        assert rows[1]["chosen"] == HH_SINGLE + "4" and rows[1]["rejected"] == HH_SINGLE + "5"
        # The imported vote counts; it has no strength, so only the annotator's "better" sets the margin.
        assert (rows[1]["votes"], rows[1]["agreement"], rows[1]["margin"]) == (3, pytest.approx(2 / 3), 2.0)

    def test_it_writes_trl_standard_with_an_explicit_prompt(self, snapshot: Snapshot, tmp_path: Path) -> None:
        out = tmp_path / "std.jsonl"
        export_write(snapshot=snapshot, fmt="jsonl", schema="trl_standard", path=out)
        row = _jsonl(out)[0]
        assert row["prompt"] == HH_CHAT.rstrip(" ")
        assert (row["chosen"], row["rejected"]) == (" Blue.", " I’d rather not — ünïcode")
        assert row["prompt"] + row["chosen"] == HH_CHAT + "Blue."  # type: ignore[operator]

    def test_it_writes_trl_conversational_as_parquet(self, snapshot: Snapshot, tmp_path: Path) -> None:
        out = tmp_path / "conv.parquet"
        export_write(snapshot=snapshot, fmt="parquet", schema="trl_conversational", path=out, chunk_size=1)
        table = pq.read_table(out)
        assert pq.ParquetFile(out).metadata.num_row_groups == 2  # one row group per streamed slice
        assert table.column_names == ["prompt", "chosen", "rejected", "margin", "agreement", "votes"]
        first = table.to_pylist()[0]
        assert first["prompt"] == CHAT
        assert first["chosen"] == [{"role": "assistant", "content": "Blue."}]
        assert first["rejected"] == [{"role": "assistant", "content": "I’d rather not — ünïcode"}]
        assert (first["margin"], first["votes"]) == (2.0, 2)

    def test_it_writes_a_folder_that_datasets_loads(self, snapshot: Snapshot, tmp_path: Path) -> None:
        import datasets

        out = tmp_path / "ds"
        export_write(snapshot=snapshot, fmt="hf_dataset", schema="hh", path=out)
        loaded = datasets.load_from_disk(str(out))
        assert loaded.num_rows == 2
        assert loaded[0]["chosen"] == HH_CHAT + "Blue."
        assert set(loaded.column_names) == {"chosen", "rejected", "margin", "agreement", "votes"}
        assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no temporary folder left behind

    def test_it_writes_null_margins_for_pairs_without_strength(self, project: Project, tmp_path: Path) -> None:
        make_judgment(make_comparison(project), None, "a", seconds=None)
        snapshot = snapshot_create(project=project, filters=LENIENT)
        out = tmp_path / "hh.parquet"
        export_write(snapshot=snapshot, fmt="parquet", schema="hh", path=out)
        assert pq.read_table(out).column("margin").to_pylist() == [None]

    def test_it_reports_progress_per_slice(self, snapshot: Snapshot, tmp_path: Path) -> None:
        seen: list[tuple[int, int]] = []
        export_write(snapshot=snapshot, fmt="jsonl", schema="hh", path=tmp_path / "x.jsonl", chunk_size=1,
                     progress=lambda done, total: seen.append((done, total)))
        assert seen == [(1, 2), (2, 2)]

    @pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
    def test_it_never_leaves_a_partial_file_at_the_final_path(self, snapshot: Snapshot, tmp_path: Path, fmt: str) -> None:
        out = tmp_path / f"hh.{fmt}"
        out.write_text("previous complete export\n")

        def fail_after_first_slice(done: int, total: int) -> None:
            if done == 1:
                raise RuntimeError("disk on fire")

        with pytest.raises(RuntimeError):
            export_write(snapshot=snapshot, fmt=fmt, schema="hh", path=out, chunk_size=1, progress=fail_after_first_slice)
        assert out.read_text() == "previous complete export\n"
        assert [p.name for p in tmp_path.iterdir()] == [out.name]

    def test_it_rejects_unknown_formats_and_schemas(self, snapshot: Snapshot, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            export_write(snapshot=snapshot, fmt="csv", schema="hh", path=tmp_path / "x")
        with pytest.raises(ValueError):
            export_write(snapshot=snapshot, fmt="jsonl", schema="alpaca", path=tmp_path / "x")


def _pairs(snapshot: Snapshot) -> list[str]:
    return sorted(json.dumps(row) for row in snapshot.pairs.values_list("prompt", "chosen", "rejected"))


def _processed_seen_by_another_connection(job_id: int) -> int:
    def read() -> int:
        try:
            return ExportJob.objects.get(pk=job_id).processed
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read).result()


class ExportProgressTests:
    pytestmark = pytest.mark.django_db(transaction=True)

    @pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
    def test_it_commits_progress_between_slices(self, tmp_path: Path, fmt: str) -> None:
        project = make_project()
        for _ in range(3):
            make_judgment(make_comparison(project), None, "a", seconds=None)
        snapshot = snapshot_create(project=project, filters=LENIENT)
        job = ExportJob.objects.create(snapshot=snapshot, format=fmt, schema="hh", total=3)
        seen: list[int] = []

        def report(done: int, total: int) -> None:
            # What export_job_run's progress does, on the connection the export streams on.
            ExportJob.objects.filter(pk=job.pk).update(processed=done, total=total)
            seen.append(_processed_seen_by_another_connection(job.pk))

        export_write(snapshot=snapshot, fmt=fmt, schema="hh", path=tmp_path / f"x.{fmt}", chunk_size=1, progress=report)
        assert seen == [1, 2, 3]


class ExportRoundTripTests:
    def test_it_imports_an_exported_hh_file_back_to_the_same_pairs(self, snapshot: Snapshot, tmp_path: Path) -> None:
        imports = pytest.importorskip("annotate.services.imports")
        out = tmp_path / "hh.jsonl"
        export_write(snapshot=snapshot, fmt="jsonl", schema="hh", path=out)
        target = Project.objects.create(name="Round trip", slug="round-trip")
        # The file as exported, margin/agreement/votes columns included: the importer must accept them.
        imports.import_file(project=target, path=out, kind="hh", fmt="jsonl")
        again = snapshot_create(project=target, filters=LENIENT)
        assert _pairs(again) == _pairs(snapshot)

    def test_it_imports_the_hh_transcripts_back_to_the_same_pairs(self, snapshot: Snapshot, tmp_path: Path) -> None:
        imports = pytest.importorskip("annotate.services.imports")
        out = tmp_path / "hh.jsonl"
        export_write(snapshot=snapshot, fmt="jsonl", schema="hh", path=out)
        bare = tmp_path / "bare.jsonl"
        bare.write_text("".join(json.dumps({"chosen": r["chosen"], "rejected": r["rejected"]}) + "\n" for r in _jsonl(out)))
        target = Project.objects.create(name="Round trip", slug="round-trip")
        imports.import_file(project=target, path=bare, kind="hh", fmt="jsonl")
        again = snapshot_create(project=target, filters=LENIENT)
        assert _pairs(again) == _pairs(snapshot)


class ExportJobTests:
    def test_it_runs_a_queued_job_to_a_file_and_records_progress(
        self, snapshot: Snapshot, settings: object, tmp_path: Path, django_capture_on_commit_callbacks: object
    ) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        queued = export_job_create(snapshot=snapshot, fmt="parquet", schema="trl_standard")
        assert (queued.status, queued.total) == (JobStatus.QUEUED, 2)
        job = export_job_run(job_id=queued.pk)
        assert job is not None and job.status == JobStatus.SUCCEEDED
        assert (job.processed, job.percent) == (2, 100)
        assert Path(job.path).parent == tmp_path / "exports" / "demo"
        assert pq.read_table(job.path).num_rows == 2

    def test_it_runs_a_job_only_once(self, snapshot: Snapshot, settings: object, tmp_path: Path) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        job = ExportJob.objects.create(snapshot=snapshot, format="jsonl", schema="hh", total=2)
        assert export_job_run(job_id=job.pk) is not None
        assert export_job_run(job_id=job.pk) is None

    def test_it_records_a_failure_on_the_row(
        self, snapshot: Snapshot, settings: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]

        def broken(**kwargs: object) -> int:
            raise OSError("no space left on device")

        monkeypatch.setattr(export_services, "export_write", broken)
        job = ExportJob.objects.create(snapshot=snapshot, format="jsonl", schema="hh", total=2)
        job = export_job_run(job_id=job.pk)  # type: ignore[assignment]
        assert job.status == JobStatus.FAILED and "no space left" in job.error_message
        assert job.path == ""

    def test_it_zips_a_datasets_folder_for_download(self, snapshot: Snapshot, settings: object, tmp_path: Path) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        job = ExportJob.objects.create(snapshot=snapshot, format="hf_dataset", schema="hh", total=2)
        job = export_job_run(job_id=job.pk)  # type: ignore[assignment]
        assert job.status == JobStatus.SUCCEEDED, job.error_message
        assert Path(job.path).is_dir()
        download = export_services.export_download_path(job)
        assert download is not None and download.name.endswith(".zip")

    def test_it_enqueues_the_task_only_after_commit(
        self, snapshot: Snapshot, django_capture_on_commit_callbacks: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from annotate.tasks import exports as export_tasks

        sent: list[int] = []
        monkeypatch.setattr(export_tasks.export_job_run_task, "delay", lambda job_id: sent.append(job_id))
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            job = export_job_create(snapshot=snapshot, fmt="jsonl", schema="hh")
            assert sent == []
        assert sent == [job.pk]


class ExportTaskWorkerTests:
    pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]

    def test_a_real_worker_runs_the_export(self, request: pytest.FixtureRequest, settings: object, tmp_path: Path) -> None:
        worker = pytest.importorskip("tests.worker")
        if not hasattr(worker, "celery_worker_process"):
            pytest.skip("tests/worker.py has no celery_worker_process fixture yet")
        request.getfixturevalue("celery_worker_process")
        import time

        project = Project.objects.create(name="Worker", slug="worker")
        make_judgment(make_comparison(project), User.objects.create_user("w1"), "a")
        snapshot = snapshot_create(project=project, filters=LENIENT)
        job = export_job_create(snapshot=snapshot, fmt="jsonl", schema="hh")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.2)
        assert job.status == JobStatus.SUCCEEDED, job.error_message
        assert Path(job.path).is_file()


AWKWARD_TEXTS = [
    'She said "hi" \\ then left\\',  # quotes, backslashes, a trailing backslash
    "tab\there\r\nCRLF\nnewline\x01\x08\x0c\x1e\x1f\x7f end",  # controls, incl. COPY's delimiter and quote bytes
    "emoji 😀🎉 ünïcode — \u2028 \u2029 \ufeff 𝔘 中文",
    "\\.",  # COPY's end-of-data marker on its own
    '{"json": "inside", "n": [1, 2.0]}',
    " ",
]


def _awkward_snapshot(project: Project) -> Snapshot:
    """Pairs whose prompts and responses hold everything JSON has to escape, with null, whole and fractional stats."""
    users = [make_user() for _ in range(3)]
    for user in users:
        add_member(project, user)
    multi_turn = [
        {"role": "system", "content": "Be brief.\tNo \"quotes\"."},
        {"role": "Human", "content": "Hi\nthere \\ \"q\" 😀"},
        {"role": "GPT", "content": "Hello!\x02"},
        {"role": "tool_Output", "content": "{\"k\": \"v\\\\\"}"},
        {"role": "user", "content": "\r\n\u2028"},
    ]
    for n, text in enumerate(AWKWARD_TEXTS):
        prompt = multi_turn if n % 2 else f"Prompt {n}: {text}"
        comparison = make_comparison(project, prompt=prompt, a=f"{text} (a{n})", b=f"(b{n}) {text}")
        if n % 3 == 0:
            make_judgment(comparison, None, "a", seconds=None)  # imported only: null margin
        elif n % 3 == 1:
            make_judgment(comparison, users[0], "b", strength="significantly")
            make_judgment(comparison, users[1], "b", strength="significantly")
            make_judgment(comparison, users[2], "b", strength="better")  # margin 2.6666666666666665
        else:
            make_judgment(comparison, users[0], "a", strength="negligibly")  # margin 0.0
            make_judgment(comparison, users[1], "a")
            make_judgment(comparison, users[2], "b", strength="slightly")  # agreement 0.6666666666666666
    return snapshot_create(project=project, filters=LENIENT)


class ExportPathsAgreeTests:
    @pytest.mark.parametrize("schema", ["hh", "trl_standard", "trl_conversational"])
    def test_the_postgresql_path_writes_what_the_portable_path_writes(
        self, snapshot: Snapshot, tmp_path: Path, schema: str
    ) -> None:
        portable, fast = tmp_path / "portable.jsonl", tmp_path / "fast.jsonl"
        export_files._write_jsonl(export_files._chunks(snapshot, 1), schema, portable, lambda n: None)
        export_files._write_jsonl_postgresql(snapshot, schema, fast, lambda n: None, 1)
        assert fast.read_bytes() == portable.read_bytes()
        if schema != "trl_conversational":
            portable_pq, fast_pq = tmp_path / "portable.parquet", tmp_path / "fast.parquet"
            export_files._write_parquet(export_files._chunks(snapshot, 1), schema, portable_pq, lambda n: None)
            export_files._write_parquet_postgresql(snapshot, schema, fast_pq, lambda n: None, 1)
            assert pq.read_table(fast_pq).equals(pq.read_table(portable_pq))

    @pytest.mark.parametrize("chunk_size", [1, 4, 10_000])
    @pytest.mark.parametrize("schema", ["hh", "trl_standard", "trl_conversational"])
    def test_it_writes_the_same_bytes_for_awkward_text(
        self, project: Project, tmp_path: Path, schema: str, chunk_size: int
    ) -> None:
        snapshot = _awkward_snapshot(project)
        portable, fast = tmp_path / "portable.jsonl", tmp_path / "fast.jsonl"
        export_files._write_jsonl(export_files._chunks(snapshot, chunk_size), schema, portable, lambda n: None)
        ticks: list[int] = []
        export_files._write_jsonl_postgresql(snapshot, schema, fast, ticks.append, chunk_size)
        assert fast.read_bytes() == portable.read_bytes()
        rows = _jsonl(fast)
        assert len(rows) == len(AWKWARD_TEXTS) == sum(ticks)
        # The data really is awkward: every kind of stat and text went through both paths.
        assert {row["margin"] for row in rows} == {None, 0.0, 8 / 3}
        assert {row["agreement"] for row in rows} == {1.0, 2 / 3}
        text = fast.read_text(encoding="utf-8")
        assert "\\u001e\\u001f" in text and '\\"hi\\" \\\\' in text and "😀" in text

    @pytest.mark.parametrize("schema", ["hh", "trl_standard", "trl_conversational"])
    def test_it_writes_a_system_turn_the_same_way_and_as_the_hh_import_reads_it(
        self, project: Project, tmp_path: Path, schema: str
    ) -> None:
        from annotate.formats.hh import hh_turns

        user = make_user()
        add_member(project, user)
        system = [{"role": "system", "content": "Be brief."}, *CHAT]
        make_judgment(make_comparison(project, prompt=system, a="Blue.", b="Red."), user, "a")
        snapshot = snapshot_create(project=project, filters=LENIENT)
        portable, fast = tmp_path / "portable.jsonl", tmp_path / "fast.jsonl"
        export_files._write_jsonl(export_files._chunks(snapshot, 1), schema, portable, lambda n: None)
        export_files._write_jsonl_postgresql(snapshot, schema, fast, lambda n: None, 1)
        assert fast.read_bytes() == portable.read_bytes()
        row = _jsonl(fast)[0]
        if schema == "trl_conversational":
            assert row["prompt"] == system
        else:
            text = row["chosen"] if schema == "hh" else f"{row['prompt']}{row['chosen']}"
            assert str(text).startswith("\n\nSystem: Be brief.\n\nHuman: Hi there")
            assert hh_turns(str(text)) == [*system, {"role": "assistant", "content": "Blue."}]

    def test_it_writes_numbers_as_python_does(self) -> None:
        values = [None, 0.0, -0.0, 1.0, 2.0, 3.0, 2 / 3, 8 / 3, 0.1, 0.30000000000000004, 1e-4, 9.99e-5, 1e-5,
                  5e-324, 1e14, 123456789012345.6, 999999999999999.0, float("inf"), float("-inf"), float("nan")]
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL extra_float_digits = 1")
            cursor.execute(
                f"SELECT {sql_json_number('v')} FROM unnest(%s::float8[]) WITH ORDINALITY AS x(v, o) "
                "ORDER BY o",
                [values],
            )
            written = [row[0] for row in cursor.fetchall()]
        assert written == [json.dumps(v) for v in values]
