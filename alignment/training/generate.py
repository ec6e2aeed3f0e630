"""Batched sampling of n responses per prompt, scored and optionally reduced to the best by reward."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment.training.config import GenerateConfig
from alignment.training.results import Progress, StepResult, begin_step, emit, prompt_batches
from alignment.training.rows import Rows, as_rows, prompts_of
from alignment.training.scoring import RewardFn


@dataclass
class GenerateResult(StepResult):
    """Where the responses went: one JSON line per prompt with its responses, scores and best response.

    Each line's ``prompt`` is the row's prompt as given (text, or a list of chat turns), so the
    file imports into Concord as it is (``kind="responses"``), onto the same prompts.
    """

    output_path: str = ""
    prompts: int = 0
    responses: int = 0


def generate(
    config: GenerateConfig,
    rows: Rows | None,
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
    reward_fn: RewardFn | None = None,
) -> GenerateResult:
    """Write `responses.jsonl`: n samples per prompt with scores; best_of_n keeps the highest-scoring one."""
    import torch

    from alignment.training.locate import prompt_budget, seq_length
    from alignment.training.models import load_lm_and_tokenizer
    from alignment.training.sampling import sample_texts
    from alignment.training.scoring import optional_step_reward

    config, ctx = begin_step(config, out_dir, progress, reward_fn=reward_fn is not None)
    out = ctx.out
    given = as_rows(rows, config.dataset)
    prompts = prompts_of(given)
    # The prompts as the rows gave them (prompts_of has checked that each row has one).
    originals = [row.get("prompt", row.get("query")) for row in given]
    emit(progress, "start", step="generate", total_steps=len(prompts), unit="prompt")
    torch.manual_seed(config.seed)
    model, tokenizer = load_lm_and_tokenizer(config, padding_side="left")
    if torch.cuda.is_available():
        model.to("cuda")
    reward = optional_step_reward(config, reward_fn)
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(config.seed)
    max_prompt = prompt_budget(seq_length(config), config.response_length)
    path = out / "responses.jsonl"
    total = 0
    score_sum = best_sum = 0.0
    with path.open("w", encoding="utf-8") as handle:
        for start, chunk in prompt_batches(prompts, config.batch_size, progress):
            chunk_given = originals[start : start + config.batch_size]
            texts, _, _ = sample_texts(
                model,
                tokenizer,
                chunk,
                n=config.num_return_sequences,
                response_length=config.response_length,
                temperature=config.temperature,
                max_prompt_tokens=max_prompt,
                batch_size=len(chunk),
                generator=generator,
            )
            for prompt, original, responses in zip(chunk, chunk_given, texts, strict=True):
                line: dict[str, Any] = {"prompt": original, "responses": responses}
                if reward is not None:
                    scores = [float(s) for s in reward([prompt] * len(responses), responses)]
                    best = max(range(len(scores)), key=scores.__getitem__)
                    line.update(scores=scores, best=responses[best], best_score=scores[best])
                    score_sum += sum(scores)
                    best_sum += scores[best]
                    if config.best_of_n:
                        line["responses"], line["scores"] = [responses[best]], [scores[best]]
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
                total += len(line["responses"])
    metrics: dict[str, float] = {}
    if reward is not None and prompts:
        metrics["reward_mean"] = score_sum / (len(prompts) * config.num_return_sequences)
        metrics["best_of_n_reward_mean"] = best_sum / len(prompts)
    return ctx.finish(
        GenerateResult,
        metrics=metrics,
        output_path=str(path),
        prompts=len(prompts),
        responses=total,
    )
