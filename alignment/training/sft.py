"""Supervised fine-tuning (TRL `SFTTrainer`) to warm-start a policy on demonstrations.

Rows are `{prompt, completion}` (loss on the completion only, by default) or `{text}`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alignment.training.config import SFTConfig
from alignment.training.results import PolicyResult, Progress
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
    from datasets import Dataset
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    from alignment.training.models import (
        load_causal_lm,
        load_tokenizer,
        lora_config,
        preflight,
        prompt_budget,
        resolve_model,
        seq_length,
        truncate_left,
    )
    from alignment.training.trainer_args import common_args, policy_step_finish, progress_callback, step_start

    started = time.perf_counter()
    config = preflight(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    demos = demonstration_rows(as_rows(rows, config.dataset))
    train_rows, eval_rows = split_rows(demos, config.eval_split, seed=config.seed)
    memory = step_start(config, "sft", progress)

    torch.manual_seed(config.seed)
    model = load_causal_lm(config, trainable=True)
    tokenizer = load_tokenizer(resolve_model(config.model_name), padding_side="right")
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
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(config, task_type="CAUSAL_LM"),
        callbacks=[progress_callback(progress)],
    )
    return policy_step_finish(
        SFTResult,
        trainer,
        tokenizer,
        out,
        step="sft",
        memory=memory,
        started=started,
        progress=progress,
        evaluate=bool(eval_rows),
    )
