"""Annotation throughput and latency under concurrent annotators, on PostgreSQL behind gunicorn.

    .venv/bin/python bench/annotation_load.py [--annotators 1,8,32] [--seconds 15] [--comparisons 20000]

Creates its own database (``concord_bench_load``, dropped and re-created), a project
with 20,000 comparisons (k=3) and one account per simulated annotator, starts
gunicorn on 127.0.0.1, and runs N annotators at once through the REST API with
token auth for a bounded time per N. A cycle is one comparison judged: the
annotator asks for its task once (``POST /api/projects/<slug>/next/``) and from then
on each ``POST /api/assignments/<id>/submit/`` answers with the next task in the
same round trip, as the API is designed to. Each level first runs the same load for
``--warmup`` seconds, untimed (a cold server's first requests import views and open
database connections). Afterwards it checks the invariants
straight in the database: no comparison past k judgments, no annotator judging a
comparison twice, and every acknowledged submit stored.

The client is a small asyncio HTTP/1.1 keep-alive client in one process, so that
the load generator takes as little as possible of the two cores from the server.
Prints a table and, as its last line, one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "concord_bench_load"
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
SLUG = "load"
K = 3


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def database_create(name: str) -> str:
    """Database ``name`` dropped, re-created and migrated, and this process's Django set up on it; its URL."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = database_url(name)
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return url


def load_project_create(*, comparisons: int, annotators: int) -> dict[int, str]:
    """The load project with ``comparisons`` open comparisons and one token per annotator, by index."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from annotate.models import Comparison, Membership, Project, Prompt, Response
    from annotate.services.content import content_hash

    project = Project.objects.create(
        name="Load", slug=SLUG, overlap_target=K, gold_rate=0.0, lease_ttl_seconds=600
    )
    prompts = Prompt.objects.bulk_create(
        [Prompt(project=project, content=f"Prompt {i}: which answer is better?", content_hash=content_hash(f"p{i}"))
         for i in range(comparisons)],
        batch_size=5000,
    )  # fmt: skip
    responses = Response.objects.bulk_create(
        [Response(prompt=p, text=f"Answer {side} to {p.pk}: " + "lorem ipsum " * 30, content_hash=content_hash(f"{p.pk}{side}"))
         for p in prompts for side in "ab"],
        batch_size=5000,
    )  # fmt: skip
    Comparison.objects.bulk_create(
        [Comparison(project=project, prompt=p, response_a=responses[2 * i], response_b=responses[2 * i + 1])
         for i, p in enumerate(prompts)],
        batch_size=5000,
    )  # fmt: skip
    User = get_user_model()
    tokens = {}
    for i in range(annotators):
        user = User.objects.create_user(username=f"annotator{i}", password="x")
        Membership.objects.create(project=project, user=user)
        tokens[i] = Token.objects.create(user=user).key
    from django.db import connections

    connections.close_all()
    return tokens


class Http:
    """A minimal keep-alive HTTP/1.1 client for JSON POSTs (one connection per annotator)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
        payload = json.dumps(body or {}).encode()
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
        ).encode() + payload
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            assert self.reader is not None
            try:
                self.writer.write(request)
                await self.writer.drain()
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError
                status = int(status_line.split()[1])
                length, close = 0, False
                while (line := await self.reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and value.strip().lower() == "close":
                        close = True
                data = await self.reader.readexactly(length) if length else b""
                if close:
                    self.writer.close()
                    self.writer = None
                return status, (json.loads(data) if data else {})
            except (ConnectionResetError, asyncio.IncompleteReadError, BrokenPipeError):
                self.writer = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


async def _annotator(
    http: Http, deadline: float, latencies: list[float], stats: dict[str, int], rng: random.Random
) -> None:
    started = time.perf_counter()
    status, body = await http.post(f"/api/projects/{SLUG}/next/")
    latencies.append(time.perf_counter() - started)
    task = body.get("task") if status == 200 else None
    while task is not None and time.perf_counter() < deadline:
        choice = rng.choice(["a", "b", "a", "b", "tie", "both_bad"])
        started = time.perf_counter()
        status, body = await http.post(
            f"/api/assignments/{task['assignment']}/submit/",  # type: ignore[index]
            {"choice": choice, "strength": "better"},
        )
        latencies.append(time.perf_counter() - started)
        if status == 201:
            stats["acknowledged"] += 1
            task = body.get("next")
        else:
            stats["errors"] += 1
            status, body = await http.post(f"/api/projects/{SLUG}/next/")
            task = body.get("task")


@dataclass
class Drive:
    """What one timed window of N annotators measured: every request's latency (seconds) and the counts."""

    annotators: int
    latencies: list[float] = field(default_factory=list)
    acknowledged: int = 0
    errors: int = 0
    elapsed: float = 0.0


async def _drive(port: int, tokens: dict[int, str], n: int, seconds: float, offset: int) -> Drive:
    drive = Drive(annotators=n)
    stats = {"acknowledged": 0, "errors": 0}
    clients = [Http(port, tokens[offset + i]) for i in range(n)]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_annotator(c, deadline, drive.latencies, stats, random.Random(i)) for i, c in enumerate(clients))
    )
    drive.elapsed = time.perf_counter() - started
    for c in clients:
        if c.writer is not None:
            c.writer.close()
    drive.acknowledged, drive.errors = stats["acknowledged"], stats["errors"]
    return drive


def annotators_drive(*, port: int, tokens: dict[int, str], n: int, seconds: float, offset: int = 0) -> Drive:
    """N annotators (tokens ``offset`` .. ``offset + n - 1``) judging through the API for ``seconds``."""
    return asyncio.run(_drive(port, tokens, n, seconds, offset))


def percentile_ms(latencies: list[float], q: float) -> float:
    """The ``q`` quantile of latencies in seconds, in milliseconds (nearest rank)."""
    ordered = sorted(latencies)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def drive_figures(drive: Drive) -> dict[str, float]:
    return {
        "annotators": drive.annotators,
        "cycles": drive.acknowledged,
        "cycles_per_s": drive.acknowledged / drive.elapsed,
        "requests": len(drive.latencies),
        "errors": drive.errors,
        "p50_ms": percentile_ms(drive.latencies, 0.50),
        "p95_ms": percentile_ms(drive.latencies, 0.95),
        "p99_ms": percentile_ms(drive.latencies, 0.99),
    }


def check_invariants(db_name: str = DB_NAME) -> dict[str, int]:
    """Straight from the database: comparisons over k, doubled judgments, judgments stored, counters off."""
    import psycopg

    with psycopg.connect(database_url(db_name)) as conn:
        over_k = conn.execute(
            "SELECT count(*) FROM (SELECT comparison_id FROM annotate_judgment GROUP BY comparison_id HAVING count(*) > %s) t",
            [K],
        ).fetchone()[0]  # type: ignore[index]
        doubled = conn.execute(
            # Imported votes have no annotator: only annotators' own judgments can be doubled.
            "SELECT count(*) FROM (SELECT 1 FROM annotate_judgment WHERE annotator_id IS NOT NULL "
            "GROUP BY comparison_id, annotator_id HAVING count(*) > 1) t"
        ).fetchone()[0]  # type: ignore[index]
        judgments = conn.execute("SELECT count(*) FROM annotate_judgment").fetchone()[0]  # type: ignore[index]
        counter_drift = conn.execute(
            "SELECT count(*) FROM annotate_comparison c WHERE c.vote_count <> "
            "(SELECT count(*) FROM annotate_judgment j WHERE j.comparison_id = c.id)"
        ).fetchone()[0]  # type: ignore[index]
    return {"over_k": over_k, "doubled": doubled, "judgments": judgments, "counter_drift": counter_drift}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_by_part(server_pid: int) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the gunicorn processes and of this database's PostgreSQL backends."""
    import psycopg

    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        backends = [
            r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [DB_NAME])
        ]
    return {
        "server": {pid: _cpu_seconds(pid) for pid in [server_pid, *map(int, children)]},
        "database": {pid: _cpu_seconds(pid) for pid in backends},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_start(*, db_url: str, workers: int = 2, threads: int = 4) -> tuple[subprocess.Popen[bytes], int]:
    """gunicorn on a free loopback port, serving ``db_url``, once its port answers; the process and port."""
    port = _free_port()
    # Plain HTTP on loopback: production's HTTPS redirect (the DEBUG=0 default) is turned off.
    env = {**os.environ, "DATABASE_URL": db_url, "DEBUG": "0", "SECRET_KEY": "bench-only-secret", "LOG_LEVEL": "WARNING",
           "DB_CONN_MAX_AGE": "600", "SECURE_SSL_REDIRECT": "0"}  # fmt: skip
    # --reuse-port: each worker listens on its own socket and the kernel spreads connections
    # over them; with one shared socket the first worker to wake up takes every keep-alive
    # connection and the others idle (seen here: 32 of 32 on one worker, one core used).
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30", "--log-level", "warning", "--reuse-port"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return server, port


def server_stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--annotators", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--comparisons", type=int, default=20_000)
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="untimed seconds of the same load before each level's window"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    args = parser.parse_args()
    levels = [int(x) for x in args.annotators.split(",")]

    print(
        f"Setting up {args.comparisons} comparisons and {sum(levels)} accounts in {DB_NAME} ...", flush=True
    )
    db_url = database_create(DB_NAME)
    tokens = load_project_create(comparisons=args.comparisons, annotators=sum(levels))
    server, port = server_start(db_url=db_url, workers=args.workers, threads=args.threads)
    try:
        results, offset, warmup_cycles = [], 0, 0
        for n in levels:
            # A fresh server's first requests import views and open database connections
            # (seconds, not milliseconds); they are not what an annotator sees all day.
            if args.warmup > 0:
                warmup = annotators_drive(port=port, tokens=tokens, n=n, seconds=args.warmup, offset=offset)
                warmup_cycles += warmup.acknowledged
            before, client_before = _cpu_by_part(server.pid), time.process_time()
            result = drive_figures(
                annotators_drive(port=port, tokens=tokens, n=n, seconds=args.seconds, offset=offset)
            )
            after, client_after = _cpu_by_part(server.pid), time.process_time()
            # CPU per cycle tells where the two cores go, and stays comparable on a busy host.
            for part in ("server", "database"):
                used = sum(t - before[part].get(pid, 0.0) for pid, t in after[part].items())
                result[f"{part}_cpu_ms"] = 1000 * used / max(result["cycles"], 1)
            result["client_cpu_ms"] = 1000 * (client_after - client_before) / max(result["cycles"], 1)
            results.append(result)
            offset += n
    finally:
        server_stop(server)
    checks = check_invariants()
    acknowledged = warmup_cycles + sum(int(r["cycles"]) for r in results)
    lost = acknowledged - checks["judgments"]

    print(
        f"\ngunicorn: {args.workers} workers x {args.threads} threads (gthread), PostgreSQL on 127.0.0.1, k={K}"
    )
    print(f"{'annotators':>10} {'cycles':>8} {'cycles/s':>9} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8}   CPU ms per cycle: {'server':>6} {'db':>6} {'client':>6}")  # fmt: skip
    for r in results:
        print(f"{r['annotators']:>10} {r['cycles']:>8} {r['cycles_per_s']:>9.1f} {r['requests']:>9} {r['errors']:>7} "
              f"{r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f}                     "
              f"{r['server_cpu_ms']:>6.2f} {r['database_cpu_ms']:>6.2f} {r['client_cpu_ms']:>6.2f}")  # fmt: skip
    print(f"\ninvariants: comparisons over k={checks['over_k']}, doubled judgments={checks['doubled']}, "
          f"acknowledged but not stored={lost}, vote counters off={checks['counter_drift']}")  # fmt: skip
    figures: dict[str, float | int] = {}
    for r in results:
        n = int(r["annotators"])
        figures[f"n{n}_cycles_per_s"] = round(r["cycles_per_s"], 1)
        figures[f"n{n}_p50_ms"] = round(r["p50_ms"], 1)
        figures[f"n{n}_p95_ms"] = round(r["p95_ms"], 1)
        figures[f"n{n}_p99_ms"] = round(r["p99_ms"], 1)
        figures[f"n{n}_cpu_ms_per_cycle"] = round(
            r["server_cpu_ms"] + r["database_cpu_ms"] + r["client_cpu_ms"], 2
        )
    figures["invariant_violations"] = (
        checks["over_k"] + checks["doubled"] + max(lost, 0) + checks["counter_drift"]
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
