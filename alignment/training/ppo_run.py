"""One PPO run as one object: the networks, optimiser, scheduler, KL controller, reward and step counter
it holds (as TRL's trainer holds them), with its rollout, update and checkpoint.

`ppo.train_ppo` builds a `PPORun` and drives it; the maths it applies is in `ppo_math`, its sampling in
`sampling`, its id scoring in `scoring`. Cited as in `ppo` (Huang, Liu, von Werra, 2024).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignment.training.config import PPOConfig
from alignment.training.ppo_math import (
    AdaptiveKLController,
    gae,
    masked_mean,
    masked_whiten,
    ppo_losses,
    shaped_rewards,
)
from alignment.training.results import Progress, emit
from alignment.training.sampling import (
    decode_responses,
    forward_response,
    left_pad,
    response_mask,
    sample_responses,
)
from alignment.training.scoring import CombinedReward, score_responses

CHECKPOINT = "checkpoint/state.pt"

_LOSS_FIGURES = ("policy_loss", "value_loss", "clipfrac", "value_clipfrac", "approx_kl")


@dataclass
class Rollout:
    """One batch of sampled responses with what the update needs of it (old log-probs, values, GAE)."""

    query_response: Any
    attention_mask: Any
    context_length: int
    logprobs: Any
    values: Any
    mask: Any
    advantages: Any
    returns: Any


@dataclass
class PPORun:
    """The state of one PPO run. `reference` None means the policy with its LoRA adapters disabled."""

    config: PPOConfig
    out: Path
    prompts: list[str]
    encoded: list[list[int]]
    model: Any
    tokenizer: Any
    value_head: Any
    reference: Any
    reward: CombinedReward
    by_ids: list[bool]
    optimizer: Any
    scheduler: Any
    kl_ctl: AdaptiveKLController
    generator: Any
    device: Any
    batch_size: int
    total_steps: int
    kl_stop: float | None
    step: int = 0
    episodes: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def checkpoint(self) -> Path:
        return self.out / CHECKPOINT

    @property
    def eos_id(self) -> int:
        return int(self.tokenizer.eos_token_id)

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def train(self, progress: Progress | None) -> str:
        """Run PPO steps until `total_steps` (checkpointing every `save_steps`) or a KL runaway; the reason."""
        config = self.config
        while self.step < self.total_steps:
            step_started = time.perf_counter()
            rollout, stats = self.rollout(
                _batch_indices(self.step, self.batch_size, len(self.prompts), config.seed)
            )
            if self.kl_stop is not None and stats["kl"] > self.kl_stop:
                # A runaway KL means the policy is exploiting the reward model; more updates only make it worse.
                stats["step"] = self.step + 1
                self.history.append(stats)
                emit(progress, "stop", reason="kl_runaway", kl=stats["kl"], kl_stop=self.kl_stop)
                return "kl_runaway"
            stats.update(self.optimise(rollout))
            self.kl_ctl.update(stats["kl"], self.batch_size)
            self.step += 1
            self.episodes += self.batch_size
            stats.update(
                step=self.step,
                episodes=self.episodes,
                kl_coef=self.kl_ctl.value,
                lr=float(self.scheduler.get_last_lr()[0]),
                step_time_s=time.perf_counter() - step_started,
            )
            self.history.append(stats)
            if config.save_steps and self.step % config.save_steps == 0 and self.step < self.total_steps:
                self.save_checkpoint()
            emit(progress, "step", total_steps=self.total_steps, **stats)
        return "completed"

    def _logprobs(self, model: Any, query_response: Any, attention: Any, context: int) -> Any:
        logprobs, _, _ = forward_response(
            model, None, query_response, attention, context, self.config.temperature
        )
        return logprobs

    def _score(self, prompts: list[str], texts: list[str], ids: Any, attention: Any, has_eos: Any) -> Any:
        return score_responses(
            self.reward, self.by_ids, prompts, texts, ids, attention, has_eos, self.eos_id
        ).to(self.device)

    def rollout(self, indices: list[int]) -> tuple[Rollout, dict[str, float]]:
        """Sample responses for the prompts at `indices`, score them and compute advantages and returns."""
        import torch

        config = self.config
        prompt_texts = [self.prompts[i] for i in indices]
        query_ids, query_mask = left_pad([self.encoded[i] for i in indices], self.pad_id)
        query_ids, query_mask = query_ids.to(self.device), query_mask.to(self.device)
        context = query_ids.shape[1]
        with torch.no_grad():
            responses = sample_responses(
                self.model,
                query_ids,
                query_mask,
                response_length=config.response_length,
                temperature=config.temperature,
                eos_token_id=self.eos_id,
                pad_token_id=self.pad_id,
                generator=self.generator,
            )
            mask, has_eos = response_mask(responses, self.eos_id)
            query_response = torch.cat([query_ids, responses], dim=1)
            attention = torch.cat([query_mask, mask.long()], dim=1)
            logprobs, values, _ = forward_response(
                self.model, self.value_head, query_response, attention, context, config.temperature
            )
            if self.reference is None:
                with self.model.disable_adapter():
                    ref_logprobs = self._logprobs(self.model, query_response, attention, context)
            else:
                ref_logprobs = self._logprobs(self.reference, query_response, attention, context)

            texts = decode_responses(self.tokenizer, responses, mask, self.eos_id)
            scores = self._score(prompt_texts, texts, query_response, attention, has_eos)
            raw_scores = scores.clone()
            baseline = torch.zeros_like(scores)
            if config.reward_baseline == "empty_response":
                # The score the reward model gives the prompt with an empty response: a per-prompt constant,
                # so subtracting it leaves the policy gradient's expectation as it is, while it removes the
                # part of the score that only the prompt decides (on long conversations most of it).
                empty = torch.zeros_like(has_eos)
                baseline = self._score(prompt_texts, [""] * len(texts), query_ids, query_mask, empty)
                scores = scores - baseline
            if config.missing_eos_penalty is not None:
                # Huang §policy, "reward -1 for responses that are truncated": a response that never
                # ends is penalised, so the policy learns to finish its answers.
                scores = scores - config.missing_eos_penalty * (~has_eos).float()

            kl_coef = self.kl_ctl.value
            kl, rewards = shaped_rewards(logprobs, ref_logprobs, mask, scores, kl_coef)
            if config.whiten_rewards:
                rewards = masked_whiten(rewards, mask, shift_mean=False)
            values = values * mask
            advantages, returns = gae(rewards, values, mask, gamma=config.gamma, lam=config.lam)
            if config.whiten_advantages:
                # Huang §PPO, "Per-minibatch advantage whitening" (done per rollout batch).
                advantages = masked_whiten(advantages, mask)

        stats = {
            "reward_mean": float(raw_scores.mean()),
            "reward_std": float(raw_scores.std()) if raw_scores.numel() > 1 else 0.0,
            "score_mean": float(scores.mean()),
            "baseline_mean": float(baseline.mean()),
            "kl": float(kl.sum(1).mean()),
            "non_score_reward": float((-kl_coef * kl).sum(1).mean()),
            "eos_fraction": float(has_eos.float().mean()),
            "response_length": float(mask.sum(1).mean()),
        }
        rollout = Rollout(query_response, attention, context, logprobs, values, mask, advantages, returns)
        return rollout, stats

    def optimise(self, rollout: Rollout) -> dict[str, float]:
        """`ppo_epochs` passes of clipped PPO updates over the rollout; the mean loss figures."""
        import torch

        config, generator = self.config, self.generator
        batch = rollout.query_response.shape[0]
        minibatch = batch // config.num_mini_batches
        micro = min(config.per_device_train_batch_size, minibatch)
        totals = dict.fromkeys(
            ("policy_loss", "value_loss", "entropy", "clipfrac", "approx_kl", "value_clipfrac"), 0.0
        )
        count = 0
        stopped_early = 0.0
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        for _epoch in range(config.ppo_epochs):
            order = torch.randperm(batch, generator=generator, device=generator.device).to(
                rollout.query_response.device
            )
            epoch_kl = []
            for start in range(0, batch, minibatch):
                mb = order[start : start + minibatch]
                self.optimizer.zero_grad(set_to_none=True)
                for micro_start in range(0, minibatch, micro):
                    idx = mb[micro_start : micro_start + micro]
                    mask = rollout.mask[idx]
                    new_logprobs, vpred, entropy = forward_response(
                        self.model,
                        self.value_head,
                        rollout.query_response[idx],
                        rollout.attention_mask[idx],
                        rollout.context_length,
                        config.temperature,
                        with_entropy=True,
                    )
                    losses = ppo_losses(
                        new_logprobs=new_logprobs,
                        old_logprobs=rollout.logprobs[idx],
                        advantages=rollout.advantages[idx],
                        values=vpred,
                        old_values=rollout.values[idx],
                        returns=rollout.returns[idx],
                        mask=mask,
                        cliprange=config.cliprange,
                        cliprange_value=config.cliprange_value,
                    )
                    loss = losses["policy_loss"] + config.vf_coef * losses["value_loss"]
                    (loss * (idx.numel() / minibatch)).backward()
                    with torch.no_grad():
                        for name in _LOSS_FIGURES:
                            totals[name] += float(losses[name])
                        totals["entropy"] += float(masked_mean(entropy, mask))
                        epoch_kl.append(float(losses["approx_kl"]))
                        count += 1
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
            if (
                config.max_approx_kl is not None
                and sum(epoch_kl) / len(epoch_kl) > 1.5 * config.max_approx_kl
            ):
                # The policy moved further from the rollout policy than the trust region allows: the
                # remaining epochs would optimise on stale samples (early stopping as in OpenAI baselines PPO).
                stopped_early = 1.0
                break
        out = {name: value / max(1, count) for name, value in totals.items()}
        out["ppo_early_stop"] = stopped_early
        return out

    # --- checkpoints -----------------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        """Write trainable weights, optimiser, scheduler, β, RNG states and metrics, atomically."""
        import torch

        path = self.checkpoint
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "step": self.step,
            "episodes": self.episodes,
            "history": self.history,
            "policy": {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad},
            "value_head": self.value_head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "kl_coef": self.kl_ctl.value,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
        }
        staging = path.with_suffix(".tmp")
        torch.save(payload, staging)
        os.replace(staging, path)  # atomic: a kill mid-write leaves the previous checkpoint intact

    def load_checkpoint(self) -> None:
        """Continue from the checkpoint `save_checkpoint` wrote: the same weights, RNG states and step."""
        import torch

        payload = torch.load(self.checkpoint, map_location="cpu", weights_only=False)
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, tensor in payload["policy"].items():
                params[name].copy_(tensor)
        self.value_head.load_state_dict(payload["value_head"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.kl_ctl.value = float(payload["kl_coef"])
        self.generator.set_state(payload["generator"])
        torch.set_rng_state(payload["torch_rng"])
        random.setstate(payload["python_rng"])
        self.step, self.episodes = int(payload["step"]), int(payload["episodes"])
        self.history = list(payload["history"])


def _batch_indices(step: int, batch_size: int, n_prompts: int, seed: int) -> list[int]:
    """Prompt indices of a step, a pure function of (step, seed): a resumed run draws the same prompts."""
    import torch

    out = []
    for episode in range(step * batch_size, (step + 1) * batch_size):
        epoch, position = divmod(episode, n_prompts)
        order = torch.randperm(n_prompts, generator=torch.Generator().manual_seed(seed * 1000003 + epoch))
        out.append(int(order[position]))
    return out
