"""Hostile import files: the error each gets and the peak memory of importing it.

    .venv/bin/python bench/hostile_imports.py [--cap-gb 4] [--timeout 600] [--only NAME ...]
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/hostile_imports.py --label before

Writes each hostile file once into ``--files`` (default a folder under the system temp dir;
the 500 MB line is written streaming), then imports each in a fresh process with
``annotate.services.imports.import_file`` against PostgreSQL, inside a transaction that is
rolled back, so the database is left as it was. The code imported is whatever ``annotate``
is on PYTHONPATH, so the same script measures another checkout (``--label before``).

Each child runs under ``RLIMIT_AS`` (``--cap-gb``) and a wall-clock timeout, so a file that
would take the machine's memory ends as "exceeded cap" instead. Peak memory is the child's
RSS high-water mark, read from ``os.wait4``. Prints a table and, as its last line, one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "wt_imports_hostile"
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
DEEP = 100_000
MB = 1_000_000


def _pair(i: int, chosen: str = "good answer") -> str:
    return json.dumps({"prompt": f"question {i}", "chosen": f"{chosen} {i}", "rejected": f"bad answer {i}"})


def _lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _big_line(path: Path, size: int) -> None:
    """A JSONL file of one good pair and one pair whose "chosen" makes the line ``size`` bytes, streamed."""
    block = "x" * MB
    with path.open("w", encoding="utf-8") as handle:
        handle.write(_pair(0) + "\n")
        head = '{"prompt": "q", "rejected": "b", "chosen": "'
        handle.write(head)
        left = size - len(head) - 3
        while left > 0:
            piece = block[: min(left, MB)]
            handle.write(piece)
            left -= len(piece)
        handle.write('"}\n')


def _parquet_bomb(path: Path) -> None:
    """zstd, no dictionary, one row group: 1,000 rows of a 1 MB run compress to some 40 KB."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = "x" * MB
    table = pa.table(
        {"prompt": [f"q{i}" for i in range(1000)], "chosen": [big] * 1000, "rejected": ["b"] * 1000}
    )
    pq.write_table(table, path, compression="zstd", use_dictionary=False, row_group_size=1000)


def _parquet_dictionary_bomb(path: Path) -> None:
    """One distinct 1 MB value referenced by 1,000 rows: about a kilobyte on disk and in the metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    chosen = pa.DictionaryArray.from_arrays(pa.array([0] * 1000, pa.int32()), pa.array(["x" * MB]))
    table = pa.table({"prompt": [f"q{i}" for i in range(1000)], "chosen": chosen, "rejected": ["b"] * 1000})
    pq.write_table(table, path, compression="zstd")


def _files(folder: Path) -> list[tuple[str, str, Path]]:
    """(case, kind, path) for every hostile file, writing those not there yet."""
    folder.mkdir(parents=True, exist_ok=True)
    good = [_pair(i) for i in range(5000)]
    deep = "[" * DEEP
    makers = {
        "deep-jsonl": ("pairs", "deep.jsonl", lambda p: _lines(p, [*good[:10], '{"prompt": ' + deep])),
        "deep-json": ("pairs", "deep.json", lambda p: p.write_text("[" + ",".join(good[:10]) + "," + deep + "]")),
        "deep-csv": ("prompts", "deep.csv", lambda p: p.write_text('prompt,metadata\nq,{}\n"r","' + deep + '"\n')),
        # In the 3rd chunk of 2,000 records the writer uses: before, the error named the chunk's line.
        "nul": ("pairs", "nul.jsonl", lambda p: _lines(p, [*good[:4321], _pair(4321, "a\x00b"), *good[4322:]])),
        "lone-surrogate": ("pairs", "surrogate.jsonl",
                           lambda p: _lines(p, [*good[:4321], _pair(4321, "a\ud800b"), *good[4322:]])),
        "field-60mb": ("pairs", "field60mb.jsonl", lambda p: _big_line(p, 60 * MB)),
        "line-500mb": ("pairs", "line500mb.jsonl", lambda p: _big_line(p, 500 * MB)),
        "parquet-bomb": ("pairs", "bomb.parquet", _parquet_bomb),
        "parquet-dict-bomb": ("pairs", "dict-bomb.parquet", _parquet_dictionary_bomb),
        "responses-2000": ("responses", "responses2000.jsonl",
                           lambda p: _lines(p, [json.dumps({"prompt": "one prompt", "response": f"answer {i}"})
                                                for i in range(2000)])),
    }  # fmt: skip
    out = []
    for case, (kind, name, make) in makers.items():
        path = folder / name
        if not path.exists():
            partial = path.with_suffix(path.suffix + ".part")
            make(partial)
            partial.rename(path)
        out.append((case, kind, path))
    return out


def _child(kind: str, path: str, cap_bytes: int) -> None:
    """Import one file in this process and print one JSON line: what happened."""
    resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))
    report: dict[str, object] = {}
    try:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
        import inspect

        from django.db import transaction

        from annotate.models import Project
        from annotate.services import imports

        fmt = imports.format_for(name=path, fmt=None)
        params = inspect.signature(imports._record_estimate).parameters
        from django.conf import settings

        inline_max = settings.CONCORD_IMPORT_INLINE_MAX_RECORDS
        args = (Path(path), fmt, inline_max) if len(params) == 3 else (Path(path), fmt)
        report["inline"] = imports._record_estimate(*args) <= inline_max
        report["code"] = str(Path(imports.__file__).parent.parent.parent)

        class _Rollback(Exception):
            pass

        started = time.monotonic()
        try:
            with transaction.atomic():
                project = Project.objects.create(name="hostile", slug=f"hostile-{os.getpid()}")
                try:
                    result = imports.import_file(project=project, path=path, kind=kind)
                    counts = result.as_counts()
                    outcome = "imported " + ", ".join(
                        f"{counts[k]:,} {k}" for k in ("records", "comparisons") if counts.get(k)
                    )
                    if counts.get("pairs_not_created"):
                        outcome += f" ({counts['pairs_not_created']:,} pairs not created)"
                    report["outcome"] = outcome
                except imports.ImportRejected as exc:
                    report["outcome"] = "refused: " + str(exc.problems[0])[:150]
                raise _Rollback
        except _Rollback:
            pass
        report["seconds"] = round(time.monotonic() - started, 2)
    except MemoryError:
        report["outcome"] = "exceeded cap (MemoryError)"
    except BaseException as exc:  # what "before" did: show the exception, not a traceback
        report["outcome"] = (
            f"crashed: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
        )
    print("REPORT " + json.dumps(report), flush=True)


def _code_root() -> str:
    """The checkout whose ``annotate`` is measured: the first PYTHONPATH entry, else this one."""
    return next((p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p), str(ROOT))


def _run(kind: str, path: Path, cap_bytes: int, timeout: float) -> dict[str, object]:
    env = {**os.environ, "DATABASE_URL": DB_URL}
    with tempfile.TemporaryFile("w+") as out:
        pid = os.fork()
        if pid == 0:  # the child: exec a fresh interpreter with the output to the file
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            # Celery puts the working directory on sys.path when the app loads: it must be the
            # checkout under test, or another checkout's annotate would be imported.
            os.chdir(_code_root())
            os.execve(
                sys.executable,
                [sys.executable, __file__, "--child", kind, str(path), str(cap_bytes)],
                env,
            )
        started = time.monotonic()
        timed_out = False
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - started > timeout:
                os.kill(pid, signal.SIGKILL)
                timed_out = True
                done, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.05)
        out.seek(0)
        text = out.read()
    report: dict[str, object] = {}
    for line in text.splitlines():
        if line.startswith("REPORT "):
            report = json.loads(line[len("REPORT ") :])
    if timed_out:
        report["outcome"] = f"timed out after {timeout:.0f}s"
    elif not report:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        tail = text.strip().splitlines()[-1][:120] if text.strip() else ""
        report["outcome"] = f"exceeded cap (killed by signal {sig})" if sig else f"died: {tail}"
    report["peak_rss_mb"] = round(usage.ru_maxrss / 1024)  # kilobytes on Linux
    report["wall_s"] = round(time.monotonic() - started, 1)
    return report


def _rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--label", default="after", help="what the table is of, e.g. before / after")
    parser.add_argument("--files", type=Path, default=Path(tempfile.gettempdir()) / "concord-hostile-imports")
    parser.add_argument("--cap-gb", type=float, default=4.0, help="address-space cap for each import")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per import")
    parser.add_argument("--only", nargs="*", help="cases to run (default: all)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path, cap = args.child
        _child(kind, path, int(cap))
        return
    if args.generate:
        _files(args.files)
        return
    import subprocess

    # Written by another process: a child's RSS high-water starts at this process's RSS when it
    # forks, so this one must stay small (the Parquet bomb takes a gigabyte to write).
    subprocess.run([sys.executable, __file__, "--generate", "--files", str(args.files)], check=True)

    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    env = {**os.environ, "DATABASE_URL": DB_URL}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    cap_bytes = int(args.cap_gb * 1024**3)
    cases = [c for c in _files(args.files) if not args.only or c[0] in args.only]
    print(f"{args.label}: annotate from {_code_root()}, cap {args.cap_gb:g} GiB, parent RSS {_rss_mb()} MB\n")
    print(f"{'case':<18} {'file MB':>8} {'inline':>6} {'peak MB':>8} {'wall s':>7}  outcome")
    figures: dict[str, dict[str, object]] = {}
    for case, kind, path in cases:
        report = _run(kind, path, cap_bytes, args.timeout)
        report["file_bytes"] = path.stat().st_size
        figures[case] = report
        inline = {True: "yes", False: "no"}.get(report.get("inline"), "?")  # type: ignore[call-overload]
        print(
            f"{case:<18} {path.stat().st_size / MB:>8.2f} {inline:>6} {report['peak_rss_mb']:>8} "
            f"{report['wall_s']:>7}  {report['outcome']}",
            flush=True,
        )
    print(json.dumps({"label": args.label, "cap_gb": args.cap_gb, "cases": figures}))


if __name__ == "__main__":
    main()
