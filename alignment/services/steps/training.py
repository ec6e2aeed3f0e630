"""Steps 1–3: the snapshot of every agreed pair so far, the reward model, the policy."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from alignment.models import AlignmentRound, RoundState, RunStep, VersionKind
from alignment.services.rounds import StepOutcome
from alignment.services.runs import StepFailed, run_step_in_claim
from alignment.services.steps.folder import MIN_PAIRS, jsonl_write, library_work, round_dir
from alignment.services.versions import stored_path, version_champion, version_create
from annotate.formats.columns import schema_vote_kinds
from annotate.formats.unpaired import LABELS
from annotate.models import ExportSchema, SnapshotPair
from annotate.models.snapshots import VoteKind

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
    # Preferences only: a snapshot that keeps both-bad and tie rows (for KTO) counts them in pair_count,
    # but the reward model trains on chosen/rejected pairs.
    preferences = int(snapshot.counts.get("pairs", snapshot.pair_count))
    if preferences < MIN_PAIRS:
        # Not the round's snapshot after all: a retry, once more votes are in, takes a new one.
        AlignmentRound.objects.filter(pk=round_.pk, snapshot=snapshot).update(snapshot=None)
        raise StepFailed(
            f"snapshot v{snapshot.version} has {preferences} pairs after the plan's filters; "
            f"a round needs at least {MIN_PAIRS} (retry once there are more)"
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
    # KTO's desirable/undesirable rows (both-bad votes too, which pairwise methods throw away), only for a
    # KTO plan; labelled as the unpaired export labels them.
    kto = locked.plan.get("algorithm") == "kto"
    unpaired_kinds = schema_vote_kinds(ExportSchema.TRL_UNPAIRED)
    rows, new_rows, unpaired = [], [], []
    for pair in SnapshotPair.objects.filter(snapshot=snapshot).order_by("id").iterator(chunk_size=2000):
        if pair.vote_kind == VoteKind.PREFERENCE:
            row = {"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected}
            rows.append(row)
            if pair.comparison_id not in seen:
                new_rows.append(row)
        if kto and pair.vote_kind in unpaired_kinds:
            first, second = LABELS[pair.vote_kind]
            unpaired += [
                _unpaired(pair.prompt, pair.chosen, first),
                _unpaired(pair.prompt, pair.rejected, second),
            ]
    folder = round_dir(round_)
    jsonl_write(folder / "pairs.jsonl", rows)
    jsonl_write(folder / "new_pairs.jsonl", new_rows)
    if kto:
        jsonl_write(folder / "unpaired.jsonl", unpaired)
    return StepOutcome(
        metrics={
            "snapshot": snapshot.pk,
            "version": snapshot.version,
            "pairs": len(rows),
            "new_pairs": len(new_rows),
            **({"unpaired_rows": len(unpaired)} if kto else {}),
        }
    )


def _unpaired(prompt: Any, completion: str, label: bool) -> dict[str, Any]:
    return {"prompt": prompt, "completion": completion, "label": label}


# --- 2. reward model ---------------------------------------------------------------------------------


def reward_step(round_: AlignmentRound) -> StepOutcome | None:
    """A reward model trained on the snapshot; its held-out accuracy, and the previous one's on the new pairs."""
    plan = round_.plan
    folder = round_dir(round_)
    config = {
        **(plan.get("reward_config") or {}),
        "strategy": "reward",
        "model_name": plan["reward_base"],
        "dataset": str(folder / "pairs.jsonl"),
        "seed": round_.number,
    }
    result = run_step_in_claim(round_=round_, step=RunStep.REWARD, config=config, work=library_work(config))
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

POLICY_STRATEGY = {"ppo": "ppo", "dpo": "dpo", "rloo": "rloo", "kto": "kto", "orpo": "orpo"}
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
        # KTO reads desirable/undesirable answers (both-bad votes too, when the snapshot keeps them).
        "dataset": str(round_dir(round_) / ("unpaired.jsonl" if algorithm == "kto" else "pairs.jsonl")),
        "seed": round_.number,
    }
    reference = plan["reference"]
    if reference != start.location and _has_key(config["strategy"], "reference_model"):
        # The leash stays on the base, not on the round's start. ORPO has no reference model at all.
        config["reference_model"] = reference
    if algorithm in REWARD_DRIVEN:
        assert round_.reward_version is not None
        config["reward_model"] = round_.reward_version.location
    return config


def _has_key(strategy: str, key: str) -> bool:
    from alignment.training.config import CONFIG_CLASSES, STRATEGIES

    return key in CONFIG_CLASSES[STRATEGIES[strategy]].__dataclass_fields__


def policy_step(round_: AlignmentRound) -> StepOutcome | None:
    """The new policy, trained from the champion the round started from (PPO by default)."""
    config = policy_config(round_)
    result = run_step_in_claim(round_=round_, step=RunStep.POLICY, config=config, work=library_work(config))
    if result is None:
        return None
    return StepOutcome(
        metrics={"policy_path": stored_path(result["policy_path"]), "training": result["metrics"]}
    )
