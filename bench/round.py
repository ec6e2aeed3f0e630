"""One alignment round on the tiny model, through ``round_start`` and a real Celery worker, with annotators at work.

    .venv/bin/python bench/round.py [--pairs 1000] [--ppo-steps 30] [--annotators 8] [--seconds 10]

Creates its own database (``concord_bench_round``, dropped and re-created) on PostgreSQL and uses
Redis (``--broker``, default ``$CELERY_BROKER_URL`` or db 14; its two queues are purged first). It
makes a project with ``--pairs`` agreed pairs (two imported votes each) and a plan big enough that
training is most of the round (the reward model one epoch over the pairs, PPO ``--ppo-steps``
steps), and, for the annotators, the load project of ``bench/annotation_load.py`` behind gunicorn.

1. A Celery worker starts on both queues (``-Q default,training``, prefork, one process, as a GPU
   worker runs) and answers a ping.
2. Idle: N annotators judge through the API for ``--windows`` windows of ``--seconds`` (after an
   untimed warm-up); their pooled p99 is ``p99_idle_ms``.
3. ``round_start`` on the project; while the round is in a training state, the same N annotators
   judge in windows of ``--seconds``; a window counts when the round trained from its start to its
   end, and the pooled p99 of those is ``p99_training_ms``. It waits until the round is collecting.

Round wall time is from the round's creation to its arrival in ``collecting`` (the database's
timestamps); each step's time is ``round.metrics[state]["seconds"]``. Time inside the training
library is the sum of the TrainingRuns' ``result.elapsed_s`` (generation runs the library twice: both
count). Orchestration overhead = round wall time minus library time: the queue hand-offs, the
snapshot, Django's writes, and whatever a step does before the library starts its clock (torch's
import on a fresh worker process included). Targets: overhead under 5% and under 10 s; p99 while
training at most 2x idle. Prints a table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.annotation_load import (  # noqa: E402  (after the path insert)
    Drive,
    annotators_drive,
    check_invariants,
    database_create,
    load_project_create,
    percentile_ms,
    server_start,
    server_stop,
)

DB_NAME = "concord_bench_round"
SLUG = "round"
QUEUES = ("default", "training")
STEPS = ("snapshotting", "training_reward", "training_policy", "evaluating", "generating")
TRAINING = ("training_reward", "training_policy")
FINISHED = ("collecting", "done", "failed", "cancelled")


def _configs(args: argparse.Namespace) -> dict[str, Any]:
    """Plan fields: the reward model sees every pair once, PPO runs some tens of steps."""
    return {
        "reward_config": {
            "num_train_epochs": 1,
            "per_device_train_batch_size": 8,
            "eval_split": 0.1,
            "max_seq_length": 128,
        },
        "policy_config": {
            "max_steps": args.ppo_steps,
            "per_device_train_batch_size": 8,
            "response_length": 16,
            "save_steps": 10,
            "max_seq_length": 128,
        },
        "generate_config": {"response_length": 16, "max_seq_length": 128},
        "prompts_per_round": 32,
        "eval_prompts": 32,
        "heldout_share": 0.1,
        "min_new_pairs": 10,
        "cooldown_minutes": 0,
    }


def _round_project(args: argparse.Namespace) -> Any:
    from alignment.services.plans import plan_get_or_create, plan_update
    from tests.alignment.rounds import make_agreed_pairs
    from tests.factories import make_project

    project = make_project(slug=SLUG, name="Round")
    make_agreed_pairs(project, args.pairs, seed=0)
    plan_update(plan=plan_get_or_create(project=project), **_configs(args))
    return project


def _queues_purge() -> None:
    from config.celery import app

    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        for queue in QUEUES:
            channel.queue_purge(queue)


def _worker_start(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    from config.celery import app

    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(QUEUES),
               "--concurrency", "1", "--loglevel", "warning", "-n", f"bench-round-{os.getpid()}@%h"]  # fmt: skip
    if args.worker_nice:
        command = ["nice", "-n", str(args.worker_nice), *command]
    worker = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited with {worker.returncode}")
        if app.control.ping(timeout=1.0):
            return worker
    raise SystemExit("the worker did not answer a ping within 180 s")


def _worker_stop(worker: subprocess.Popen[bytes]) -> None:
    """Its whole process group: SIGTERM, then SIGKILL for what is left after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def _library_seconds(result: Any) -> float:
    """``elapsed_s`` of a run's result; a run that called the library several times holds one result each."""
    if not isinstance(result, dict):
        return 0.0
    if "elapsed_s" in result:
        return float(result["elapsed_s"] or 0.0)
    return sum(_library_seconds(value) for value in result.values())


def _state(round_id: int) -> str:
    from alignment.models import AlignmentRound

    return str(AlignmentRound.objects.values_list("state", flat=True).get(pk=round_id))


def _pooled(drives: list[Drive]) -> tuple[list[float], float]:
    latencies = [x for d in drives for x in d.latencies]
    seconds = sum(d.elapsed for d in drives)
    return latencies, (sum(d.acknowledged for d in drives) / seconds if seconds else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=1000, help="agreed pairs the round trains on")
    parser.add_argument("--ppo-steps", type=int, default=30)
    parser.add_argument("--annotators", type=int, default=8, help="concurrent annotators (N)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one measured window")
    parser.add_argument("--windows", type=int, default=3, help="idle windows before the round")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="untimed seconds of load before the idle windows"
    )
    parser.add_argument(
        "--comparisons", type=int, default=40_000, help="open comparisons of the load project"
    )
    parser.add_argument(
        "--broker", default=os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/14"
    )
    parser.add_argument("--worker-nice", type=int, default=0, help="run the worker under nice -n this")
    parser.add_argument("--timeout", type=float, default=3600.0, help="most seconds to wait for collecting")
    args = parser.parse_args()

    model_root = tempfile.mkdtemp(prefix="concord-bench-round-")
    # The bench's own process (round_start sends the first step) and the worker share these.
    os.environ.update(CELERY_BROKER_URL=args.broker, CONCORD_MODEL_ROOT=model_root)
    print(
        f"Setting up {args.pairs} agreed pairs and {args.comparisons} open comparisons in {DB_NAME} ...",
        flush=True,
    )
    db_url = database_create(DB_NAME)
    tokens = load_project_create(comparisons=args.comparisons, annotators=args.annotators)
    project = _round_project(args)
    from django.db import connections

    from alignment.models import AlignmentRound, RunStep, TrainingRun
    from alignment.services.rounds import round_start
    from alignment.services.runs import STEP_STATE
    from annotate.models import Judgment

    judgments_before = Judgment.objects.count()
    connections.close_all()
    _queues_purge()
    env = {**os.environ, "DATABASE_URL": db_url, "DEBUG": "0", "SECRET_KEY": "bench-only-secret",
           "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING"}  # fmt: skip
    worker = _worker_start(args, env)
    server, port = server_start(db_url=db_url)
    n = args.annotators
    idle: list[Drive] = []
    windows: list[tuple[str, str, Drive]] = []
    try:
        warmup = annotators_drive(port=port, tokens=tokens, n=n, seconds=args.warmup)
        idle = [
            annotators_drive(port=port, tokens=tokens, n=n, seconds=args.seconds) for _ in range(args.windows)
        ]
        started = time.monotonic()
        round_ = round_start(project=project)
        print(
            f"round {round_.number} started; measuring N={n} in {args.seconds:.0f} s windows while it trains",
            flush=True,
        )
        state = _state(round_.pk)
        while state not in FINISHED:
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"the round is still {state} after {args.timeout:.0f} s")
            if state in TRAINING:
                drive = annotators_drive(port=port, tokens=tokens, n=n, seconds=args.seconds)
                end = _state(round_.pk)
                windows.append((state, end, drive))
                state = end
            else:
                time.sleep(0.5)
                state = _state(round_.pk)
    finally:
        server_stop(server)
        _worker_stop(worker)
        shutil.rmtree(model_root, ignore_errors=True)

    round_ = AlignmentRound.objects.get(pk=round_.pk)
    if round_.state != "collecting":
        raise SystemExit(f"the round ended {round_.state} at {round_.failed_step}: {round_.error}")
    assert round_.step_started_at is not None  # set when the round arrived in collecting
    round_seconds = (round_.step_started_at - round_.created_at).total_seconds()
    library = dict.fromkeys(STEPS, 0.0)
    for run in TrainingRun.objects.filter(round=round_):
        library[STEP_STATE[RunStep(run.step)]] += _library_seconds(run.result)
    library_seconds = sum(library.values())
    overhead = round_seconds - library_seconds

    idle_latencies, idle_rate = _pooled(idle)
    trained = [d for start, end, d in windows if start in TRAINING and end in TRAINING]
    training_latencies, training_rate = _pooled(trained)
    p99_idle, p99_training = percentile_ms(idle_latencies, 0.99), percentile_ms(training_latencies, 0.99)
    checks = check_invariants(DB_NAME)
    acknowledged = (
        warmup.acknowledged + sum(d.acknowledged for d in idle) + sum(d.acknowledged for _, _, d in windows)
    )
    lost = acknowledged - (checks["judgments"] - judgments_before)

    metrics = round_.metrics
    print(f"\nround {round_.number}: {args.pairs} agreed pairs, PPO {args.ppo_steps} steps, tiny model, "
          f"one worker on {','.join(QUEUES)} (prefork, 1 process{f', nice {args.worker_nice}' if args.worker_nice else ''})")  # fmt: skip
    print(f"{'step':<16} {'seconds':>8} {'library s':>10} {'overhead s':>11}")
    for step in STEPS:
        seconds = float(metrics.get(step, {}).get("seconds") or 0.0)
        print(f"{step:<16} {seconds:>8.1f} {library[step]:>10.1f} {seconds - library[step]:>11.1f}")
    print(f"{'round':<16} {round_seconds:>8.1f} {library_seconds:>10.1f} {overhead:>11.1f}"
          f"   overhead {100 * overhead / round_seconds:.1f}% (target < 5% and < 10 s)")  # fmt: skip
    reward, evaluation = metrics.get("training_reward", {}), metrics.get("evaluating", {})
    print(f"reward model accuracy {reward.get('rm_accuracy')}, KL {evaluation.get('kl')}, "
          f"RM win rate {evaluation.get('rm_win_rate', {}).get('rate')}, promoted {evaluation.get('promoted')}")  # fmt: skip

    print(
        f"\nannotation API, N={n}: {'windows':>7} {'cycles/s':>9} {'requests':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    )
    for label, drives in (("idle", idle), ("while training", trained)):
        latencies, rate = _pooled(drives)
        print(f"{label:>21}  {len(drives):>7} {rate:>9.1f} {len(latencies):>9} {percentile_ms(latencies, 0.5):>7.1f} "
              f"{percentile_ms(latencies, 0.95):>7.1f} {percentile_ms(latencies, 0.99):>7.1f}")  # fmt: skip
    by_state: dict[str, int] = {}
    for start, end, _ in windows:
        key = start if start == end else f"{start}->{end}"
        by_state[key] = by_state.get(key, 0) + 1
    print(
        f"p99 while training / idle: {p99_training / p99_idle:.2f}x (target <= 2x); windows by state: "
        + ", ".join(f"{key} {count}" for key, count in by_state.items())
    )
    violations = checks["over_k"] + checks["doubled"] + max(lost, 0) + checks["counter_drift"]
    print(
        f"invariants: over k={checks['over_k']}, doubled={checks['doubled']}, lost={lost}, counters off={checks['counter_drift']}"
    )

    figures: dict[str, Any] = {
        "pairs": args.pairs,
        "ppo_steps": args.ppo_steps,
        "round_seconds": round(round_seconds, 1),
        "library_seconds": round(library_seconds, 1),
        "overhead_seconds": round(overhead, 1),
        "overhead_share": round(overhead / round_seconds, 4),
        **{f"{step}_seconds": round(float(metrics.get(step, {}).get("seconds") or 0.0), 1) for step in STEPS},
        "p99_idle_ms": round(p99_idle, 1),
        "p99_training_ms": round(p99_training, 1),
        "p99_ratio": round(p99_training / p99_idle, 2),
        "cycles_per_s_idle": round(idle_rate, 1),
        "cycles_per_s_training": round(training_rate, 1),
        "training_windows": len(trained),
        "rm_accuracy": reward.get("rm_accuracy"),
        "wall_seconds": round(time.monotonic() - started, 1),
        "invariant_violations": violations,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
