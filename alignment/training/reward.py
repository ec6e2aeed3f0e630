"""Reward model training (TRL `RewardTrainer`) on `{prompt, chosen, rejected[, margin]}` rows.

After training, the step measures pairwise accuracy on the held-out `eval_split`, then writes a
calibration sidecar next to the model (`concord_reward.json`): a gain and bias so scores are mean 0 and
std 1 on the training responses (Huang §reward, "Reward normalization"), and optionally the slope of
score on response length, removed at scoring time to counter length bias (Singhal et al., 2023, "A Long
Way to Go"). Every consumer of the model (PPO, RLOO, generate, evaluate) applies the sidecar.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignment.training.config import RewardConfig
from alignment.training.results import Progress, StepResult, begin_step
from alignment.training.rows import (
    Row,
    Rows,
    as_rows,
    prompt_text,
    require_fields,
    response_text,
    split_rows,
)


@dataclass
class RewardResult(StepResult):
    """Outcome of reward training: the model folder, its calibration and held-out accuracy."""

    model_path: str = ""
    calibration: dict[str, float] = field(default_factory=dict)
    train_pairs: int = 0
    eval_pairs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def preference_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as TRL's explicit-prompt preference format (text prompt, chosen, rejected, optional margin)."""
    require_fields(rows, ("prompt", "chosen", "rejected"), step="reward")
    with_margin = all(row.get("margin") not in (None, "") for row in rows)
    out = []
    for row in rows:
        item: dict[str, Any] = {
            "prompt": prompt_text(row["prompt"]),
            "chosen": response_text(row["chosen"]),
            "rejected": response_text(row["rejected"]),
        }
        if with_margin:
            item["margin"] = float(row["margin"])
        out.append(item)
    return out


def tokenized_pairs(tokenizer: Any, rows: Sequence[Row], max_length: int) -> list[dict[str, Any]]:
    """Each pair as the ids `scoring.reward_ids` gives (prompt end, response start, EOS).

    TRL's RewardTrainer drops every pair longer than its max_length, which on long conversations can be
    all of them; cutting the prompt's start and the response's end instead keeps each pair, shaped as
    `RewardModelScorer` and PPO's id scoring present sequences at scoring time.
    """
    from alignment.training.scoring import reward_ids

    out = []
    for row in rows:
        item = {
            "chosen_ids": reward_ids(tokenizer, row["prompt"], row["chosen"], max_length),
            "rejected_ids": reward_ids(tokenizer, row["prompt"], row["rejected"], max_length),
        }
        if "margin" in row:
            item["margin"] = row["margin"]
        out.append(item)
    return out


def train_reward(
    config: RewardConfig, rows: Rows | None, out_dir: str | Path, *, progress: Progress | None = None
) -> RewardResult:
    """Train a reward model; report held-out accuracy and save the model with its calibration sidecar."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    from alignment.training.locate import resolve_model, seq_length
    from alignment.training.models import (
        CALIBRATION_FILE,
        check_hardware,
        load_tokenizer,
        lora_config,
        model_dtype,
        quiet_transformers,
    )
    from alignment.training.trainer_args import (
        common_args,
        log_history,
        progress_callback,
        remove_empty_dirs,
        silence,
        step_start,
    )

    config, ctx = begin_step(config, out_dir, progress)
    out = ctx.out
    max_length = seq_length(config)
    pairs = preference_rows(as_rows(rows, config.dataset))
    train_rows, eval_rows = split_rows(pairs, config.eval_split, seed=config.seed)
    memory = step_start(config, "reward", progress, train_pairs=len(train_rows), eval_pairs=len(eval_rows))

    quiet_transformers()
    check_hardware(config)
    torch.manual_seed(config.seed)
    location = resolve_model(config.model_name)
    tokenizer = load_tokenizer(location, padding_side="right")
    model = AutoModelForSequenceClassification.from_pretrained(
        location, num_labels=1, dtype=model_dtype(config)
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    args = TRLRewardConfig(
        **common_args(config, out),
        max_length=max_length,
        center_rewards_coefficient=config.center_rewards_coefficient,
        remove_unused_columns=False,
    )
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(tokenized_pairs(tokenizer, train_rows, max_length)),
        processing_class=tokenizer,
        peft_config=lora_config(config, task_type="SEQ_CLS"),
        callbacks=[progress_callback(progress)],
    )
    silence(trainer).train()
    remove_empty_dirs(out / "trainer")
    trained: Any = trainer.model
    if hasattr(trained, "merge_and_unload"):
        trained = trained.merge_and_unload()
    trained.eval()

    from alignment.training.scoring import RewardModelScorer

    scorer = RewardModelScorer(trained, tokenizer, {}, max_length=max_length)
    calibration = fit_calibration(
        scorer, train_rows, normalize=config.normalize, length_normalization=config.length_normalization
    )
    scorer.calibration = calibration
    metrics = {"train_accuracy": pair_accuracy(scorer, train_rows)}
    if eval_rows:
        metrics["eval_accuracy"] = pair_accuracy(scorer, eval_rows)
        metrics["eval_accuracy_raw"] = pair_accuracy(scorer, eval_rows, raw=True)
    model_dir = out / "reward_model"
    trained.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (model_dir / CALIBRATION_FILE).write_text(json.dumps(calibration, indent=2))
    return ctx.finish(
        RewardResult,
        metrics=metrics,
        memory=memory,
        model_path=str(model_dir),
        calibration=calibration,
        train_pairs=len(train_rows),
        eval_pairs=len(eval_rows),
        history=log_history(trainer),
    )


def reward_accuracy(reward_model: str, rows: Rows, *, max_length: int | None = None) -> float:
    """Share of `{prompt, chosen, rejected}` pairs (rows, or a data file's path) whose chosen response
    `reward_model` scores higher (calibrated scores; ties count as wrong): e.g. the previous round's reward
    model on this round's new pairs, which tells how stale it had become. `max_length` null: the model's
    own positions, at most DEFAULT_MAX_SEQ_LENGTH; longer pairs lose the prompt's start."""
    import torch

    from alignment.training.config import DEFAULT_MAX_SEQ_LENGTH
    from alignment.training.locate import check_model, model_positions
    from alignment.training.scoring import load_reward

    check_model(reward_model, key="reward_model")
    pairs = preference_rows(as_rows(rows, None))
    if max_length is None:
        positions = model_positions(reward_model)
        max_length = min(positions[0], DEFAULT_MAX_SEQ_LENGTH) if positions else DEFAULT_MAX_SEQ_LENGTH
    with torch.no_grad():
        return pair_accuracy(load_reward(reward_model, max_length=max_length), pairs)


def pair_accuracy(scorer: Any, rows: Sequence[Row], *, raw: bool = False) -> float:
    """Share of pairs whose chosen response outscores the rejected one (ties count as wrong)."""
    if not rows:
        return float("nan")
    prompts = [r["prompt"] for r in rows]
    score = scorer.raw if raw else scorer
    chosen = score(prompts, [r["chosen"] for r in rows])
    rejected = score(prompts, [r["rejected"] for r in rows])
    return float((chosen > rejected).float().mean())


def fit_calibration(
    scorer: Any, rows: list[Row], *, normalize: bool, length_normalization: bool
) -> dict[str, float]:
    """Gain, bias and length slope so calibrated training scores are length-free and mean 0, std 1."""
    import torch

    prompts = [r["prompt"] for r in rows] * 2
    responses = [r["chosen"] for r in rows] + [r["rejected"] for r in rows]
    raw = scorer.raw(prompts, responses).double()
    lengths = torch.tensor([float(len(r)) for r in responses], dtype=torch.float64)
    slope = 0.0
    if length_normalization and float(lengths.var()) > 0:
        # Least-squares slope of score on length; subtracting it leaves scores uncorrelated with length.
        slope = float(
            ((lengths - lengths.mean()) * (raw - raw.mean())).sum() / ((lengths - lengths.mean()) ** 2).sum()
        )
    residual = raw - slope * lengths
    gain, bias = 1.0, 0.0
    if normalize and residual.numel() > 1:
        std = float(residual.std()) or 1.0
        gain, bias = 1.0 / std, -float(residual.mean()) / std
    return {"gain": gain, "bias": bias, "length_coef": slope}
