"""Supervised fine-tuning (TRL `SFTTrainer`) to warm-start a policy on demonstrations.

Rows are `{prompt, completion}` (loss on the completion only, by default) or `{text}`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignment.training.config import SFTConfig
from alignment.training.results import PolicyResult, Progress, begin_step
from alignment.training.rows import DataError, Rows, as_rows, prompt_text, response_text, split_rows


class SFTResult(PolicyResult):
    """Outcome of SFT: the policy folder and the trainer's log history."""


def demonstration_rows(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Rows as TRL's prompt-completion or language-modeling format (all rows must use the same one)."""
    if all(row.get("text") for row in rows):
        return [{"text": str(row["text"])} for row in rows]
    out = []
    for number, row in enumerate(rows, start=1):
        completion = row.get("completion", row.get("response", row.get("chosen")))
        if row.get("prompt") in (None, "") or completion in (None, ""):
            raise DataError(f"sft: row {number} needs 'text', or 'prompt' and 'completion'")
        out.append({"prompt": prompt_text(row["prompt"]), "completion": response_text(completion)})
    return out


def train_sft(
    config: SFTConfig, rows: Rows | None, out_dir: str | Path, *, progress: Progress | None = None
) -> SFTResult:
    """Fine-tune the policy on demonstrations; the saved policy has its adapters merged (unless 4-bit)."""
    import torch
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    from alignment.training.locate import prompt_budget, seq_length, truncate_left
    from alignment.training.models import load_lm_and_tokenizer
    from alignment.training.trainer_args import common_args, step_start, train_policy

    config, ctx = begin_step(config, out_dir, progress)
    out = ctx.out
    demos = demonstration_rows(as_rows(rows, config.dataset))
    train_rows, eval_rows = split_rows(demos, config.eval_split, seed=config.seed)
    memory = step_start(config, "sft", progress)

    torch.manual_seed(config.seed)
    model, tokenizer = load_lm_and_tokenizer(config, padding_side="right", trainable=True)
    if "prompt" in train_rows[0]:
        # SFTTrainer keeps the start of prompt + completion; long prompts lose their start instead, so
        # the completion the loss is on keeps at least half of the budget.
        half = prompt_budget(seq_length(config))
        train_rows = [{**r, "prompt": truncate_left(tokenizer, r["prompt"], half)} for r in train_rows]
        eval_rows = [{**r, "prompt": truncate_left(tokenizer, r["prompt"], half)} for r in eval_rows]
    args = TRLSFTConfig(
        **common_args(config, out),
        max_length=seq_length(config),
        completion_only_loss=config.completion_only_loss if "prompt" in train_rows[0] else None,
        remove_unused_columns=True,
    )
    return train_policy(
        ctx,
        SFTTrainer,
        SFTResult,
        config=config,
        model=model,
        tokenizer=tokenizer,
        args=args,
        train_rows=train_rows,
        eval_rows=eval_rows,
        memory=memory,
    )
