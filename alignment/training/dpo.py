"""Direct preference optimisation (TRL `DPOTrainer`) on `{prompt, chosen, rejected}` rows.

With LoRA the reference is the base with adapters disabled (TRL does this for a PEFT model); with
`lora_r = 0` TRL reloads the reference from the model's path, which is why models are passed by path.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alignment.training.config import DPOConfig
from alignment.training.results import PolicyResult, Progress
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
    from alignment.training.models import prompt_budget, truncate_left

    return {**row, "prompt": truncate_left(tokenizer, row["prompt"], prompt_budget(max_length))}


def train_dpo(
    config: DPOConfig, rows: Rows | None, out_dir: str | Path, *, progress: Progress | None = None
) -> DPOResult:
    """Train the policy with DPO; the saved policy has its adapters merged (unless 4-bit)."""
    import torch
    from datasets import Dataset
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    from alignment.training.models import (
        load_causal_lm,
        load_tokenizer,
        lora_config,
        preflight,
        resolve_model,
        seq_length,
    )
    from alignment.training.trainer_args import common_args, policy_step_finish, progress_callback, step_start

    started = time.perf_counter()
    config = preflight(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pairs = [
        {k: v for k, v in row.items() if k != "margin"}
        for row in preference_rows(as_rows(rows, config.dataset))
    ]
    train_rows, eval_rows = split_rows(pairs, config.eval_split, seed=config.seed)
    memory = step_start(config, "dpo", progress)

    torch.manual_seed(config.seed)
    model = load_causal_lm(config, trainable=True)
    tokenizer = load_tokenizer(resolve_model(config.model_name), padding_side="right")
    train_rows = [truncated_pair(tokenizer, row, seq_length(config)) for row in train_rows]
    eval_rows = [truncated_pair(tokenizer, row, seq_length(config)) for row in eval_rows]
    args = TRLDPOConfig(
        **common_args(config, out),
        beta=config.beta,
        loss_type=[config.loss_type],
        label_smoothing=config.label_smoothing,
        max_length=seq_length(config),
        remove_unused_columns=False,
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(config, task_type="CAUSAL_LM"),
        callbacks=[progress_callback(progress)],
    )
    return policy_step_finish(
        DPOResult,
        trainer,
        tokenizer,
        out,
        step="dpo",
        memory=memory,
        started=started,
        progress=progress,
        evaluate=bool(eval_rows),
    )
