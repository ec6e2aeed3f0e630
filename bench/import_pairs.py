"""Import throughput: 100,000 preference pairs from JSONL into PostgreSQL, as `manage.py import_data`.

    .venv/bin/python bench/import_pairs.py [--records 100000]

Creates its own database (``concord_bench_import``, dropped and re-created), writes a
JSONL file of distinct pairs, and runs the import command in a fresh process, timing it
end to end (parse, validate, write, commit). Target: 100k records in under a minute.
Prints a table and, as its last line, one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "concord_bench_import"
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    env = {**os.environ, "DATABASE_URL": DB_URL}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*manage, "shell", "-c", "from annotate.models import Project; Project.objects.create(name='Import', slug='import')"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pairs.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for i in range(args.records):
                handle.write(json.dumps({
                    "prompt": f"Question {i}: how do I do thing {i}?",
                    "chosen": f"A careful answer {i}. " * 5,
                    "rejected": f"A worse answer {i}. " * 4,
                }) + "\n")  # fmt: skip
        size_mb = path.stat().st_size / 1e6
        started = time.perf_counter()
        done = subprocess.run(
            [*manage, "import_data", "import", str(path), "--kind", "pairs"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "")
    print(f"\n{'records':>9} {'file MB':>8} {'seconds':>8} {'records/s':>10} {'peak RSS MB':>12}")
    print(f"{args.records:>9,} {size_mb:>8.1f} {seconds:>8.1f} {args.records / seconds:>10,.0f} {peak_mb:>12.0f}")
    print(json.dumps({"records": args.records, "seconds": round(seconds, 1),
                      "records_per_s": round(args.records / seconds), "peak_rss_mb": round(peak_mb)}))  # fmt: skip


if __name__ == "__main__":
    main()
