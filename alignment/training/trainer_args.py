"""Translating our configs into TRL/transformers trainer arguments, and their logs into progress events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from alignment.training.config import TrainConfig
from alignment.training.results import PolicyResult, Progress, StepContext, emit

if TYPE_CHECKING:
    from alignment.training.memory import MemoryEstimate

_R = TypeVar("_R", bound=PolicyResult)


def common_args(config: TrainConfig, out_dir: Path) -> dict[str, Any]:
    """Keyword arguments every TRL config takes, from the fine-tuning keys of `config`."""
    import torch

    return {
        "output_dir": str(out_dir / "trainer"),
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps if config.max_steps is not None else -1,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "per_device_eval_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "learning_rate": config.learning_rate,
        "lr_scheduler_type": "linear",
        "warmup_steps": config.warmup_ratio,  # transformers 5: a value below 1 is a ratio of all steps
        "max_grad_norm": config.max_grad_norm,
        "bf16": config.bf16,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps" if config.save_steps else "no",
        "save_steps": config.save_steps or 500,
        "eval_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "seed": config.seed,
        "data_seed": config.seed,
        "use_cpu": not torch.cuda.is_available(),
        "dataloader_num_workers": 0,
    }


def progress_callback(progress: Progress | None, total_steps_hint: int | None = None) -> Any:
    """A transformers TrainerCallback that forwards each log line as a "step" event."""
    from transformers import TrainerCallback

    class _Forward(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step % max(1, int(args.logging_steps)):
                emit(progress, "step", step=int(state.global_step), total_steps=int(state.max_steps))

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
        ) -> None:
            if logs:
                figures = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
                emit(
                    progress, "step", step=int(state.global_step), total_steps=int(state.max_steps), **figures
                )

    return _Forward()


def remove_empty_dirs(folder: Path) -> None:
    """Remove `folder` and the folders under it if they hold no file (the trainers' output_dir when
    nothing was checkpointed), so a run leaves only what it wrote."""
    if not folder.is_dir():
        return
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(sub.iterdir()):
            sub.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


def log_history(trainer: Any) -> list[dict[str, float]]:
    """The trainer's numeric log history."""
    return [
        {k: float(v) for k, v in entry.items() if isinstance(v, int | float)}
        for entry in trainer.state.log_history
    ]


def silence(trainer: Any) -> Any:
    """Drop the trainer's own printing so our progress bar and summary are the only output."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def train_and_measure(
    trainer: Any, *, evaluate: bool, series: str = "loss"
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Train; then the held-out metrics (if asked), the first and last value of ``series``, and the log."""
    silence(trainer).train()
    metrics: dict[str, float] = {}
    if evaluate:
        metrics.update({k: float(v) for k, v in trainer.evaluate().items() if isinstance(v, int | float)})
    remove_empty_dirs(Path(trainer.args.output_dir))
    history = log_history(trainer)
    values = [h[series] for h in history if series in h]
    if values:
        metrics[f"{series}_first"], metrics[f"{series}_last"] = values[0], values[-1]
    return metrics, history


def step_start(config: TrainConfig, step: str, progress: Progress | None, **figures: Any) -> MemoryEstimate:
    """The memory estimate, refused before loading anything if it cannot fit, announced as the "start" event."""
    from alignment.training.memory import ensure_fits, estimate_memory

    memory = estimate_memory(config)
    ensure_fits(memory)
    emit(progress, "start", step=step, memory=memory.to_dict(), memory_table=memory.table(), **figures)
    return memory


@dataclass
class PreparedPolicy:
    """A step's trainable policy, tokenizer, rows and memory estimate, ready for a TRL trainer."""

    config: TrainConfig
    memory: MemoryEstimate
    model: Any
    tokenizer: Any
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]

    def train(
        self, ctx: StepContext, trainer_type: type, result_type: type[_R], args: Any, **kwargs: Any
    ) -> _R:
        """`train_policy` on these (`kwargs`: its `series`, `result_fields` and extra trainer arguments).

        A config's `reference_model` (DPO, KTO) is loaded frozen and given to the trainer as `ref_model`."""
        reference = getattr(self.config, "reference_model", None)
        if reference is not None:
            from alignment.training.models import load_reference

            kwargs["ref_model"] = load_reference(self.config, reference, self.tokenizer)
        return train_policy(
            ctx,
            trainer_type,
            result_type,
            config=self.config,
            model=self.model,
            tokenizer=self.tokenizer,
            args=args,
            train_rows=self.train_rows,
            eval_rows=self.eval_rows,
            memory=self.memory,
            **kwargs,
        )


def prepare_for_responses(
    config: TrainConfig,
    progress: Progress | None,
    train_rows: Sequence[Mapping[str, Any]],
    eval_rows: Sequence[Mapping[str, Any]],
    *,
    padding_side: str,
    **figures: Any,
) -> PreparedPolicy:
    """For a step that trains on given responses: the memory estimate announced (`step_start`, with
    `figures`), the seeded trainable policy and its tokenizer, and the rows with each prompt cut to half of
    `max_seq_length` from its start (`dpo.truncated_pair`: TRL keeps the start of prompt + response, so an
    uncut long prompt would crowd the response out or drop the row). Rows without a prompt (SFT's `{text}`
    rows) are passed as they are."""
    import torch

    from alignment.training.dpo import truncated_pair
    from alignment.training.locate import seq_length
    from alignment.training.models import load_lm_and_tokenizer

    memory = step_start(config, config.STEP, progress, **figures)
    torch.manual_seed(config.seed)
    model, tokenizer = load_lm_and_tokenizer(config, padding_side=padding_side, trainable=True)
    length = seq_length(config)

    def cut(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [truncated_pair(tokenizer, row, length) for row in rows]

    return PreparedPolicy(
        config=config,
        memory=memory,
        model=model,
        tokenizer=tokenizer,
        train_rows=cut(train_rows),
        eval_rows=cut(eval_rows),
    )


def train_policy(
    ctx: StepContext,
    trainer_type: type,
    result_type: type[_R],
    *,
    config: TrainConfig,
    model: Any,
    tokenizer: Any,
    args: Any,
    train_rows: Sequence[Mapping[str, Any]],
    eval_rows: Sequence[Mapping[str, Any]] | None,
    memory: MemoryEstimate,
    series: str = "loss",
    result_fields: Mapping[str, Any] | None = None,
    **trainer_kwargs: Any,
) -> _R:
    """Build and train a TRL policy trainer (LoRA per the config, our progress events), evaluate it on
    `eval_rows` if any (None: the trainer takes no eval set), save the policy under ``out/policy`` and write
    and return the result (with `result_fields`, the step's own result fields)."""
    from datasets import Dataset

    from alignment.training.models import lora_config, save_policy

    if eval_rows is not None:
        trainer_kwargs["eval_dataset"] = Dataset.from_list(eval_rows) if eval_rows else None
    trainer = trainer_type(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        processing_class=tokenizer,
        peft_config=lora_config(config, task_type="CAUSAL_LM"),
        callbacks=[progress_callback(ctx.progress)],
        **trainer_kwargs,
    )
    metrics, history = train_and_measure(trainer, evaluate=bool(eval_rows), series=series)
    policy_path = save_policy(trainer.model, tokenizer, ctx.out / "policy")
    return ctx.finish(
        result_type,
        metrics=metrics,
        memory=memory,
        policy_path=str(policy_path),
        history=history,
        **(result_fields or {}),
    )
