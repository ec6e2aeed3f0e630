"""Helpers the round tests share: a project with agreed votes, a plan with tiny configs, votes on a round's work."""

from __future__ import annotations

import random
from typing import Any

from django.db.models import F

from alignment.models import AlignmentPlan, AlignmentRound
from alignment.services.plans import plan_get_or_create, plan_update
from annotate.models import Choice, Comparison, ComparisonStatus, Project
from tests.factories import make_comparison, make_judgment

WORDS = ["the", "a", "cat", "dog", "sun", "sea", "tree", "book", "song", "river", "light", "stone", "cloud", "bird", "road"]

# Few steps and short sequences: a whole round on the tiny model in well under a minute on 2 cores.
TINY_REWARD = {"max_steps": 6, "per_device_train_batch_size": 8, "eval_split": 0.2, "max_seq_length": 128}
TINY_PPO = {
    "max_steps": 2,
    "per_device_train_batch_size": 8,
    "response_length": 12,
    "save_steps": 1,
    "max_seq_length": 128,
}
TINY_GENERATE = {"response_length": 12, "max_seq_length": 128}


def sentence(rng: random.Random, words: int = 5) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def make_agreed_pairs(project: Project, count: int, *, seed: int = 0, voters: int = 2) -> list[Comparison]:
    """``count`` completed comparisons whose ``voters`` votes all chose the lowercase answer (stored as A or B)."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        good, bad = sentence(rng), sentence(rng).upper()
        a_wins = rng.random() < 0.5
        comparison = make_comparison(
            project,
            prompt=f"Say something {i} {sentence(rng, 2)}",
            a=good if a_wins else bad,
            b=bad if a_wins else good,
        )
        choice = Choice.A if a_wins else Choice.B
        for _ in range(voters):
            make_judgment(comparison, None, choice)
        Comparison.objects.filter(pk=comparison.pk).update(
            winner=choice, agreement=1.0, status=ComparisonStatus.COMPLETE, slots_taken=F("vote_count")
        )
        made.append(comparison)
    return made


def make_tiny_plan(project: Project, **fields: Any) -> AlignmentPlan:
    plan = plan_get_or_create(project=project)
    values: dict[str, Any] = {
        "reward_config": TINY_REWARD,
        "policy_config": TINY_PPO,
        "generate_config": TINY_GENERATE,
        "prompts_per_round": 6,
        "eval_prompts": 8,
        "heldout_share": 0.3,
        "min_new_pairs": 10,
        "cooldown_minutes": 0,
        **fields,
    }
    return plan_update(plan=plan, **values)


def vote_round(round_: AlignmentRound, choose: Any) -> int:
    """Vote on every comparison the round made: ``choose(comparison) -> Choice``; returns how many."""
    count = 0
    for comparison in Comparison.objects.filter(project=round_.project, batch=round_.batch):
        choice = choose(comparison)
        make_judgment(comparison, None, choice)
        Comparison.objects.filter(pk=comparison.pk).update(
            winner=choice, agreement=1.0, status=ComparisonStatus.COMPLETE
        )
        count += 1
    return count
