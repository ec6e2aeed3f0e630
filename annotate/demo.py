"""A demo project made from templates: a few hundred prompts, candidate responses and accounts.

Deterministic (seeded) so that two runs load the same data; loading twice changes
nothing because prompts, responses and comparisons are content-addressed. The project
also gets imported verdicts on some prompts (so a round has agreed pairs to train on
before anyone has voted) and an alignment plan with tiny configs: a round on the
built-in tiny model finishes in about a minute on a laptop, started from the rounds page.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from annotate.models import Choice, Project, Role
from annotate.services.content import comparison_get_or_create, prompt_get_or_create, response_get_or_create
from annotate.services.projects import membership_set

DEMO_PASSWORD = "concord-demo"
DEMO_ACCOUNTS = (("admin", True), ("alice", False), ("bob", False))

GUIDELINES = """\
**Pick the response a careful, helpful expert would give.**

1. Correct beats fluent: check facts and arithmetic.
2. Helpful beats evasive, but harmful requests deserve a polite refusal.
3. Shorter is better when both are equally correct.
4. Use *tie* when neither is better, *both bad* when neither is acceptable.
"""

TOPICS = [
    ("the water cycle", "water evaporates, condenses into clouds and falls as precipitation"),
    ("photosynthesis", "plants turn light, water and carbon dioxide into sugar and oxygen"),
    ("compound interest", "interest is earned on both the principal and past interest"),
    ("a hash table", "keys are hashed to buckets so lookups take constant time on average"),
    ("the French Revolution", "it began in 1789 and ended the absolute monarchy in France"),
    ("vaccines", "they train the immune system to recognise a pathogen without causing the disease"),
    ("binary search", "it halves a sorted search interval at every step, so it takes log n steps"),
    ("plate tectonics", "the lithosphere is split into plates that move on the mantle"),
    ("inflation", "a general rise in prices that reduces the purchasing power of money"),
    ("recursion", "a function that calls itself on a smaller instance of the problem"),
    ("the immune system", "it defends the body with innate and adaptive responses"),
    ("black holes", "regions where gravity is so strong that not even light escapes"),
    ("supply and demand", "prices settle where the quantity supplied equals the quantity demanded"),
    ("TCP handshakes", "SYN, SYN-ACK and ACK set up a reliable connection"),
    ("the Pythagorean theorem", "in a right triangle a squared plus b squared equals c squared"),
    ("git rebase", "it replays your commits on top of another base commit"),
    ("climate change", "greenhouse gases trap heat and raise average global temperatures"),
    ("sourdough", "wild yeast and lactic bacteria leaven the bread and sour it"),
    ("the Roman Empire", "it lasted in the west until 476 and in the east until 1453"),
    ("neural networks", "layers of weighted sums and nonlinearities trained by gradient descent"),
]
ASKS = [
    "Explain {topic} to a ten-year-old.",
    "Give me a two-sentence summary of {topic}.",
    "What is the most common misconception about {topic}?",
    "Write a short paragraph about {topic} for a school newsletter.",
    "How would you explain {topic} to a busy executive?",
    "List three key facts about {topic}.",
    "Why does {topic} matter in everyday life?",
    "Quiz me with one question about {topic}, then give the answer.",
]


# Few steps and short samples: the whole round (snapshot to collecting) in about a minute on 2 cores.
DEMO_PLAN: dict[str, Any] = {
    "reward_config": {"max_steps": 20, "per_device_train_batch_size": 8, "eval_split": 0.2, "max_seq_length": 128},
    "policy_config": {"max_steps": 4, "per_device_train_batch_size": 8, "response_length": 16, "save_steps": 2,
                      "max_seq_length": 128},
    "generate_config": {"response_length": 16, "max_seq_length": 128},
    "prompts_per_round": 8,
    "eval_prompts": 8,
    "heldout_share": 0.2,
    "min_new_pairs": 50,
    "cooldown_minutes": 0,
}  # fmt: skip
# Prompts that get an imported verdict (the right answer over the wrong one).
DEMO_VERDICTS = 60


@dataclass(frozen=True)
class DemoSummary:
    project: Project
    prompts: int
    comparisons: int
    usernames: tuple[str, ...]
    verdicts: int = 0


def _good(topic: str, fact: str) -> str:
    return f"In short, {fact}. That is the core idea behind {topic}; the rest follows from it."


def _wrong(topic: str) -> str:
    return f"{topic.capitalize()} is mostly a myth; scientists stopped studying it years ago."


def _responses(rng: random.Random, topic: str, fact: str) -> list[str]:
    good = _good(topic, fact)
    detailed = (
        f"**{topic.capitalize()}**\n\n- Key idea: {fact}.\n- Why it matters: it explains many things we "
        f"see every day.\n- Tip: try explaining {topic} back in your own words."
    )
    vague = f"{topic.capitalize()} is a complicated subject and people disagree about it a lot."
    wrong = _wrong(topic)
    options = [good, detailed, vague, wrong]
    rng.shuffle(options)
    return options[: rng.choice([2, 3, 3, 4])]


@transaction.atomic
def demo_load(*, slug: str = "demo", prompts: int = 300, seed: int = 7) -> DemoSummary:
    """The demo project with its prompts, responses, comparisons, gold items and accounts, idempotently."""
    rng = random.Random(seed)
    project, _ = Project.objects.get_or_create(
        slug=slug, defaults={"name": "Demo: helpful answers", "guidelines": GUIDELINES, "gold_rate": 0.05}
    )
    User = get_user_model()
    for username, is_staff in DEMO_ACCOUNTS:
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": is_staff})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_superuser = is_staff
            user.save()
        membership_set(project=project, user=user, role=Role.ADMIN if is_staff else Role.ANNOTATOR)

    comparisons = 0
    verdicts: list[dict[str, Any]] = []
    for n in range(prompts):
        topic, fact = TOPICS[n % len(TOPICS)]
        ask = ASKS[(n // len(TOPICS)) % len(ASKS)].format(topic=topic)
        if n % 5 == 4:  # every fifth prompt is a short conversation
            content: str | list[dict[str, str]] = [
                {"role": "user", "content": f"I'm studying {topic} (question {n})."},
                {"role": "assistant", "content": "Happy to help. What would you like to know?"},
                {"role": "user", "content": ask},
            ]
        else:
            content = f"{ask} (#{n})"
            if len(verdicts) < DEMO_VERDICTS:
                verdicts.append({"prompt": content, "chosen": _good(topic, fact), "rejected": _wrong(topic)})
        prompt, _ = prompt_get_or_create(project=project, content=content)
        responses = [response_get_or_create(prompt=prompt, text=t)[0] for t in _responses(rng, topic, fact)]
        for i, first in enumerate(responses):
            for second in responses[i + 1 :]:
                comparisons += comparison_get_or_create(
                    prompt=prompt, response_a=first, response_b=second, batch=f"batch-{n // 100 + 1}"
                )[1]
    # A handful of gold items with a known answer: the correct response against the wrong one.
    for topic, fact in TOPICS[:10]:
        prompt, _ = prompt_get_or_create(project=project, content=f"Gold check: what do you know about {topic}?")
        right = response_get_or_create(prompt=prompt, text=f"{fact.capitalize()}.")[0]
        wrong = response_get_or_create(prompt=prompt, text=f"{topic.capitalize()} was disproved in 1850.")[0]
        comparison_get_or_create(prompt=prompt, response_a=right, response_b=wrong, is_gold=True, gold_answer=Choice.A)
    imported = _verdicts_import(project, verdicts)
    demo_plan_ensure(project=project)
    return DemoSummary(
        project=project,
        prompts=project.prompts.count(),
        comparisons=project.comparisons.count(),
        usernames=tuple(name for name, _ in DEMO_ACCOUNTS),
        verdicts=imported,
    )


def _verdicts_import(project: Project, verdicts: list[dict[str, Any]]) -> int:
    """The verdicts as preference pairs through the import (once: a second load imports nothing)."""
    from annotate.models import Judgment
    from annotate.services.imports import import_file

    if Judgment.objects.filter(comparison__project=project, is_imported=True).exists():
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo-verdicts.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in verdicts), encoding="utf-8")
        import_file(project=project, path=path, kind="pairs", batch="demo-verdicts")
    return len(verdicts)


def demo_plan_ensure(*, project: Project) -> None:
    """The project's alignment plan with the tiny demo configs, unless an admin has set configs already."""
    # The demo is the one place in annotate that sets up the alignment side: it loads a whole product.
    from alignment.services.plans import plan_get_or_create, plan_update

    plan = plan_get_or_create(project=project)
    if not plan.reward_config:
        plan_update(plan=plan, **DEMO_PLAN)
