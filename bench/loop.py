"""The loop, measured: simulated annotators with a hidden preference drive alignment rounds through the real system.

    .venv/bin/python bench/loop.py [--rounds 3] [--oracle bench/oracles.py:lowercase] [--out var/bench-loop]

Creates its own PostgreSQL database (``concord_bench_loop``, dropped and re-created) and uses
Redis db 11 as the broker. It sets up a project with a prompt pool (held-out prompts kept
apart by the plan's own rule), round-0 candidates sampled from the base policy, an enabled
alignment plan, and simulated annotators, each its own account and API token. Then it starts
the real parts: gunicorn, a Celery worker per queue (training, default) and beat. The
annotators label through ``POST /api/projects/<slug>/next/`` and ``POST /api/assignments/<id>/submit/``
like any client; rounds start by the plan's trigger (new agreed pairs), run in the workers, and
their new comparisons are labelled by the same crowd.

Each annotator's true preference is the oracle ``score(prompt, response) -> float``
(``--oracle MODULE:FUNCTION``, MODULE a module or a ``.py`` path): it prefers A with probability
σ((o(A) − o(B)) / τ), says tie when the two are within ``TIE_MARGIN`` and sets the strength
from the gap. The crowd: careful and average annotators with τ drawn per annotator, and 20%
spammers (random, always-left). Only these annotators and the scorer below call the oracle.

After each round it measures, on held-out prompts, the oracle win rate of the round's
champion over the round-0 policy and over the previous round's (≥ 200 sampled pairs, Wilson
95% interval); KL to the reference and response length; the reward model's agreement with
the oracle on those pairs and the crowd's own agreement with it; the snapshot label accuracy
against the oracle for Dawid–Skene and majority vote; the human win rate the round recorded;
votes cast; wall time per step. Prints a table per round, writes ``loop.svg`` (oracle win rate,
RM agreement and KL by round) beside ``loop.json``, and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alignment.simulated_crowd import (
    TIE_MARGIN,
    Annotator,
    Crowd,
    Oracle,
    crowd_accounts,
    crowd_draw,
    load_oracle,
)

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "concord_bench_loop"
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
BROKER_URL = "redis://127.0.0.1:6379/11"
SLUG = "loop"

NOUNS = ["cat", "dog", "river", "stone", "cloud", "garden", "city", "song", "road", "tree", "ship", "lamp"]
VERBS = [
    "Describe",
    "Tell me about",
    "Write a line on",
    "Explain",
    "Say something about",
    "Name a fact about",
]


# --- the system under test --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class System:
    """gunicorn, a worker per queue and beat, on the bench database and broker."""

    def __init__(self, env: dict[str, str], out: Path) -> None:
        self.env, self.out = env, out
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    def _start(self, name: str, args: list[str]) -> None:
        log = (self.out / f"{name}.log").open("wb")
        self.procs.append(
            subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    def start(self) -> None:
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "config"]
        self._start(
            "web",
            [
                python,
                "-m",
                "gunicorn",
                "config.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                "1",
                "--threads",
                "8",
            ],
        )
        self._start(
            "training",
            [*celery, "worker", "-Q", "training", "--pool=solo", "-n", "training@%h", "-l", "info"],
        )
        self._start(
            "default", [*celery, "worker", "-Q", "default", "--pool=solo", "-n", "default@%h", "-l", "info"]
        )
        self._start("beat", [*celery, "beat", "-l", "info", "-s", str(self.out / "beat-schedule")])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit("gunicorn did not start; see web.log")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


# --- setup ------------------------------------------------------------------------------------------


def prompts_make(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    made: set[str] = set()
    while len(made) < n:
        made.add(f"{rng.choice(VERBS)} the {rng.choice(NOUNS)} and the {rng.choice(NOUNS)} ({len(made)}).")
    return sorted(made)


def setup(args: argparse.Namespace, annotators: list[Annotator], out: Path) -> dict[str, Any]:
    """The project, prompts, round-0 candidates, plan and accounts; returns what the measurement needs."""
    from alignment.services.plans import plan_get_or_create, plan_update
    from alignment.services.steps import prompt_is_held_out, sampled_text
    from alignment.services.versions import version_base_ensure
    from annotate.models import Project, Prompt
    from annotate.services.content import NewComparison, NewPrompt, NewResponse, content_write

    project = Project.objects.create(
        name="Loop", slug=SLUG, overlap_target=args.overlap, gold_rate=0.0, lease_ttl_seconds=300
    )
    content_write(
        project=project, prompts=[NewPrompt(content=p) for p in prompts_make(args.prompts, args.seed)]
    )
    plan = plan_update(
        plan=plan_get_or_create(project=project),
        enabled=False,
        heldout_share=args.heldout_share,
        reward_config=REWARD_CONFIG,
        policy_config=POLICY_CONFIG,
        generate_config=GENERATE_CONFIG,
        snapshot_filters={"method": "dawid_skene"},
        prompts_per_round=args.prompts_per_round,
        candidates_per_prompt=2,
        eval_prompts=64,
        min_new_pairs=args.min_new_pairs,
        cooldown_minutes=0,
        kl_budget=args.kl_budget,
    )
    base = version_base_ensure(project=project, plan=plan)
    prompts = list(Prompt.objects.filter(project=project).order_by("content_hash"))
    pool = [p for p in prompts if not prompt_is_held_out(p.content_hash, plan.heldout_share)]
    held = [p for p in prompts if prompt_is_held_out(p.content_hash, plan.heldout_share)]
    start = pool[: args.round0_prompts]
    samples = [
        [sampled_text(t) for t in texts]
        for texts in sample(base.location, [p.turns for p in start], n=2, seed=0, out=out / "round0")
    ]
    responses, comparisons = [], []
    for prompt, texts in zip(start, samples, strict=True):
        for text in texts:
            responses.append(
                NewResponse(prompt=prompt.turns, text=text, source="model", model_version_id=base.pk)
            )
        if texts[0] != texts[1]:
            comparisons.append(
                NewComparison(prompt=prompt.turns, response_a=texts[0], response_b=texts[1], batch="round-0")
            )
    content_write(project=project, responses=responses, comparisons=comparisons)
    crowd_accounts(project=project, annotators=annotators)
    plan_update(plan=plan, enabled=True)
    return {
        "project": project,
        "plan": plan,
        "base": base,
        "held": [p.turns for p in held][: args.eval_prompts],
    }


# Small and quick on 2 cores, big enough to learn a byte-level preference in a few rounds. Six reward
# epochs: with three, the round-1 reward model agreed with the oracle on as little as 0.60 of held-out
# pairs and the gate promoted worse policies or none (targets met in 6 of 8 seeded runs; 8 of 8 with six).
REWARD_CONFIG = {
    "num_train_epochs": 6,
    "per_device_train_batch_size": 16,
    "max_seq_length": 160,
    "eval_split": 0.1,
}
POLICY_CONFIG = {
    "max_steps": 40,
    "per_device_train_batch_size": 16,
    "response_length": 24,
    "max_seq_length": 160,
    "save_steps": 10,
}
GENERATE_CONFIG = {"response_length": 24, "max_seq_length": 160}


def sample(
    model: str, prompts: list[list[dict[str, str]]], *, n: int, seed: int, out: Path
) -> list[list[str]]:
    """``n`` responses per prompt from ``model`` with the plan's sampling settings (the library's generate)."""
    from alignment.training import load_config, run_step

    config = load_config(
        {
            **GENERATE_CONFIG,
            "strategy": "generate",
            "model_name": model,
            "num_return_sequences": n,
            "seed": seed,
        }
    )
    result = run_step(config, [{"prompt": p} for p in prompts], out)
    lines = [json.loads(line) for line in Path(result.output_path).read_text().splitlines() if line.strip()]
    return [line["responses"] for line in lines]


# --- measuring a round -----------------------------------------------------------------------------


def wilson(wins: float, n: int) -> tuple[float, float, float]:
    from alignment.stats import wilson as interval

    w = interval(wins, n)
    return (w.rate or 0.0, w.low or 0.0, w.high or 0.0)


def win_rate(
    oracle: Oracle, prompts: list[str], new: list[list[str]], old: list[list[str]]
) -> tuple[float, float, float, int]:
    wins = n = 0.0
    for prompt, a_texts, b_texts in zip(prompts, new, old, strict=True):
        for a, b in zip(a_texts, b_texts, strict=True):
            gap = oracle(prompt, a) - oracle(prompt, b)
            wins += 1.0 if gap > 0 else 0.5 if gap == 0 else 0.0
            n += 1
    rate, low, high = wilson(wins, int(n))
    return rate, low, high, int(n)


def rm_agreement(
    reward_path: str, oracle: Oracle, prompts: list[str], new: list[list[str]], old: list[list[str]]
) -> float | None:
    from alignment.training.scoring import load_reward

    scorer = load_reward(reward_path, max_length=int(REWARD_CONFIG["max_seq_length"]))
    games = [
        (prompt, a, b, oracle(prompt, a) - oracle(prompt, b))
        for prompt, a_texts, b_texts in zip(prompts, new, old, strict=True)
        for a, b in zip(a_texts, b_texts, strict=True)
    ]
    separated = [(p, a, b, gap > 0) for p, a, b, gap in games if abs(gap) >= TIE_MARGIN]
    if not separated:
        return None
    flat_p, flat_a, flat_b, truth = (list(column) for column in zip(*separated, strict=True))
    sa, sb = scorer(flat_p, flat_a), scorer(flat_p, flat_b)
    return sum((float(x) > float(y)) == t for x, y, t in zip(sa, sb, truth, strict=True)) / len(truth)


def label_accuracy(project: Any, oracle: Oracle, method: str) -> tuple[float | None, int]:
    """The share of pairs the aggregation keeps whose chosen response the oracle also prefers."""
    from alignment.training.rows import prompt_text
    from annotate.aggregation.selection import SnapshotFilters
    from annotate.models import Response
    from annotate.selectors.pairs import pair_selection

    selection = pair_selection(project=project, filters=SnapshotFilters(method=method))
    ids = set(selection.chosen_response_id.tolist()) | set(selection.rejected_response_id.tolist())
    texts = {
        r.pk: (prompt_text(r.prompt.turns), r.text)
        for r in Response.objects.filter(pk__in=ids).select_related("prompt")
    }
    right = total = 0
    for c, r in zip(
        selection.chosen_response_id.tolist(), selection.rejected_response_id.tolist(), strict=True
    ):
        (prompt, chosen), (_, rejected) = texts[c], texts[r]
        gap = oracle(prompt, chosen) - oracle(prompt, rejected)
        if abs(gap) >= TIE_MARGIN:
            total += 1
            right += gap > 0
    return (right / total if total else None), total


def round_wait(project: Any, number: int, timeout: float, states: tuple[str, ...]) -> Any:
    """The round once it is in one of ``states``; gives up early when nothing is left to vote on and the
    plan's trigger still says no (its reason is the error)."""
    from alignment.models import AlignmentRound
    from alignment.services.rounds import round_trigger_status
    from annotate.models import Comparison

    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while time.monotonic() < deadline:
        round_ = AlignmentRound.objects.filter(project=project, number=number).first()
        if round_ is not None and round_.state in states:
            return round_
        if round_ is None and not Comparison.objects.filter(project=project, status="open").exists():
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 30:
                status = round_trigger_status(plan=project.alignment_plan)
                raise SystemExit(
                    f"round {number} cannot start: every comparison is voted and {status.reason}"
                )
        else:
            idle_since = None
        time.sleep(1.0)
    raise SystemExit(f"round {number} did not reach {states} in {timeout:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--oracle", default=str(ROOT / "bench" / "oracles.py") + ":lowercase")
    parser.add_argument("--prompts", type=int, default=400, help="prompt pool size")
    parser.add_argument("--heldout-share", type=float, default=0.2)
    parser.add_argument(
        "--eval-prompts", type=int, default=64, help="held-out prompts measured (4 samples each)"
    )
    parser.add_argument("--round0-prompts", type=int, default=200, help="prompts with round-0 candidates")
    parser.add_argument("--prompts-per-round", type=int, default=96)
    parser.add_argument("--min-new-pairs", type=int, default=60, help="the plan's trigger")
    parser.add_argument("--annotators", type=int, default=10)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--kl-budget", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--round-timeout", type=float, default=600)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench-loop")
    args = parser.parse_args()
    # SIGTERM ends the run like Ctrl-C, so the finally below stops the server, workers and beat.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        oracle = load_oracle(args.oracle)
    except ValueError as exc:
        raise SystemExit(f"--oracle: {exc}") from exc
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()

    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "CONCORD_MODEL_ROOT": str(out / "models"),
        "CONCORD_ROUND_TICK_SECONDS": "3",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import torch

    torch.set_num_threads(1)
    from alignment.models import AlignmentRound, ModelVersion, RoundState
    from alignment.training.rows import prompt_text

    annotators = crowd_draw(args.annotators, spammer_share=0.2, seed=args.seed)
    ctx = setup(args, annotators, out)
    project, plan = ctx["project"], ctx["plan"]
    held_turns = ctx["held"]
    held_text = [prompt_text(t) for t in held_turns]
    print(
        f"setup: {len(held_turns)} held-out prompts, {len(annotators)} annotators, {time.monotonic() - began:.0f}s",
        flush=True,
    )
    system = System(env, out)
    system.start()
    crowd = Crowd(annotators, oracle, slug=SLUG, host="127.0.0.1", port=system.port, seed=args.seed)
    crowd.start()
    per_sample = 4
    base_samples = sample(ctx["base"].location, held_turns, n=per_sample, seed=1, out=out / "eval-v0")
    previous_samples = base_samples
    # Each version's samples (seed 1) once: a champion is v0 or an earlier round's candidate.
    samples_of: dict[int, list[list[str]]] = {ctx["base"].pk: base_samples}
    rows: list[dict[str, Any]] = []
    try:
        for number in range(1, args.rounds + 1):
            round_ = round_wait(
                project,
                number,
                args.round_timeout,
                (RoundState.COLLECTING, RoundState.DONE, RoundState.FAILED),
            )
            if round_.state == RoundState.FAILED:
                raise SystemExit(f"round {number} failed at {round_.failed_step}: {round_.error}")
            if number == args.rounds:
                from alignment.services.plans import plan_update

                plan.refresh_from_db()
                plan_update(plan=plan, enabled=False)  # no round after the last one measured
            champion = ModelVersion.objects.get(project=project, kind="policy", status="champion")
            candidate = round_.policy_version
            assert candidate is not None and round_.reward_version is not None
            candidate_samples = sample(
                candidate.location, held_turns, n=per_sample, seed=1, out=out / f"eval-r{number}"
            )
            samples_of[candidate.pk] = candidate_samples
            samples = samples_of.get(champion.pk) or sample(
                champion.location, held_turns, n=per_sample, seed=1, out=out / f"eval-r{number}-champion"
            )
            over_base = win_rate(oracle, held_text, samples, base_samples)
            over_previous = win_rate(oracle, held_text, samples, previous_samples)
            candidate_over_base = win_rate(oracle, held_text, candidate_samples, base_samples)
            # The reward model judged on pairs of two different policies (the round's and round 0's).
            rm = rm_agreement(
                round_.reward_version.location, oracle, held_text, candidate_samples, base_samples
            )
            ds, ds_n = label_accuracy(project, oracle, "dawid_skene")
            mv, _ = label_accuracy(project, oracle, "majority")
            evaluation = round_.metrics.get(RoundState.EVALUATING, {})
            crowd_agreement, votes = crowd.stats.agreement, crowd.stats.votes
            row = {
                "round": number,
                "champion": champion.number,
                "promoted": bool(evaluation.get("promoted")),
                "oracle_win_rate": over_base[0], "oracle_win_rate_low": over_base[1], "oracle_win_rate_high": over_base[2],
                "pairs": over_base[3],
                "oracle_win_rate_previous": over_previous[0], "oracle_win_rate_previous_low": over_previous[1],
                "candidate": candidate.number, "candidate_win_rate": candidate_over_base[0],
                "candidate_win_rate_low": candidate_over_base[1],
                "kl": evaluation.get("kl"),
                "length": sum(len(t) for ts in samples for t in ts) / max(1, sum(len(ts) for ts in samples)),
                "rm_oracle_agreement": rm, "crowd_oracle_agreement": crowd_agreement,
                "ds_accuracy": ds, "mv_accuracy": mv, "labelled_pairs": ds_n,
                "rm_win_rate": (evaluation.get("rm_win_rate") or {}).get("rate"),
                "votes": votes,
                "step_seconds": {s: round(float(round_.metrics.get(s, {}).get("seconds") or 0), 1) for s in STEP_NAMES},
                "round_seconds": (round_.metrics and sum(float(round_.metrics.get(s, {}).get("seconds") or 0) for s in STEP_NAMES)),
            }  # fmt: skip
            rows.append(row)
            print_row(row)
            previous_samples = samples
        last = round_wait(project, args.rounds, args.round_timeout, (RoundState.DONE,))
        for row in rows:
            done = AlignmentRound.objects.get(project=project, number=row["round"])
            human = done.metrics.get(RoundState.COLLECTING, {}).get("human_win_rate", {})
            row["human_win_rate"], row["human_win_rate_low"], row["human_pairs"] = (
                human.get("rate"),
                human.get("low"),
                human.get("n"),
            )
        del last
    finally:
        crowd.close()
        system.stop()
    seconds = time.monotonic() - began
    summary_print(rows, seconds, crowd)
    plot(rows, out / "loop.svg")
    figures = {
        "rounds": len(rows),
        "oracle": args.oracle.rpartition(":")[2],
        "oracle_win_rate": [r["oracle_win_rate"] for r in rows],
        "oracle_win_rate_low": [r["oracle_win_rate_low"] for r in rows],
        "oracle_win_rate_previous": [r["oracle_win_rate_previous"] for r in rows],
        "candidate_win_rate": [r["candidate_win_rate"] for r in rows],
        "promoted": [r["promoted"] for r in rows],
        "kl": [r["kl"] for r in rows],
        "kl_budget": args.kl_budget,
        "rm_oracle_agreement": [r["rm_oracle_agreement"] for r in rows],
        "crowd_oracle_agreement": rows[-1]["crowd_oracle_agreement"] if rows else None,
        "ds_accuracy": rows[-1]["ds_accuracy"] if rows else None,
        "mv_accuracy": rows[-1]["mv_accuracy"] if rows else None,
        "human_win_rate": [r.get("human_win_rate") for r in rows],
        "votes": rows[-1]["votes"] if rows else 0,
        "round_seconds": [r["round_seconds"] for r in rows],
        "seconds": round(seconds, 1),
    }
    (out / "loop.json").write_text(json.dumps({"figures": figures, "rounds": rows}, indent=2))
    print(json.dumps(figures))


STEP_NAMES = ("snapshotting", "training_reward", "training_policy", "evaluating", "generating")


def _f(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_row(row: dict[str, Any]) -> None:
    print(
        f"round {row['round']}: champion v{row['champion']} (promoted {row['promoted']}), oracle win rate over v0 "
        f"{_f(row['oracle_win_rate'])} [{_f(row['oracle_win_rate_low'])}, {_f(row['oracle_win_rate_high'])}] on "
        f"{row['pairs']} pairs, over previous {_f(row['oracle_win_rate_previous'])}; the round's policy "
        f"v{row['candidate']} over v0 {_f(row['candidate_win_rate'])}; KL {_f(row['kl'])}; "
        f"length {_f(row['length'], 1)} chars; RM~oracle {_f(row['rm_oracle_agreement'])}, crowd~oracle "
        f"{_f(row['crowd_oracle_agreement'])}; DS {_f(row['ds_accuracy'])} / MV {_f(row['mv_accuracy'])} on "
        f"{row['labelled_pairs']} pairs; votes {row['votes']}; steps {row['step_seconds']}",
        flush=True,
    )


def summary_print(rows: list[dict[str, Any]], seconds: float, crowd: Crowd) -> None:
    header = [
        "round",
        "win v0",
        "low",
        "win prev",
        "KL",
        "len",
        "RM~o",
        "crowd~o",
        "DS",
        "MV",
        "human",
        "votes",
        "round s",
    ]
    print()
    print(" | ".join(f"{h:>8}" for h in header))
    for r in rows:
        cells = [r["round"], r["oracle_win_rate"], r["oracle_win_rate_low"], r["oracle_win_rate_previous"], r["kl"],
                 r["length"], r["rm_oracle_agreement"], r["crowd_oracle_agreement"], r["ds_accuracy"], r["mv_accuracy"],
                 r.get("human_win_rate"), r["votes"], r["round_seconds"]]  # fmt: skip
        print(" | ".join(f"{_f(c, 3) if isinstance(c, float) else _f(c):>8}" for c in cells))
    print(f"\nwhole run {seconds:.0f}s; {len(crowd.errors)} client errors")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    from annotate.charts import line_chart

    labels = [f"round {r['round']}" for r in rows]
    kl_max = max([r["kl"] or 0.0 for r in rows] + [1.0])
    svg = line_chart(
        title="The loop: oracle win rate over round 0, reward-model agreement with the oracle, KL / max",
        x_labels=labels,
        series=[
            ("oracle win rate", [r["oracle_win_rate"] for r in rows]),
            ("RM ~ oracle", [r["rm_oracle_agreement"] for r in rows]),
            (f"KL / {kl_max:.1f}", [(r["kl"] or 0.0) / kl_max for r in rows]),
        ],
    )
    path.write_text(str(svg))


if __name__ == "__main__":
    main()
