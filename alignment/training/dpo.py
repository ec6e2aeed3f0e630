"""Direct preference optimisation (TRL `DPOTrainer`) on `{prompt, chosen, rejected}` rows.

With LoRA the reference is the base with adapters disabled (TRL does this for a PEFT model); with
`lora_r = 0` TRL reloads the reference from the model's path, which is why models are passed by path.
A `reference_model` replaces both: it is loaded frozen and given to TRL as `ref_model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alignment.training.config import DPOConfig
from alignment.training.results import PolicyResult, Progress, begin_step
from alignment.training.reward import preference_rows
from alignment.training.rows import Rows, as_rows, split_rows


class DPOResult(PolicyResult):
    """Outcome of DPO: the policy folder and the trainer's log history."""


def truncated_pair(tokenizer: Any, row: Mapping[str, Any], max_length: int) -> dict[str, Any]:
    """A pair whose prompt keeps at most half of `max_length` tokens, losing its start.

    TRL's DPOTrainer keeps the start of prompt + response (`keep_start`) and drops a pair whose prompt alone
    fills max_length; cutting long prompts from the left first keeps every pair, with the end of the
    conversation and the first half of the budget for the responses (the old TRL max_prompt_length split).
    """
    from alignment.training.locate import prompt_budget, truncate_left

    if "prompt" not in row:  # SFT's {text} rows: nothing to cut
        return dict(row)
    return {**row, "prompt": truncate_left(tokenizer, row["prompt"], prompt_budget(max_length))}


def train_dpo(
    config: DPOConfig, rows: Rows | None, out_dir: str | Path, *, progress: Progress | None = None
) -> DPOResult:
    """Train the policy with DPO; the saved policy has its adapters merged (unless 4-bit)."""
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    from alignment.training.locate import seq_length
    from alignment.training.trainer_args import common_args, prepare_for_responses

    config, ctx = begin_step(config, out_dir, progress)
    pairs = [
        {k: v for k, v in row.items() if k != "margin"}
        for row in preference_rows(as_rows(rows, config.dataset))
    ]
    train_rows, eval_rows = split_rows(pairs, config.eval_split, seed=config.seed)
    policy = prepare_for_responses(config, progress, train_rows, eval_rows, padding_side="right")
    args = TRLDPOConfig(
        **common_args(config, ctx.out),
        beta=config.beta,
        loss_type=[config.loss_type],
        label_smoothing=config.label_smoothing,
        max_length=seq_length(config),
        remove_unused_columns=False,
    )
    return policy.train(ctx, DPOTrainer, DPOResult, args)
