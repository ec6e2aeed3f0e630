"""PPO for language models against reward models, with a KL leash to the reference policy.

TRL removed its PPO trainer after 1.12, so this is our own, on torch + transformers + peft. Each
detail follows "The N Implementation Details of RLHF with PPO" (Huang, Liu, von Werra; ICLR blog
track 2024), cited below by its section and title, e.g. (Huang §policy, "Scale the logits by sampling
temperature").

One PPO step:
1. rollout: sample `response_length` tokens for a batch of prompts from the policy (KV-cached, temperature
   scaled); everything after the first EOS is masked;
2. score: a reward model with the policy's tokenizer scores the sampled ids (prompt + response + EOS),
   the very tokens the policy and the critic see, as TRL's PPOTrainer does; any other reward (another
   tokenizer, a function) scores the decoded text; subtract `missing_eos_penalty` where no EOS was produced;
3. per-token rewards: −β·(log π − log π_ref) on every token, plus the score on the last token; the
   reference is the same network with its LoRA adapters disabled, or `reference_model` when set;
4. GAE(γ, λ) on a zero-initialised value head that shares the policy trunk, as in the blog's reference
   code (or, with `value_model`, a separate critic initialised from the reward model, as TRL 1.12 did),
   then advantage whitening;
5. `ppo_epochs` passes over `num_mini_batches` minibatches of clipped policy loss + clipped value loss,
   skipping the rest when approx-KL passes 1.5 × `max_approx_kl`;
6. the adaptive KL controller moves β toward `target_kl`; the run stops if KL passes `kl_stop`.

A checkpoint (trainable weights, optimizer, scheduler, β, RNG states, metrics) is written every
`save_steps` steps; calling `train_ppo` again on the same folder continues from it.

Layout: this module loads what a run needs and writes its result; `ppo_run.PPORun` holds the run's state
and does steps 1-6; `ppo_math` has the maths as pure functions, `sampling` the sampling, `scoring` the
id scoring.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignment.training.config import PPOConfig
from alignment.training.ppo_run import PPORun
from alignment.training.results import Progress, StepResult, begin_step, emit
from alignment.training.rows import Rows, as_rows, prompts_of
from alignment.training.scoring import RewardFn


@dataclass
class PPOResult(StepResult):
    """Outcome of a PPO run; `history` has one metrics dict per PPO step."""

    policy_path: str = ""
    value_head_path: str = ""
    checkpoint_path: str = ""
    steps: int = 0
    episodes: int = 0
    resumed_from_step: int = 0
    stopped_reason: str = "completed"
    kl_coef: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


def train_ppo(
    config: PPOConfig,
    rows: Rows | None,
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
    reward_fn: RewardFn | None = None,
    resume: bool = True,
) -> PPOResult:
    """Optimise the policy against the reward under the KL leash; resumes from out_dir's checkpoint if any.

    `rows` are dicts with a `prompt` (text or chat turns), or a data file path. `reward_fn`
    (prompts, responses) -> scores replaces the config's reward models, e.g. for rule-based rewards.
    """
    from alignment.training.memory import ensure_fits, estimate_memory

    config, ctx = begin_step(config, out_dir, progress, reward_fn=reward_fn is not None)
    out = ctx.out
    prompts = prompts_of(as_rows(rows, config.dataset))
    if not prompts:
        raise ValueError("ppo: no prompts")
    memory = estimate_memory(config)
    ensure_fits(memory)

    run = build_run(config, prompts, out, reward_fn=reward_fn)
    if resume and run.checkpoint.exists():
        run.load_checkpoint()
    resumed_from = run.step
    emit(
        progress,
        "start",
        step="ppo",
        total_steps=run.total_steps,
        resumed_from_step=resumed_from,
        memory=memory.to_dict(),
        memory_table=memory.table(),
    )
    stopped = run.train(progress)
    run.save_checkpoint()
    policy_path, value_head_path = _save_models(run)
    (out / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in run.history))
    return ctx.finish(
        PPOResult,
        metrics=_summary(run.history),
        memory=memory,
        end={"steps": run.step, "stopped_reason": stopped},
        policy_path=str(policy_path),
        value_head_path=str(value_head_path),
        checkpoint_path=str(run.checkpoint),
        steps=run.step,
        episodes=run.episodes,
        resumed_from_step=resumed_from,
        stopped_reason=stopped,
        kl_coef=run.kl_ctl.value,
        history=run.history,
    )


def build_run(config: PPOConfig, prompts: list[str], out: Path, *, reward_fn: RewardFn | None) -> PPORun:
    """Seed, load the policy, critic, reference and reward, and set up the optimiser, schedule and KL control."""
    import torch

    from alignment.training.locate import prompt_budget, seq_length
    from alignment.training.models import load_policy
    from alignment.training.ppo_math import AdaptiveKLController, linear_schedule
    from alignment.training.scoring import reads_policy_ids, step_reward

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = load_policy(config)
    model.to(device)
    model.eval()  # Huang §policy, "Disable dropout": sampling and training must see one network.
    value_head = _make_critic(config, model, tokenizer, device)
    reference = _load_reference(config, model, tokenizer, device)
    reward = step_reward(config, reward_fn)
    max_prompt = prompt_budget(seq_length(config), config.response_length)
    # Truncate from the left: the end of a conversation is what the response answers.
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"][-max_prompt:] for p in prompts]

    batch_size = config.per_device_train_batch_size * config.gradient_accumulation_steps
    total_episodes = config.total_episodes or math.ceil(config.num_train_epochs * len(prompts))
    total_steps = max(1, total_episodes // batch_size)
    if config.max_steps is not None:
        total_steps = config.max_steps
    updates = total_steps * config.ppo_epochs * config.num_mini_batches
    params = [p for p in model.parameters() if p.requires_grad] + list(value_head.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, eps=config.adam_eps, weight_decay=0.0)
    schedule = linear_schedule(int(config.warmup_ratio * updates), updates)
    kl_stop = (
        config.kl_stop if config.kl_stop is not None else (4 * config.target_kl if config.target_kl else None)
    )
    return PPORun(
        config=config,
        out=out,
        prompts=prompts,
        encoded=encoded,
        model=model,
        tokenizer=tokenizer,
        value_head=value_head,
        reference=reference,
        reward=reward,
        by_ids=[reads_policy_ids(scorer, tokenizer) for scorer in reward.scorers],
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, schedule),
        kl_ctl=AdaptiveKLController(config.kl_coef, config.target_kl, config.kl_horizon),
        generator=torch.Generator(device=device).manual_seed(config.seed),
        device=device,
        batch_size=batch_size,
        total_steps=total_steps,
        kl_stop=kl_stop,
    )


def _load_reference(config: PPOConfig, model: Any, tokenizer: Any, device: Any) -> Any:
    """The frozen reference of the KL leash: `reference_model` when set (a round's fixed base while the
    policy starts from the previous champion), else a frozen copy of the start policy without adapters,
    else None (the policy with its adapters disabled)."""
    if config.reference_model is not None:
        from alignment.training.models import load_reference

        return load_reference(config, config.reference_model, tokenizer).to(device)
    if config.lora_r == 0:
        # Without adapters there is nothing to disable: the reference is a frozen copy.
        import copy

        return copy.deepcopy(model).requires_grad_(False)
    return None


def _save_models(run: PPORun) -> tuple[Path, Path]:
    """Save the policy (adapters merged) and the value head or critic; their paths."""
    import torch

    from alignment.training.models import save_policy

    policy_path = save_policy(run.model, run.tokenizer, run.out / "policy")
    if isinstance(run.value_head, torch.nn.Linear):
        value_head_path = run.out / "policy" / "value_head.pt"
        torch.save(run.value_head.state_dict(), value_head_path)
    else:
        value_head_path = run.out / "value_model"
        run.value_head.save_pretrained(value_head_path)
    return Path(policy_path), value_head_path


def _summary(history: list[dict[str, float]]) -> dict[str, float]:
    """First and last mean reward and the KL figures of a run's history."""
    last = history[-1] if history else {}
    # One batch's mean reward mostly tells which prompts it drew (on long conversations the prompt decides
    # most of a score): first and last are means over up to 5 steps (a quarter of the run at most).
    window = max(1, min(5, len(history) // 4))
    rewards = [h["reward_mean"] for h in history if "reward_mean" in h]
    return {
        "reward_mean_first": sum(rewards[:window]) / len(rewards[:window]) if rewards else float("nan"),
        "reward_mean_last": sum(rewards[-window:]) / len(rewards[-window:]) if rewards else float("nan"),
        "kl_last": float(last.get("kl", float("nan"))),
        "kl_max": max((h["kl"] for h in history), default=float("nan")),
    }


def _make_critic(config: PPOConfig, model: Any, tokenizer: Any, device: Any) -> Any:
    """The value function: a zero-initialised head on the policy trunk, or a critic model from a path."""
    import torch

    if config.value_model is None:
        hidden_size = model.config.get_text_config().hidden_size
        head = torch.nn.Linear(hidden_size, 1).to(device)
        # Huang §policy, "Value head layer initialization": zero weights, so early values add no noise.
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.zeros_(head.bias)
        return head
    from transformers import AutoModelForSequenceClassification

    from alignment.training.config import ConfigError
    from alignment.training.locate import resolve_model
    from alignment.training.models import load_tokenizer
    from alignment.training.scoring import as_list, same_tokenizer

    name = as_list(config.reward_model)[0] if config.value_model == "reward_model" else config.value_model
    location = resolve_model(name)
    if not same_tokenizer(load_tokenizer(location), tokenizer):
        raise ConfigError(
            "value_model",
            f"'value_model' {name!r} uses another tokenizer than the policy; a critic reads the policy's "
            "tokens, so use a model with the policy's tokenizer or null (a value head on the policy)",
        )
    # Initialising the critic from the reward model gives meaningful values from the first step
    # (Huang et al. 2024, "N+ implementation details", §PPO; TRL's PPO recipe does the same).
    critic = AutoModelForSequenceClassification.from_pretrained(location, num_labels=1)
    return critic.to(device).eval()  # eval mode only turns dropout off (Huang §policy, "Disable dropout")
