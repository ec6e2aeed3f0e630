"""Scoring decoded text with one or several reward models combined with weights.

Scoring works on text, not token ids, so a reward model may use another tokenizer than the policy
(DESIGN.md, "Key decisions"). PPO scores the sampled ids instead (``ppo.score_ids``) when a reward model
shares the policy's tokenizer, and applies the same calibration. Each model's raw score goes through its calibration sidecar (gain, bias,
length coefficient, written by the reward step) before the weighted sum: 0.7·quality + 0.3·safety only
means something when both scores are on the same scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

RewardFn = Callable[[list[str], list[str]], Sequence[float]]
"""A reward as a plain function: (prompts, responses) -> one score per pair."""


def reward_ids(tokenizer: Any, prompt: str, response: str, max_length: int) -> list[int]:
    """The ids a reward model reads for (prompt, response): the last `max_length` tokens of
    prompt + response + EOS, so the response and the EOS the score is read at stay.

    The reward step trains on exactly these ids and every scorer scores them (PPO's id scoring cuts its
    sampled ids the same way), so a model is used on sequences cut as it was trained on.
    """
    eos = tokenizer.eos_token or ""
    text = prompt + response if response.endswith(eos) else prompt + response + eos
    return list(tokenizer(text, add_special_tokens=False)["input_ids"][-max_length:])


@dataclass
class RewardModelScorer:
    """One frozen reward model with its tokenizer and calibration."""

    model: Any
    tokenizer: Any
    calibration: dict[str, float] = field(default_factory=dict)
    max_length: int = 512
    batch_size: int = 64

    def raw(self, prompts: list[str], responses: list[str]) -> Any:
        """Uncalibrated scores as a float tensor, computed exactly as TRL's RewardTrainer trains them."""
        import torch

        # The reward step trains on these very ids (`reward_ids`): train and use stay aligned.
        sequences = [
            reward_ids(self.tokenizer, p, r, self.max_length) for p, r in zip(prompts, responses, strict=True)
        ]
        out = []
        with torch.no_grad():
            for start in range(0, len(sequences), self.batch_size):
                out.append(self._logits(sequences[start : start + self.batch_size]))
        return torch.cat(out) if out else torch.zeros(0)

    def _logits(self, sequences: list[list[int]]) -> Any:
        import torch

        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):  # right padding, as the tokenizer pads for the trainer
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        device = next(self.model.parameters()).device
        logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        return logits[:, 0].float().cpu()

    def __call__(self, prompts: list[str], responses: list[str]) -> Any:
        """Calibrated scores of the text."""
        return self.calibrate(self.raw(prompts, responses), responses)

    def calibrate(self, raw: Any, responses: list[str]) -> Any:
        """gain·(raw − length_coef·len(response)) + bias, the length in characters of the response text."""
        import torch

        lengths = torch.tensor([float(len(r)) for r in responses])
        gain = self.calibration.get("gain", 1.0)
        bias = self.calibration.get("bias", 0.0)
        length_coef = self.calibration.get("length_coef", 0.0)
        return gain * (raw - length_coef * lengths) + bias


@dataclass
class CombinedReward:
    """A weighted sum of reward functions; `components` keeps each one's scores for the metrics."""

    scorers: list[Callable[[list[str], list[str]], Any]]
    weights: list[float]

    def __call__(self, prompts: list[str], responses: list[str]) -> Any:
        """One float tensor of weighted-sum scores, one per (prompt, response)."""
        return self.score_parts(prompts, responses)[0]

    def score_parts(self, prompts: list[str], responses: list[str]) -> tuple[Any, list[Any]]:
        """The weighted sum and each scorer's own scores."""
        import torch

        parts = [
            torch.as_tensor(s(prompts, responses), dtype=torch.float32).reshape(-1) for s in self.scorers
        ]
        total = torch.zeros(len(prompts))
        for weight, part in zip(self.weights, parts, strict=True):
            total = total + weight * part
        return total, parts


def as_list(names: str | list[str] | None) -> list[str]:
    """Reward model names as a list (a single string is one model)."""
    if names is None:
        return []
    return [names] if isinstance(names, str) else list(names)


def load_reward(
    names: str | list[str] | None,
    weights: list[float] | None = None,
    *,
    reward_fn: RewardFn | None = None,
    bf16: bool = False,
    max_length: int = 512,
) -> CombinedReward:
    """The combined reward: `reward_fn` when given (tests, rule-based rewards), else the weighted reward models."""
    import torch

    from alignment.training.models import load_reward_model

    if reward_fn is not None:
        return CombinedReward([reward_fn], [1.0])
    paths = as_list(names)
    if not paths:
        from alignment.training.config import ConfigError

        raise ConfigError("reward_model", "no reward: set 'reward_model' in the config or pass reward_fn")
    scorers: list[Callable[[list[str], list[str]], Any]] = []
    for path in paths:
        model, tokenizer, calibration = load_reward_model(path, bf16=bf16)
        if torch.cuda.is_available():
            model.to("cuda")
        # A reward model with fewer positions than the policy's budget reads the end of each sequence.
        positions = getattr(model.config.get_text_config(), "max_position_embeddings", None) or max_length
        scorers.append(
            RewardModelScorer(model, tokenizer, calibration, max_length=min(max_length, positions))
        )
    return CombinedReward(scorers, list(weights) if weights is not None else [1.0] * len(paths))
