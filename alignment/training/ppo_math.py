"""The PPO maths as small pure functions of tensors: whitening, GAE, the KL-shaped rewards, the clipped
losses, the adaptive KL coefficient and the learning-rate schedule.

Cited as in `ppo` (Huang, Liu, von Werra, "The N Implementation Details of RLHF with PPO", 2024).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class AdaptiveKLController:
    """β ← β·(1 + clip(KL/target − 1, ±0.2)·n/horizon) (Ziegler et al. 2019; Huang §policy, "Adaptive KL")."""

    def __init__(self, kl_coef: float, target: float | None, horizon: int) -> None:
        self.value = kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_episodes: int) -> None:
        """Move β toward the value that holds KL at the target (no-op without a target)."""
        if self.target is None:
            return
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_episodes / self.horizon


def masked_mean(values: Any, mask: Any) -> Any:
    """Mean of `values` where `mask` is 1."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(values: Any, mask: Any, *, shift_mean: bool = True) -> Any:
    """Values scaled to unit variance (and zero mean when shift_mean) over the masked entries."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    whitened = (values - mean) * (var + 1e-8).rsqrt()
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def gae(rewards: Any, values: Any, mask: Any, *, gamma: float, lam: float) -> tuple[Any, Any]:
    """Generalised advantage estimates and returns over response tokens (zero past each response's end)."""
    import torch

    rewards = rewards * mask
    values = values * mask
    length = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        advantages[:, t] = last
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def ppo_losses(
    *,
    new_logprobs: Any,
    old_logprobs: Any,
    advantages: Any,
    values: Any,
    old_values: Any,
    returns: Any,
    mask: Any,
    cliprange: float,
    cliprange_value: float,
) -> dict[str, Any]:
    """PPO's clipped policy loss and clipped value loss (masked means), with clip fractions and approx-KL."""
    import torch

    # Huang §PPO, "Clipped value function": the critic may move only cliprange_value from its rollout
    # estimate per update; the max keeps the more pessimistic of the clipped and unclipped errors.
    values_clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    vf_losses1 = (values - returns) ** 2
    vf_losses2 = (values_clipped - returns) ** 2
    value_loss = 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2), mask)
    log_ratio = (new_logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    # Schulman et al. (2017), eq. 7: the pessimistic bound of the clipped surrogate.
    pg_losses1 = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    policy_loss = masked_mean(torch.max(pg_losses1, pg_losses2), mask)
    with torch.no_grad():
        clipfrac = masked_mean((pg_losses2 > pg_losses1).float(), mask)
        value_clipfrac = masked_mean((vf_losses2 > vf_losses1).float(), mask)
        approx_kl = 0.5 * masked_mean(log_ratio**2, mask)
    return {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "clipfrac": clipfrac,
        "value_clipfrac": value_clipfrac,
        "approx_kl": approx_kl,
    }


def shaped_rewards(
    logprobs: Any, ref_logprobs: Any, mask: Any, scores: Any, kl_coef: float
) -> tuple[Any, Any]:
    """(per-token KL estimate log π − log π_ref, per-token rewards −β·KL with the score on the last real token).

    Huang §policy, "per-token KL penalty": every token pays β·(log π − log π_ref); the score arrives on the
    last real token.
    """
    import torch

    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    last = (mask.sum(1).long() - 1).clamp(min=0)
    rewards[torch.arange(rewards.shape[0], device=rewards.device), last] += scores
    return kl, rewards


def linear_schedule(warmup: int, updates: int) -> Callable[[int], float]:
    """Learning-rate factor per update: linear warm-up over `warmup` updates, then linear decay to 0."""

    def schedule(n: int) -> float:
        # Huang §general, "Learning rate annealing": linear decay to 0 over the run.
        if n < warmup:
            return (n + 1) / (warmup + 1)
        return max(0.0, 1.0 - (n - warmup) / max(1, updates - warmup))

    return schedule
