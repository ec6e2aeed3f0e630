"""REINFORCE leave-one-out (TRL `RLOOTrainer`) with our reward model(s) as the reward function.

The reward models are wrapped as one text-in reward function, so their calibration sidecars and
weights apply exactly as in PPO, and they may use another tokenizer than the policy.

TRL 1.16's RLOOTrainer takes no reference model: it uses the policy with adapters disabled, or reloads
the policy's own path. A `reference_model` is set on the built trainer instead (`_with_reference`),
prepared as TRL prepares its own, which its loss then uses.
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

    from alignment.training.locate import prompt_budget, seq_length, truncate_left
    from alignment.training.models import load_lm_and_tokenizer
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
    trainer_type: type = RLOOTrainer
    if config.reference_model is not None:
        trainer_type = _with_reference(RLOOTrainer, config)
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
        trainer_type,
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


def _with_reference(base: type, config: RLOOConfig) -> type:
    """`base` (RLOOTrainer) whose KL term is to `config.reference_model`, frozen, instead of the start policy."""
    from trl.trainer.utils import add_fused_lm_head, disable_dropout_in_model

    from alignment.training.models import load_reference

    class WithReference(base):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self.beta == 0.0:
                return  # no KL term: TRL never reads a reference
            reference = load_reference(config, str(config.reference_model), self.processing_class)
            disable_dropout_in_model(reference)
            add_fused_lm_head(reference, temperature=self.temperature)
            # Replaces the copy TRL loaded from the policy's path with full weights (freed here), or the
            # adapter-disabled policy it uses with LoRA.
            self.ref_model = self.accelerator.prepare_model(reference, evaluation_mode=True)

    return WithReference
