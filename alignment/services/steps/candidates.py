"""Step 6: new candidates from the new and the previous policy, as comparisons for annotators."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from django.db.models import Count, Q

from alignment.models import AlignmentRound, RunStep
from alignment.services.rounds import StepOutcome
from alignment.services.runs import RunProgress, StepFailed, run_step_in_claim
from alignment.services.steps.evaluation import prompt_is_held_out
from alignment.services.steps.folder import jsonl_read, jsonl_write, round_dir
from annotate.models import Prompt, ResponseSource

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
    folder = round_dir(round_)
    rows_path = jsonl_write(folder / "candidate_prompts.jsonl", [{"prompt": p.turns} for p in prompts])
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
    lines = {name: jsonl_read(Path(results[name]["output_path"])) for name in configs}
    for line in (*lines["new"], *lines["start"]):
        line["responses"] = [sampled_text(t) for t in line["responses"]]
    rng = random.Random(f"{round_.project_id}:{round_.number}")
    responses: list[NewResponse] = []
    comparisons: list[Any] = []
    head_to_head = best_worst = 0
    # The prompt of each output line, not this delivery's pick: a redelivered message reuses the stored
    # run's output, while round_prompts (fewest samples first) now picks other prompts, since the first
    # delivery's samples were written.
    for new_line, start_line in zip(lines["new"], lines["start"], strict=True):
        turns = new_line["prompt"]
        if start_line["prompt"] != turns:
            raise StepFailed("the two policies' samples are not of the same prompts")
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
            "prompts": len(lines["new"]),
            "responses": len(written.new_responses),
            "comparisons": len(comparisons) - len(written.old_comparisons),
            "new_vs_previous": head_to_head,
            "best_vs_worst": best_worst,
            "reward_mean_new": results["new"]["metrics"].get("reward_mean"),
            "reward_mean_previous": results["start"]["metrics"].get("reward_mean"),
        }
    )


def _pair(
    comparisons: list[Any],
    rng: random.Random,
    turns: list[dict[str, str]],
    a: str,
    b: str,
    batch: str,
    priority: int,
) -> int:
    """Add the comparison of two texts (none when they are the same text); stored order random. 1 if added."""
    from annotate.services.content import NewComparison

    if a == b:
        return 0
    first, second = (a, b) if rng.random() < 0.5 else (b, a)
    comparisons.append(
        NewComparison(prompt=turns, response_a=first, response_b=second, batch=batch, priority=priority)
    )
    return 1


def sampled_text(text: str) -> str:
    """A sampled response as the database and an annotator's page can hold it: no NUL, no lone surrogates.

    A small or early policy samples any byte; PostgreSQL text refuses NUL, and UTF-8 refuses lone
    surrogates, which an import would have refused too (annotate.importing).
    """
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _candidate(turns: list[dict[str, str]], text: str, score: float, version_id: int, number: int) -> Any:
    from annotate.services.content import NewResponse

    return NewResponse(
        prompt=turns, text=text, source=ResponseSource.MODEL, model_version_id=version_id,
        metadata={"score": score, "round": number},
    )  # fmt: skip
