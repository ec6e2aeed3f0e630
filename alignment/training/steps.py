"""One entry point for every step: what a Celery task calls with a stored config."""

from __future__ import annotations

import importlib
from pathlib import Path

from alignment.training.config import STEP_RUNNERS, StepConfig
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

    The config is checked against its models first (`locate.preflight`: every model can be found, the
    lengths fit, PPO and RLOO have a reward), before torch or any weights load.
    """
    from alignment.training.locate import preflight

    config = preflight(config, reward_fn=reward_fn is not None)
    if config.STEP not in STEP_RUNNERS:
        raise TypeError(f"no step for {type(config).__name__}")
    target, takes_reward = STEP_RUNNERS[config.STEP]
    module, function = target.split(":")
    runner = getattr(importlib.import_module(module), function)
    if takes_reward:
        result: StepResult = runner(config, rows, out_dir, progress=progress, reward_fn=reward_fn)
    else:
        result = runner(config, rows, out_dir, progress=progress)
    return result
