"""Scoring decoded text with one or several reward models combined with weights.

Scoring works on text, not token ids, so a reward model may use another tokenizer than the policy
(DESIGN.md, "Key decisions"). PPO scores the sampled ids instead (``score_ids``) when a reward model
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


def step_reward(config: Any, reward_fn: RewardFn | None) -> CombinedReward:
    """The reward a step's config names (`reward_model`, `reward_weights`, `bf16`, its length budget), or
    `reward_fn` when given."""
    from alignment.training.locate import seq_length

    return load_reward(
        config.reward_model,
        config.reward_weights,
        reward_fn=reward_fn,
        bf16=config.bf16,
        max_length=seq_length(config),
    )


def optional_step_reward(config: Any, reward_fn: RewardFn | None) -> CombinedReward | None:
    """`step_reward`, or None where the config names no reward model and no `reward_fn` is given."""
    if config.reward_model is None and reward_fn is None:
        return None
    return step_reward(config, reward_fn)


# --- scoring sampled ids (PPO) ---------------------------------------------------------------------


def same_tokenizer(a: Any, b: Any) -> bool:
    """True when two tokenizers give the same ids (same class and vocabulary)."""
    return type(a) is type(b) and len(a) == len(b) and a.get_vocab() == b.get_vocab()


def reads_policy_ids(scorer: Any, tokenizer: Any) -> bool:
    """Whether `scorer` is a reward model that can score the policy's token ids without decoding them."""
    if not isinstance(scorer, RewardModelScorer):
        return False
    model = scorer.model
    return (
        hasattr(model, "score")
        and hasattr(model, model.base_model_prefix)
        and same_tokenizer(scorer.tokenizer, tokenizer)
    )


def score_ids(
    model: Any, query_response: Any, attention_mask: Any, has_eos: Any, eos_token_id: int, max_length: int
) -> Any:
    """Raw scores of a sequence-classification reward model on prompt + response + EOS, from the sampled ids.

    A response that ended is scored at its EOS; one cut off at response_length gets an EOS appended, as
    reward models are trained (TRL's RewardTrainer appends it) and as the text path
    (`RewardModelScorer.raw`) scores it. Decoding and re-tokenising instead is not the identity: it drops
    special tokens and bytes that are not valid UTF-8 and may split text differently, so the reward model
    would judge other tokens than the policy produced, and a critic initialised from the reward model
    would start out predicting another score than the one it is trained on.
    """
    import torch

    from alignment.training.sampling import position_ids

    batch = query_response.shape[0]
    device = next(model.parameters()).device
    eos = torch.full((batch, 1), eos_token_id, dtype=query_response.dtype, device=query_response.device)
    ids = torch.cat([query_response, eos], dim=1).to(device)
    attention = torch.cat([attention_mask, (~has_eos).to(attention_mask.dtype)[:, None]], dim=1).to(device)
    # Drop the start of the prompt if the sequence is longer than the reward model takes (the text path
    # truncates the end instead, which would cut off the response).
    ids, attention = ids[:, -max_length:], attention[:, -max_length:]
    ends = attention.shape[1] - 1 - attention.flip(1).argmax(1)  # last attended position: the EOS
    backbone = getattr(model, model.base_model_prefix)
    hidden = backbone(
        input_ids=ids, attention_mask=attention, position_ids=position_ids(attention)
    ).last_hidden_state
    return model.score(hidden[torch.arange(batch, device=device), ends]).squeeze(-1).float()


def score_responses(
    reward: Any,
    by_ids: list[bool],
    prompt_texts: list[str],
    texts: list[str],
    query_response: Any,
    attention_mask: Any,
    has_eos: Any,
    eos_id: int,
) -> Any:
    """The weighted reward of each response: from the sampled ids where a reward model reads them, else
    from the decoded text."""
    import torch

    if not any(by_ids):
        return torch.as_tensor(reward(prompt_texts, texts), dtype=torch.float32).reshape(-1)
    total = torch.zeros(len(texts))
    for scorer, weight, reads_ids in zip(reward.scorers, reward.weights, by_ids, strict=True):
        if reads_ids:
            raw = score_ids(
                scorer.model, query_response, attention_mask, has_eos, eos_id, scorer.max_length
            ).cpu()
            part = scorer.calibrate(raw, texts)
        else:
            part = torch.as_tensor(scorer(prompt_texts, texts), dtype=torch.float32).reshape(-1)
        total = total + weight * part
    return total
