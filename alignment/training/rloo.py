"""REINFORCE leave-one-out (TRL `RLOOTrainer`) with our reward model(s) as the reward function.

The reward models are wrapped as one text-in reward function, so their calibration sidecars and
weights apply exactly as in PPO, and they may use another tokenizer than the policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignment.training.config import RLOOConfig
from alignment.training.results import PolicyResult, Progress, begin_step
from alignment.training.rows import Rows, as_rows, prompts_of
from alignment.training.scoring import RewardFn


class RLOOResult(PolicyResult):
    """Outcome of RLOO: the policy folder and the trainer's log history (with mean reward per step)."""


def train_rloo(
    config: RLOOConfig,
    rows: Rows | None,
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
    reward_fn: RewardFn | None = None,
) -> RLOOResult:
    """Optimise the policy with RLOO against the reward; the saved policy has adapters merged (unless 4-bit)."""
    import torch
    from trl import RLOOConfig as TRLRLOOConfig
    from trl import RLOOTrainer

    from alignment.training.models import load_lm_and_tokenizer, prompt_budget, seq_length, truncate_left
    from alignment.training.scoring import step_reward
    from alignment.training.trainer_args import common_args, step_start, train_policy

    config, ctx = begin_step(config, out_dir, progress, reward_fn=reward_fn is not None)
    out = ctx.out
    prompts = prompts_of(as_rows(rows, config.dataset))
    memory = step_start(config, "rloo", progress)

    torch.manual_seed(config.seed)
    combined = step_reward(config, reward_fn)

    def concord_reward(prompts: list[str], completions: list[str], **_: Any) -> list[float | None]:
        return [float(s) for s in combined(list(prompts), list(completions))]

    model, tokenizer = load_lm_and_tokenizer(config, padding_side="left", trainable=True)
    # TRL's RLOO does not truncate prompts: keep the end of each conversation within the budget.
    budget = prompt_budget(seq_length(config), config.response_length)
    prompts = [truncate_left(tokenizer, p, budget) for p in prompts]
    args = TRLRLOOConfig(
        **common_args(config, out),
        num_generations=config.num_generations,
        max_completion_length=config.response_length,
        temperature=config.temperature,
        beta=config.kl_coef,
        remove_unused_columns=False,
    )
    return train_policy(
        ctx,
        RLOOTrainer,
        RLOOResult,
        config=config,
        model=model,
        tokenizer=tokenizer,
        args=args,
        train_rows=[{"prompt": p} for p in prompts],
        eval_rows=None,
        memory=memory,
        series="reward",
        reward_funcs=concord_reward,
    )
