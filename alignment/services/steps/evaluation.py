"""Steps 4–5: the new policy on held-out prompts, its version, and the promotion gate."""

from __future__ import annotations

import hashlib
from typing import Any

from alignment.models import AlignmentRound, RoundState, RunStep, VersionKind, VersionStatus
from alignment.models.versions import model_location
from alignment.services.rounds import StepOutcome
from alignment.services.runs import StepFailed, run_step_in_claim
from alignment.services.steps.folder import jsonl_write, library_work, round_dir
from alignment.services.steps.training import policy_config
from alignment.services.versions import version_champion, version_create
from alignment.stats import wilson
from annotate.models import Prompt

# --- 4. evaluate and 5. register ---------------------------------------------------------------------


# Responses per held-out prompt from the new policy and from the champion each, judged in pairs by the
# round's reward model: with one each, 64 prompts gave the gate's lower bound so wide that bench/loop.py
# saw policies the oracle prefers 0.75–0.81 of the time rejected; four each is 256 judgements.
EVAL_SAMPLES_PER_PROMPT = 4


def prompt_is_held_out(content_hash: str, share: float) -> bool:
    """A fixed share of the project's prompts, by hash: the same prompt is held out in every round."""
    return int(hashlib.sha256(content_hash.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def held_out_prompts(round_: AlignmentRound) -> list[list[dict[str, str]]]:
    share, limit = float(round_.plan["heldout_share"]), int(round_.plan["eval_prompts"])
    prompts = (
        Prompt.objects.filter(project=round_.project).order_by("content_hash").only("content", "content_hash")
    )
    held: list[list[dict[str, str]]] = []
    for prompt in prompts.iterator():
        if len(held) == limit:
            break
        if prompt_is_held_out(prompt.content_hash, share):
            held.append(prompt.turns)
    return held


def evaluate_step(round_: AlignmentRound) -> StepOutcome | None:
    """Mean reward, KL to the reference and reward-model win rate over the start policy, on held-out prompts."""
    plan = round_.plan
    start = round_.start_policy
    assert start is not None and round_.reward_version is not None
    policy_path = model_location(round_.metrics[RoundState.TRAINING_POLICY]["policy_path"])
    prompts = held_out_prompts(round_)
    if not prompts:
        raise StepFailed("no held-out prompts to evaluate on: raise the plan's heldout_share or add prompts")
    folder = round_dir(round_)
    rows_path = jsonl_write(folder / "heldout.jsonl", [{"prompt": p} for p in prompts])
    generate = plan.get("generate_config") or {}
    config: dict[str, Any] = {
        "strategy": "evaluate",
        "model_name": policy_path,
        "reference_model": plan["reference"],
        "reward_model": round_.reward_version.location,
        "dataset": str(rows_path),
        "max_prompts": len(prompts),
        "samples_per_prompt": EVAL_SAMPLES_PER_PROMPT,
        "seed": round_.number,
        **{k: generate[k] for k in ("response_length", "temperature") if k in generate},
    }
    if start.location != plan["reference"]:
        config["baseline_model"] = start.location
    result = run_step_in_claim(round_=round_, step=RunStep.EVALUATE, config=config, work=library_work(config))
    if result is None:
        return None
    figures = result["metrics"]
    n = int(result.get("comparisons", 0))  # prompts × samples; 0 (and no win rate) without a baseline
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
    outcome = {**metrics, "promoted": gate is None, "gate": gate or ""}

    def apply(locked: AlignmentRound) -> None:
        if locked.policy_version_id is not None:
            return
        training = locked.metrics.get(RoundState.TRAINING_POLICY, {})
        champion = version_champion(project=locked.project, kind=VersionKind.POLICY)
        promote = gate is None and (champion is None or champion.pk == start.pk)
        reason = gate or f"win-rate lower bound {win.low:.3f} > {plan['min_win_rate_low']} and KL within budget"
        if gate is None and champion is not None and not promote:
            # Someone made another version champion while the round ran: the new policy was measured
            # against the start policy, not against it, so it waits for a person to compare the two.
            reason = (
                f"passed the gate against {start.label}, but {champion.label} was made champion during the "
                "round; compare the two and promote by hand"
            )
            outcome.update(promoted=False, gate=reason)
        locked.policy_version = version_create(
            project=locked.project,
            kind=VersionKind.POLICY,
            champion=promote,
            reason=reason,
            status=VersionStatus.REJECTED if gate else VersionStatus.CANDIDATE,
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

    return StepOutcome(metrics=outcome, apply=apply)


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
