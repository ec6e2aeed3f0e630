"""Export throughput and memory: a snapshot of N pairs to JSONL and Parquet, streamed from PostgreSQL.

    .venv/bin/python bench/export.py            # 1,000,000 pairs, ~400 characters per response
    .venv/bin/python bench/export.py --pairs 20000
    .venv/bin/python bench/export.py --pairs 100000 --keep-db   # fill once, keep the database …
    .venv/bin/python bench/export.py --pairs 100000 --reuse     # … and export it again without refilling

Creates (and afterwards drops) its own database ``concord_bench_export`` on
``--server`` (default postgres://postgres@127.0.0.1:5432), migrates it, fills it
with COPY (prompts, two responses per prompt, one comparison each, three votes per
comparison), builds a snapshot with ``snapshot_create``, then exports it once per
format, each in a fresh subprocess so that peak RSS (``ru_maxrss``) measures the
export alone and not the filling. Only the export is timed for the figure.
``--reuse`` skips migrating, filling and the snapshot when the database already holds
a snapshot of a filled ``--pairs`` run (left by ``--keep-db``); it implies ``--keep-db``.

Target (the issue): ≥ 50,000 pairs/s and peak RSS < 500 MB for both formats.
The last line printed is one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "concord_bench_export"
PYTHON = sys.executable

_EXPORT_CHILD = """
import json, os, resource, sys, time
import django
django.setup()
from annotate.models import Snapshot
from annotate.services.export_files import export_write
fmt, schema, out = sys.argv[1], sys.argv[2], sys.argv[3]
snapshot = Snapshot.objects.get()
start = time.perf_counter()
n = export_write(snapshot=snapshot, fmt=fmt, schema=schema, path=__import__("pathlib").Path(out))
seconds = time.perf_counter() - start
print(json.dumps({"pairs": n, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bytes": os.path.getsize(out)}))
"""

_SNAPSHOT_CHILD = """
import json, time
import django
django.setup()
from annotate.models import Project
from annotate.aggregation.selection import SnapshotFilters
from annotate.services.snapshots import snapshot_create
start = time.perf_counter()
s = snapshot_create(project=Project.objects.get(), filters=SnapshotFilters(min_votes=2, min_agreement=0.6, drop_flagged=False))
print(json.dumps({"pairs": s.pair_count, "seconds": time.perf_counter() - start}))
"""


def _words(rng: np.random.Generator, size: int) -> str:
    vocabulary = np.array(
        ["the", "a", "model", "answer", "response", "helpful", "harmless", "honest", "because", "therefore", "we", "you", "it", "is", "are", "was", "be", "to", "of", "and", "in", "that", "for", "on", "with", "as", "this", "by", "from", "at", "or", "an", "not", "but", "which", "can", "will", "would", "should", "could", "more", "most", "very", "data", "python", "function", "example", "explain", "reason", "step", "first", "then", "finally", "result", "value", "number", "list", "user"]
    )
    return " ".join(vocabulary[rng.integers(0, vocabulary.size, size)].tolist())


def _fill(url: str, pairs: int, chars: int) -> None:
    rng = np.random.default_rng(0)
    corpus = _words(rng, 2_000_000)
    span = len(corpus) - chars - 1
    offsets = rng.integers(0, span, size=3 * pairs)
    now = "2025-01-01 00:00:00+00"
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined) VALUES (1,'!',false,'a1','','','',false,true,%s),(2,'!',false,'a2','','','',false,true,%s),"
            "(3,'!',false,'a3','','','',false,true,%s)",
            [now, now, now],
        )
        cur.execute(
            "INSERT INTO annotate_project (id, name, slug, guidelines, overlap_target, lease_ttl_seconds, gold_rate, "
            "min_gold_accuracy, min_gold_items, position_bias_p, min_median_seconds, is_active, created_at) "
            "VALUES (1, 'Bench', 'bench', '', 3, 900, 0, 0.6, 10, 0.01, 3, true, %s)",
            [now],
        )
        with cur.copy("COPY annotate_prompt (id, project_id, content, content_hash, metadata, created_at) FROM STDIN") as cp:
            for i in range(pairs):
                text = corpus[offsets[3 * i] : offsets[3 * i] + chars // 2]
                cp.write_row((i + 1, 1, json.dumps(f"{i}: {text}?"), f"{i:064x}", "{}", now))
        with cur.copy(
            "COPY annotate_response (id, prompt_id, text, content_hash, source, metadata, created_at) FROM STDIN"
        ) as cp:
            for i in range(pairs):
                for side in (1, 2):
                    o = offsets[3 * i + side]
                    cp.write_row((2 * i + side, i + 1, corpus[o : o + chars], f"{2 * i + side:064x}", "imported", "{}", now))
        choices = np.where(rng.random((pairs, 3)) < 0.8, "a", "b")
        strengths = np.array(["significantly", "better", "slightly", "negligibly"])[rng.integers(0, 4, (pairs, 3))]
        votes_a = (choices == "a").sum(axis=1).tolist()
        with cur.copy(
            "COPY annotate_comparison (id, project_id, prompt_id, response_a_id, response_b_id, status, priority, is_gold, "
            "gold_answer, batch, slots_taken, vote_count, votes_a, votes_b, votes_tie, votes_both_bad, winner, agreement, "
            "created_at) FROM STDIN"
        ) as cp:
            for i in range(pairs):
                cp.write_row(
                    (i + 1, 1, i + 1, 2 * i + 1, 2 * i + 2, "complete", 0, False, "", "", 3, 3, votes_a[i], 3 - votes_a[i],
                     0, 0, "", None, now)
                )
        with cur.copy(
            "COPY annotate_judgment (comparison_id, annotator_id, choice, strength, rationale, seconds_spent, "
            "shown_flipped, is_imported, created_at) FROM STDIN"
        ) as cp:
            for i in range(pairs):
                for w in range(3):
                    cp.write_row((i + 1, w + 1, choices[i, w], strengths[i, w], "", 12.5, bool((i + w) % 2), False, now))
        for table in ("auth_user", "annotate_project", "annotate_prompt", "annotate_response", "annotate_comparison"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cur.execute("ANALYZE")


def _filled(url: str, pairs: int) -> bool:
    """True when the database exists and holds one snapshot taken of exactly ``pairs`` comparisons."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            comparisons = conn.execute("SELECT count(*) FROM annotate_comparison").fetchone()
            snapshots = conn.execute("SELECT count(*) FROM annotate_snapshot").fetchone()
    except psycopg.Error:
        return False
    return comparisons == (pairs,) and snapshots == (1,)


def _child(code: str, env: dict[str, str], *args: str) -> dict[str, float]:
    result = subprocess.run(
        [PYTHON, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"child failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--chars", type=int, default=400, help="characters per response")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--keep-db", action="store_true", help=f"leave the database {DB_NAME} behind")
    parser.add_argument("--reuse", action="store_true", help="export the snapshot a --keep-db run of --pairs left")
    parser.add_argument("--schema", default="hh", choices=["hh", "trl_standard", "trl_conversational"])
    args = parser.parse_args()

    admin_url = f"{args.server}/postgres"
    url = f"{args.server}/{DB_NAME}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0",
           "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    reused = args.reuse and _filled(url, args.pairs)
    if args.reuse and not reused:
        print(f"no snapshot of {args.pairs:,} filled comparisons in {DB_NAME}: filling it", flush=True)
    keep_db = args.keep_db or args.reuse
    if not reused:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    try:
        if reused:
            fill_seconds = 0.0
        else:
            subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
            started = time.perf_counter()
            _fill(url, args.pairs, args.chars)
            fill_seconds = time.perf_counter() - started
            snap = _child(_SNAPSHOT_CHILD, env)
        results = {}
        with tempfile.TemporaryDirectory(prefix="concord-bench-export-") as tmp:
            for fmt in ("jsonl", "parquet"):
                results[fmt] = _child(_EXPORT_CHILD, env, fmt, args.schema, str(Path(tmp) / f"out.{fmt}"))
    finally:
        if not keep_db:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")

    if reused:
        print(f"reused {DB_NAME}: {args.pairs:,} comparisons, its snapshot has {int(results['jsonl']['pairs']):,} pairs")
    else:
        print(f"filled {args.pairs:,} comparisons (3 votes each) in {fill_seconds:.1f} s; "
              f"snapshot_create kept {int(snap['pairs']):,} pairs in {snap['seconds']:.1f} s")
    print(f"schema {args.schema}")
    print(f"{'format':<10}{'pairs':>12}{'seconds':>10}{'pairs/s':>12}{'peak RSS MB':>14}{'file MB':>10}")
    for fmt, r in results.items():
        print(f"{fmt:<10}{int(r['pairs']):>12,}{r['seconds']:>10.2f}{r['pairs'] / r['seconds']:>12,.0f}"
              f"{r['peak_rss_mb']:>14.0f}{r['bytes'] / 1e6:>10.0f}")
    print(json.dumps({
        "pairs": int(results["jsonl"]["pairs"]),
        "jsonl_pairs_per_s": round(results["jsonl"]["pairs"] / results["jsonl"]["seconds"]),
        "parquet_pairs_per_s": round(results["parquet"]["pairs"] / results["parquet"]["seconds"]),
        "jsonl_peak_rss_mb": round(results["jsonl"]["peak_rss_mb"]),
        "parquet_peak_rss_mb": round(results["parquet"]["peak_rss_mb"]),
    }))


if __name__ == "__main__":
    main()
