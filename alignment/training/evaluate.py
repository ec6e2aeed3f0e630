"""Evaluation of a policy: mean reward, KL to a reference, reward-model win rate over a baseline (the
reference, or e.g. the current champion) with its Wilson interval, response length, and reward-model
accuracy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment.training.config import EvaluateConfig
from alignment.training.results import Progress, StepResult, begin_step, emit, prompt_batches
from alignment.training.rows import Rows, as_rows, prompt_text, response_text
from alignment.training.scoring import RewardFn


@dataclass
class EvaluateResult(StepResult):
    """Evaluation figures in `metrics`: reward_mean, response_length_mean, kl, win_rate (with win_rate_low and
    win_rate_high, its Wilson 95% interval), baseline_reward_mean (and reference_reward_mean when the
    baseline is the reference), rm_accuracy."""

    prompts: int = 0
    pairs: int = 0
    comparisons: int = 0
    """Policy-versus-baseline judgements behind the win rate: prompts × samples_per_prompt."""


def evaluate(
    config: EvaluateConfig,
    rows: Rows | None,
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
    reward_fn: RewardFn | None = None,
) -> EvaluateResult:
    """Measure the policy on the rows' prompts (and the reward model on rows that carry chosen/rejected)."""
    import torch

    from alignment.training.locate import prompt_budget, seq_length
    from alignment.training.models import load_causal_lm, load_lm_and_tokenizer
    from alignment.training.reward import pair_accuracy
    from alignment.training.sampling import response_mask, sample_texts, sequence_logprobs
    from alignment.training.scoring import optional_step_reward

    config, ctx = begin_step(config, out_dir, progress, reward_fn=reward_fn is not None)
    data = as_rows(rows, config.dataset)
    prompts = [prompt_text(r.get("prompt", r.get("query"))) for r in data if r.get("prompt", r.get("query"))]
    prompts = prompts[: config.max_prompts] if config.max_prompts else prompts
    pairs = [
        {
            "prompt": prompt_text(r["prompt"]),
            "chosen": response_text(r["chosen"]),
            "rejected": response_text(r["rejected"]),
        }
        for r in data
        if r.get("chosen") and r.get("rejected") and r.get("prompt")
    ]
    emit(progress, "start", step="evaluate", total_steps=len(prompts), unit="prompt")
    torch.manual_seed(config.seed)
    reward = optional_step_reward(config, reward_fn)
    policy, tokenizer = load_lm_and_tokenizer(config, padding_side="left")
    reference = load_causal_lm(config, config.reference_model).eval() if config.reference_model else None
    baseline_name = config.baseline_model or config.reference_model
    baseline = reference
    if baseline_name is not None and baseline_name != config.reference_model:
        baseline = load_causal_lm(config, baseline_name).eval()
    eos_id, pad_id = int(tokenizer.eos_token_id), int(tokenizer.pad_token_id)
    max_prompt = prompt_budget(seq_length(config), config.response_length)
    generator = torch.Generator().manual_seed(config.seed)
    policy_scores: list[float] = []
    baseline_scores: list[float] = []
    kls: list[float] = []
    lengths: list[float] = []
    for _, chunk in prompt_batches(prompts, config.batch_size, progress):
        n = config.samples_per_prompt
        common: dict[str, Any] = {
            "n": n,
            "response_length": config.response_length,
            "temperature": config.temperature,
            "max_prompt_tokens": max_prompt,
            "batch_size": len(chunk),
            "generator": generator,
        }
        texts, query_ids, responses = sample_texts(policy, tokenizer, chunk, **common)
        mask, has_eos = response_mask(responses, eos_id)
        lengths.extend(float(n) for n in mask.sum(1) - has_eos.float())  # tokens before the EOS
        if reference is not None:
            # KL(π‖π_ref) estimated on the policy's own samples: E[log π − log π_ref] (Schulman's k1).
            kl = sequence_logprobs(
                policy, query_ids, responses, eos_id, pad_id, config.temperature
            ) - sequence_logprobs(reference, query_ids, responses, eos_id, pad_id, config.temperature)
            kls.extend(float(k) for k in kl)
        if reward is not None:
            each = [p for p in chunk for _ in range(n)]  # the prompt of every sample, in sampling order
            policy_scores.extend(float(s) for s in reward(each, [t for ts in texts for t in ts]))
            if baseline is not None:
                baseline_texts, _, _ = sample_texts(baseline, tokenizer, chunk, **common)
                baseline_scores.extend(
                    float(s) for s in reward(each, [t for ts in baseline_texts for t in ts])
                )

    metrics: dict[str, float] = {}
    if policy_scores:
        metrics["reward_mean"] = sum(policy_scores) / len(policy_scores)
    if lengths:
        metrics["response_length_mean"] = sum(lengths) / len(lengths)
    if kls:
        metrics["kl"] = sum(kls) / len(kls)
    if baseline_scores:
        metrics["baseline_reward_mean"] = sum(baseline_scores) / len(baseline_scores)
        if baseline is reference:
            metrics["reference_reward_mean"] = metrics["baseline_reward_mean"]
        wins = [
            1.0 if a > b else 0.5 if a == b else 0.0
            for a, b in zip(policy_scores, baseline_scores, strict=True)
        ]
        metrics["win_rate"] = sum(wins) / len(wins)
        metrics["win_rate_low"], metrics["win_rate_high"] = wilson_interval(sum(wins), len(wins))
    if pairs and reward is not None:
        metrics["rm_accuracy"] = pair_accuracy(reward, pairs)
    return ctx.finish(
        EvaluateResult,
        metrics=metrics,
        prompts=len(prompts),
        pairs=len(pairs),
        comparisons=len(baseline_scores),
    )


def wilson_interval(wins: float, n: int, *, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95% by default) of a win rate of `wins` out of `n` (ties counted as half)."""
    if n == 0:
        return float("nan"), float("nan")
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
