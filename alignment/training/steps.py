"""One entry point for every step: what a Celery task calls with a stored config."""

from __future__ import annotations

from pathlib import Path

from alignment.training.config import (
    DPOConfig,
    EvaluateConfig,
    GenerateConfig,
    PPOConfig,
    RewardConfig,
    RLOOConfig,
    SFTConfig,
    StepConfig,
)
from alignment.training.results import Progress, StepResult
from alignment.training.rows import Rows
from alignment.training.scoring import RewardFn


def run_step(
    config: StepConfig,
    rows: Rows | None,
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
    reward_fn: RewardFn | None = None,
) -> StepResult:
    """Run the step `config` is for and return its result (see each step's result dataclass).

    The config is checked against its models first (`models.preflight`: every model can be found, the
    lengths fit, PPO and RLOO have a reward), before torch or any weights load.
    """
    from alignment.training.models import preflight

    config = preflight(config, reward_fn=reward_fn is not None)
    if isinstance(config, SFTConfig):
        from alignment.training.sft import train_sft

        return train_sft(config, rows, out_dir, progress=progress)
    if isinstance(config, RewardConfig):
        from alignment.training.reward import train_reward

        return train_reward(config, rows, out_dir, progress=progress)
    if isinstance(config, PPOConfig):
        from alignment.training.ppo import train_ppo

        return train_ppo(config, rows, out_dir, progress=progress, reward_fn=reward_fn)
    if isinstance(config, DPOConfig):
        from alignment.training.dpo import train_dpo

        return train_dpo(config, rows, out_dir, progress=progress)
    if isinstance(config, RLOOConfig):
        from alignment.training.rloo import train_rloo

        return train_rloo(config, rows, out_dir, progress=progress, reward_fn=reward_fn)
    if isinstance(config, GenerateConfig):
        from alignment.training.generate import generate

        return generate(config, rows, out_dir, progress=progress, reward_fn=reward_fn)
    if isinstance(config, EvaluateConfig):
        from alignment.training.evaluate import evaluate

        return evaluate(config, rows, out_dir, progress=progress, reward_fn=reward_fn)
    raise TypeError(f"no step for {type(config).__name__}")
