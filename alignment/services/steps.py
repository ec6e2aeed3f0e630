"""The work of each step of a round: snapshot, reward model, policy, evaluation, new candidates, votes.

Each function takes the round (in its step's state) and returns a ``StepOutcome``, or None when the
step cannot finish now (another worker holds its run; votes still coming). Work that trains or
samples runs through ``run_step_in_claim``; writes that must happen once (versions, the snapshot)
happen under the round's row lock, checked against what the round already has, so a redelivered
message does nothing twice. The library is called with plain values: configs as dicts, rows as
JSONL files in the round's folder, models by path.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q

from alignment.models import AlignmentRound, ModelVersion, RoundState, RunStep, VersionKind, VersionStatus
from alignment.models.versions import model_location
from alignment.services.rounds import StepOutcome
from alignment.services.runs import RunProgress, StepFailed, absolute, run_step_in_claim
from alignment.services.versions import stored_path, version_champion, version_create
from alignment.stats import version_ladder, wilson
from annotate.models import Choice, Comparison, ComparisonStatus, Prompt, ResponseSource, SnapshotPair

# Fewer pairs than this cannot train a reward model with a held-out share worth reading.
MIN_PAIRS = 8


def _round_dir(round_: AlignmentRound) -> Path:
    folder = absolute(f"{round_.project.slug}/round-{round_.number}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _jsonl_write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows atomically (a reader never sees half a file)."""
    staging = path.with_suffix(".partial")
    with staging.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(staging, path)
    return path


def _run_library(config: dict[str, Any]) -> Callable[[Path, RunProgress], dict[str, Any]]:
    """Work that runs one library step with ``config`` in the run's folder and returns its result as JSON."""

    def work(folder: Path, progress: RunProgress) -> dict[str, Any]:
        from alignment.training import load_config, run_step

        return run_step(load_config(config), None, folder, progress=progress).to_dict()

    return work


# --- 1. snapshot -------------------------------------------------------------------------------------


def snapshot_step(round_: AlignmentRound) -> StepOutcome | None:
    """A snapshot of every agreed pair so far with the plan's filters, and its pairs as training rows."""
    from annotate.aggregation.selection import SnapshotFilters
    from annotate.services.snapshots import snapshot_create

    with transaction.atomic():
        locked = AlignmentRound.objects.select_for_update().get(pk=round_.pk)
        if locked.state != RoundState.SNAPSHOTTING:
            return None
        if locked.snapshot_id is None:
            filters = SnapshotFilters.from_dict(locked.plan.get("snapshot_filters") or {})
            locked.snapshot = snapshot_create(
                project=round_.project, filters=filters, created_by=locked.started_by
            )
            locked.save(update_fields=["snapshot"])
    snapshot = locked.snapshot
    assert snapshot is not None
    if snapshot.pair_count < MIN_PAIRS:
        raise StepFailed(
            f"snapshot v{snapshot.version} has {snapshot.pair_count} pairs after the plan's filters; "
            f"a round needs at least {MIN_PAIRS}"
        )
    previous = (
        AlignmentRound.objects.filter(
            project=round_.project, number__lt=round_.number, snapshot__isnull=False
        )
        .order_by("-number")
        .values_list("snapshot_id", flat=True)
        .first()
    )
    seen = (
        set(SnapshotPair.objects.filter(snapshot_id=previous).values_list("comparison_id", flat=True))
        if previous
        else set()
    )
    rows, new_rows = [], []
    for pair in SnapshotPair.objects.filter(snapshot=snapshot).order_by("id").iterator(chunk_size=2000):
        row = {"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected}
        rows.append(row)
        if pair.comparison_id not in seen:
            new_rows.append(row)
    folder = _round_dir(round_)
    _jsonl_write(folder / "pairs.jsonl", rows)
    _jsonl_write(folder / "new_pairs.jsonl", new_rows)
    return StepOutcome(
        metrics={
            "snapshot": snapshot.pk,
            "version": snapshot.version,
            "pairs": snapshot.pair_count,
            "new_pairs": len(new_rows),
        }
    )


# --- 2. reward model ---------------------------------------------------------------------------------


def reward_step(round_: AlignmentRound) -> StepOutcome | None:
    """A reward model trained on the snapshot; its held-out accuracy, and the previous one's on the new pairs."""
    plan = round_.plan
    folder = _round_dir(round_)
    config = {
        **(plan.get("reward_config") or {}),
        "strategy": "reward",
        "model_name": plan["reward_base"],
        "dataset": str(folder / "pairs.jsonl"),
        "seed": round_.number,
    }
    result = run_step_in_claim(round_=round_, step=RunStep.REWARD, config=config, work=_run_library(config))
    if result is None:
        return None
    metrics: dict[str, Any] = {
        "rm_accuracy": result["metrics"].get("eval_accuracy"),
        "train_pairs": result.get("train_pairs"),
        "eval_pairs": result.get("eval_pairs"),
    }
    previous = version_champion(project=round_.project, kind=VersionKind.REWARD)
    new_pairs = folder / "new_pairs.jsonl"
    if previous is not None and new_pairs.stat().st_size > 0:
        from alignment.training.reward import reward_accuracy

        # How stale the last round's reward model had become: its accuracy on the pairs it never saw.
        metrics["previous_rm_accuracy_on_new"] = reward_accuracy(previous.location, str(new_pairs))

    def apply(locked: AlignmentRound) -> None:
        if locked.reward_version_id is not None:
            return
        locked.reward_version = version_create(
            project=locked.project,
            kind=VersionKind.REWARD,
            champion=True,
            reason=f"trained in round {locked.number}",
            path=stored_path(result["model_path"]),
            round=locked,
            snapshot=locked.snapshot,
            config=config,
            seed=round_.number,
            metrics={**result["metrics"], **{k: v for k, v in metrics.items() if v is not None}},
        )

    return StepOutcome(metrics=metrics, apply=apply)


# --- 3. policy ---------------------------------------------------------------------------------------

POLICY_STRATEGY = {"ppo": "ppo", "dpo": "dpo", "rloo": "rloo"}
# The algorithms that optimise against the round's reward model (the others learn from the pairs).
REWARD_DRIVEN = {"ppo", "rloo"}


def policy_config(round_: AlignmentRound) -> dict[str, Any]:
    plan = round_.plan
    algorithm = plan["algorithm"]
    start = round_.start_policy
    assert start is not None
    config: dict[str, Any] = {
        **(plan.get("policy_config") or {}),
        "strategy": POLICY_STRATEGY[algorithm],
        "model_name": start.location,
        "dataset": str(_round_dir(round_) / "pairs.jsonl"),
        "seed": round_.number,
    }
    reference = plan["reference"]
    if reference != start.location:
        config["reference_model"] = reference  # the leash stays on the base, not on the round's start
    if algorithm in REWARD_DRIVEN:
        assert round_.reward_version is not None
        config["reward_model"] = round_.reward_version.location
    return config


def policy_step(round_: AlignmentRound) -> StepOutcome | None:
    """The new policy, trained from the champion the round started from (PPO by default)."""
    config = policy_config(round_)
    result = run_step_in_claim(round_=round_, step=RunStep.POLICY, config=config, work=_run_library(config))
    if result is None:
        return None
    return StepOutcome(
        metrics={"policy_path": stored_path(result["policy_path"]), "training": result["metrics"]}
    )


# --- 4. evaluate and 5. register ---------------------------------------------------------------------


def prompt_is_held_out(content_hash: str, share: float) -> bool:
    """A fixed share of the project's prompts, by hash: the same prompt is held out in every round."""
    return int(hashlib.sha256(content_hash.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def held_out_prompts(round_: AlignmentRound) -> list[list[dict[str, str]]]:
    share, limit = float(round_.plan["heldout_share"]), int(round_.plan["eval_prompts"])
    prompts = (
        Prompt.objects.filter(project=round_.project).order_by("content_hash").only("content", "content_hash")
    )
    held = [p.turns for p in prompts.iterator() if prompt_is_held_out(p.content_hash, share)]
    return held[:limit]


def evaluate_step(round_: AlignmentRound) -> StepOutcome | None:
    """Mean reward, KL to the reference and reward-model win rate over the start policy, on held-out prompts."""
    plan = round_.plan
    start = round_.start_policy
    assert start is not None and round_.reward_version is not None
    policy_path = model_location(round_.metrics[RoundState.TRAINING_POLICY]["policy_path"])
    prompts = held_out_prompts(round_)
    if not prompts:
        raise StepFailed("no held-out prompts to evaluate on: raise the plan's heldout_share or add prompts")
    folder = _round_dir(round_)
    rows_path = _jsonl_write(folder / "heldout.jsonl", [{"prompt": p} for p in prompts])
    generate = plan.get("generate_config") or {}
    config: dict[str, Any] = {
        "strategy": "evaluate",
        "model_name": policy_path,
        "reference_model": plan["reference"],
        "reward_model": round_.reward_version.location,
        "dataset": str(rows_path),
        "max_prompts": len(prompts),
        "seed": round_.number,
        **{k: generate[k] for k in ("response_length", "temperature") if k in generate},
    }
    if start.location != plan["reference"]:
        config["baseline_model"] = start.location
    result = run_step_in_claim(round_=round_, step=RunStep.EVALUATE, config=config, work=_run_library(config))
    if result is None:
        return None
    figures = result["metrics"]
    n = int(result.get("prompts") or len(prompts))
    win = wilson(float(figures.get("win_rate", 0.0)) * n, n) if "win_rate" in figures else wilson(0, 0)
    metrics = {
        "reward_mean": figures.get("reward_mean"),
        "baseline_reward_mean": figures.get("baseline_reward_mean", figures.get("reference_reward_mean")),
        "kl": figures.get("kl"),
        "response_length": figures.get("response_length_mean"),
        "rm_win_rate": win.as_dict(),
        "warnings": hacking_warnings(round_, figures),
    }
    gate = promotion_decision(plan, win.low, figures.get("kl"))

    def apply(locked: AlignmentRound) -> None:
        if locked.policy_version_id is not None:
            return
        training = locked.metrics.get(RoundState.TRAINING_POLICY, {})
        locked.policy_version = version_create(
            project=locked.project,
            kind=VersionKind.POLICY,
            champion=gate is None,
            reason=gate
            or f"win-rate lower bound {win.low:.3f} > {plan['min_win_rate_low']} and KL within budget",
            status=VersionStatus.REJECTED,
            path=training["policy_path"],
            parent=start,
            round=locked,
            snapshot=locked.snapshot,
            reward_model=locked.reward_version,
            reference=plan["reference"],
            config=policy_config(locked),
            seed=locked.number,
            metrics={"training": training.get("training", {}), "evaluation": metrics},
        )

    return StepOutcome(metrics={**metrics, "promoted": gate is None, "gate": gate or ""}, apply=apply)


def promotion_decision(plan: dict[str, Any], win_low: float | None, kl: float | None) -> str | None:
    """None when the gate promotes; otherwise why not (stored as the rejection's reason)."""
    if win_low is None:
        return "no reward-model win rate was measured"
    if win_low <= float(plan["min_win_rate_low"]):
        return f"win-rate lower bound {win_low:.3f} is not above {plan['min_win_rate_low']}"
    if kl is not None and kl > float(plan["kl_budget"]):
        return f"KL {kl:.3f} is over the budget {plan['kl_budget']}"
    return None


def hacking_warnings(round_: AlignmentRound, figures: dict[str, Any]) -> list[str]:
    """Signs that the policy games its reward model: reward up while KL is over budget, or length jumping."""
    warnings = []
    reward, base = (
        figures.get("reward_mean"),
        figures.get("baseline_reward_mean", figures.get("reference_reward_mean")),
    )
    kl, budget = figures.get("kl"), float(round_.plan["kl_budget"])
    if reward is not None and base is not None and reward > base and kl is not None and kl > budget:
        warnings.append(
            f"reward rose ({base:.3f} → {reward:.3f}) while KL {kl:.2f} is over the budget {budget}"
        )
    length = figures.get("response_length_mean")
    start = round_.start_policy
    before = (start.metrics.get("evaluation") or {}).get("response_length") if start is not None else None
    if length is not None and before and length > 1.5 * before:
        warnings.append(f"mean response length jumped from {before:.0f} to {length:.0f} tokens")
    return warnings


# --- 6. generate -------------------------------------------------------------------------------------


def round_prompts(round_: AlignmentRound) -> list[Prompt]:
    """The pool's prompts for this round's candidates: not held out, fewest model samples first."""
    share, count = float(round_.plan["heldout_share"]), int(round_.plan["prompts_per_round"])
    prompts = (
        Prompt.objects.filter(project=round_.project)
        .annotate(sampled=Count("responses", filter=Q(responses__source=ResponseSource.MODEL)))
        .order_by("sampled", "content_hash")
    )
    chosen: list[Prompt] = []
    for prompt in prompts.iterator(chunk_size=2000):
        if not prompt_is_held_out(prompt.content_hash, share):
            chosen.append(prompt)
            if len(chosen) == count:
                break
    return chosen


def generate_step(round_: AlignmentRound) -> StepOutcome | None:
    """Candidates from the new policy and the start policy, scored, as new comparisons above imported work."""
    from annotate.services.content import NewResponse, content_write

    plan = round_.plan
    new, start = round_.policy_version, round_.start_policy
    assert new is not None and start is not None and round_.reward_version is not None
    prompts = round_prompts(round_)
    if not prompts:
        raise StepFailed("the prompt pool is empty: every prompt is held out, or the project has none")
    folder = _round_dir(round_)
    rows_path = _jsonl_write(folder / "candidate_prompts.jsonl", [{"prompt": p.turns} for p in prompts])
    base = {
        **(plan.get("generate_config") or {}),
        "strategy": "generate",
        "reward_model": round_.reward_version.location,
        "dataset": str(rows_path),
        "seed": round_.number,
    }
    configs = {
        "new": {
            **base,
            "model_name": new.location,
            "num_return_sequences": int(plan["candidates_per_prompt"]),
        },
        "start": {**base, "model_name": start.location, "num_return_sequences": 1},
    }

    def work(out: Path, progress: RunProgress) -> dict[str, Any]:
        from alignment.training import load_config, run_step

        results = {}
        for name, config in configs.items():
            result = run_step(load_config(config), None, out / name, progress=progress)
            results[name] = result.to_dict()
        return results

    results = run_step_in_claim(round_=round_, step=RunStep.GENERATE, config=configs, work=work)
    if results is None:
        return None
    lines = {name: _read_jsonl(Path(results[name]["output_path"])) for name in configs}
    rng = random.Random(f"{round_.project_id}:{round_.number}")
    responses: list[NewResponse] = []
    comparisons: list[Any] = []
    head_to_head = best_worst = 0
    for prompt, new_line, start_line in zip(prompts, lines["new"], lines["start"], strict=True):
        turns = prompt.turns
        new_texts, new_scores = (
            new_line["responses"],
            new_line.get("scores") or [0.0] * len(new_line["responses"]),
        )
        for text, score in zip(new_texts, new_scores, strict=True):
            responses.append(_candidate(turns, text, score, new.pk, round_.number))
        start_text = start_line["responses"][0]
        responses.append(
            _candidate(turns, start_text, (start_line.get("scores") or [0.0])[0], start.pk, round_.number)
        )

        priority, batch = int(plan["comparison_priority"]), round_.batch
        head_to_head += _pair(comparisons, rng, turns, new_texts[0], start_text, batch, priority)
        if len(new_texts) > 1:
            ranked = sorted(zip(new_scores, new_texts, strict=True))
            best_worst += _pair(comparisons, rng, turns, ranked[-1][1], ranked[0][1], batch, priority)
    written = content_write(project=round_.project, responses=responses, comparisons=comparisons)
    return StepOutcome(
        metrics={
            "prompts": len(prompts),
            "responses": len(written.new_responses),
            "comparisons": len(comparisons) - len(written.old_comparisons),
            "new_vs_previous": head_to_head,
            "best_vs_worst": best_worst,
            "reward_mean_new": results["new"]["metrics"].get("reward_mean"),
            "reward_mean_previous": results["start"]["metrics"].get("reward_mean"),
        }
    )


def _pair(
    comparisons: list[Any], rng: random.Random, turns: list[dict[str, str]], a: str, b: str, batch: str, priority: int
) -> int:
    """Add the comparison of two texts (none when they are the same text); stored order random. 1 if added."""
    from annotate.services.content import NewComparison

    if a == b:
        return 0
    first, second = (a, b) if rng.random() < 0.5 else (b, a)
    comparisons.append(NewComparison(prompt=turns, response_a=first, response_b=second, batch=batch, priority=priority))
    return 1


def _candidate(turns: list[dict[str, str]], text: str, score: float, version_id: int, number: int) -> Any:
    from annotate.services.content import NewResponse

    return NewResponse(
        prompt=turns, text=text, source=ResponseSource.MODEL, model_version_id=version_id,
        metadata={"score": score, "round": number},
    )  # fmt: skip


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Generated rows, without NUL in their responses: PostgreSQL text cannot hold it, and a byte-level
    model (the tiny one) can sample byte 0."""
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    for row in rows:
        row["responses"] = [text.replace("\x00", "") for text in row["responses"]]
    return rows


# --- 7. collecting -----------------------------------------------------------------------------------


def round_comparisons(round_: AlignmentRound) -> Any:
    return Comparison.objects.filter(project=round_.project, batch=round_.batch)


def collect_step(round_: AlignmentRound) -> StepOutcome | None:
    """Done once every comparison the round made has its votes; until then, nothing."""
    if round_comparisons(round_).filter(status=ComparisonStatus.OPEN).exists():
        return None
    return collect_outcome(round_, final=False)


def collect_outcome(round_: AlignmentRound, *, final: bool) -> StepOutcome:
    """The human win rate of the round's policy over its start policy, and the ladder of every policy version."""
    new, start = round_.policy_version_id, round_.start_policy_id
    games = model_games(round_.project_id)
    head = [(w, lo, tie) for w, lo, tie in games if {w, lo} == {new, start}]
    wins = sum(0.5 if tie else 1.0 for w, _, tie in head if tie or w == new)
    human = wilson(wins, len(head))
    versions = list(
        ModelVersion.objects.filter(project_id=round_.project_id, kind=VersionKind.POLICY)
        .order_by("number")
        .values_list("pk", flat=True)
    )
    ladder = version_ladder(games, versions)
    numbers = dict(ModelVersion.objects.filter(pk__in=versions).values_list("pk", "number"))
    total = round_comparisons(round_).count()
    voted = round_comparisons(round_).exclude(status=ComparisonStatus.OPEN).count()
    return StepOutcome(
        metrics={
            "human_win_rate": human.as_dict(),
            "ladder": {str(numbers[v]): s for v, s in ladder.items()},
            "comparisons": total,
            "completed": voted,
            "closed_early": final and voted < total,
        }
    )


def model_games(project_id: int) -> list[tuple[int, int, bool]]:
    """(winner version, loser version, tie) of every voted comparison between two different policy versions."""
    rows = (
        Comparison.objects.filter(
            project_id=project_id,
            response_a__model_version__isnull=False,
            response_b__model_version__isnull=False,
            winner__in=[Choice.A, Choice.B, Choice.TIE],
        )
        .exclude(response_a__model_version=F("response_b__model_version"))
        .values_list("winner", "response_a__model_version", "response_b__model_version")
    )
    games = []
    for winner, a, b in rows:
        if winner == Choice.B:
            a, b = b, a
        games.append((a, b, winner == Choice.TIE))
    return games


STEP_WORK: dict[str, Callable[[AlignmentRound], StepOutcome | None]] = {
    RoundState.SNAPSHOTTING: snapshot_step,
    RoundState.TRAINING_REWARD: reward_step,
    RoundState.TRAINING_POLICY: policy_step,
    RoundState.EVALUATING: evaluate_step,
    RoundState.GENERATING: generate_step,
    RoundState.COLLECTING: collect_step,
}
