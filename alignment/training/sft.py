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
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    from alignment.training.locate import seq_length
    from alignment.training.trainer_args import common_args, prepare_for_responses

    config, ctx = begin_step(config, out_dir, progress)
    demos = demonstration_rows(as_rows(rows, config.dataset))
    train_rows, eval_rows = split_rows(demos, config.eval_split, seed=config.seed)
    # SFTTrainer keeps the start of prompt + completion; long prompts lose their start instead, so the
    # completion the loss is on keeps at least half of the budget. `{text}` rows have no prompt to cut.
    prompted = "prompt" in train_rows[0]
    policy = prepare_for_responses(config, progress, train_rows, eval_rows, padding_side="right")
    args = TRLSFTConfig(
        **common_args(config, ctx.out),
        max_length=seq_length(config),
        completion_only_loss=config.completion_only_loss if prompted else None,
        remove_unused_columns=True,
    )
    return policy.train(ctx, SFTTrainer, SFTResult, args)
