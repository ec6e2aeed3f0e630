"""One configuration dataclass per training step (TRL's `<algo>_config.py`, here in one table): each key's
default, bounds and help text next to its field. This module is long because it is that table; the code
that reads it is in `loading`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from alignment.training.config.base import (
    TINY_REWARD_MODEL,
    StepConfig,
    TrainConfig,
    _field,
)

REFERENCE_HELP = (
    "Fixed reference model of the KL leash (a path or hub id with the policy's tokenizer), e.g. an alignment "
    "plan's base while model_name is the previous champion; null: the starting policy (LoRA disabled, or "
    "a frozen copy with lora_r 0)."
)


@dataclass
class SFTConfig(TrainConfig):
    """Supervised fine-tuning on demonstrations (`{prompt, completion}` or `{text}` rows)."""

    STEP: ClassVar[str] = "sft"
    learning_rate: float = _field(2e-4, "Peak learning rate (linearly annealed to 0).", gt=0, lt=1)
    completion_only_loss: bool = _field(True, "Train only on completion tokens when rows have a prompt.")


@dataclass
class RewardConfig(TrainConfig):
    """Reward model training on `{prompt, chosen, rejected[, margin]}` rows."""

    STEP: ClassVar[str] = "reward"
    task: str = _field(
        "text-generation",
        "Model task as fine-tuning tools name it.",
        choices=("text-generation", "text-classification"),
    )
    learning_rate: float = _field(1e-4, "Peak learning rate (linearly annealed to 0).", gt=0, lt=1)
    lora_r: int = _field(0, "LoRA rank; 0 trains all weights (the usual choice for a reward model).", ge=0)
    eval_split: float = _field(0.1, "Share of pairs held out to measure accuracy.", ge=0, lt=1)
    center_rewards_coefficient: float | None = _field(
        None, "Weight of the auxiliary loss that keeps rewards centred on 0 (Eisenstein et al., 2023).", ge=0
    )
    normalize: bool = _field(
        True, "Store a gain and bias so scores have mean 0 and std 1 on the training responses."
    )
    length_normalization: bool = _field(
        False, "Fit and remove the linear trend of score on response length (counters length bias)."
    )


@dataclass
class PPOConfig(TrainConfig):
    """PPO against one or several reward models, with a KL leash to the reference (the adapter-free base)."""

    STEP: ClassVar[str] = "ppo"
    learning_rate: float = _field(
        3e-4,
        "Peak learning rate (linearly annealed to 0). The default suits the default LoRA adapters (1.41e-5, "
        "TRL's full-weight value, hardly moves adapters in a few dozen steps); with lora_r 0 use about 1e-5.",
        gt=0,
        lt=1,
    )
    kl_coef: float = _field(0.05, "Initial β of the per-token KL penalty against the reference.", ge=0)
    target_kl: float | None = _field(
        None, "Target per-sequence KL for the adaptive KL controller; null keeps kl_coef fixed.", gt=0
    )
    kl_horizon: int = _field(10000, "Adaptive KL controller horizon in episodes (Ziegler et al.).", ge=1)
    kl_stop: float | None = _field(
        None,
        "Stop the run when the mean per-sequence KL exceeds this (runaway); null: 4 × target_kl if set.",
        gt=0,
    )
    max_approx_kl: float | None = _field(
        None, "Skip a batch's remaining PPO epochs once approx-KL(old‖new) passes 1.5 × this.", gt=0
    )
    cliprange: float = _field(0.2, "PPO policy ratio clip ε.", gt=0, lt=1)
    cliprange_value: float = _field(0.2, "Value prediction clip around the rollout values.", gt=0)
    vf_coef: float = _field(0.1, "Weight of the value loss.", ge=0)
    ppo_epochs: int = _field(4, "Optimisation passes over each rollout batch.", ge=1)
    num_mini_batches: int = _field(1, "Minibatches per PPO epoch (one optimizer step each).", ge=1)
    gamma: float = _field(1.0, "GAE discount.", ge=0, le=1)
    lam: float = _field(0.95, "GAE λ.", ge=0, le=1)
    whiten_rewards: bool = _field(False, "Whiten the per-token rewards of each batch before GAE.")
    whiten_advantages: bool = _field(True, "Whiten advantages per batch (mean 0, std 1).")
    response_length: int = _field(53, "Tokens sampled per response.", ge=1)
    temperature: float = _field(0.7, "Sampling temperature; logits are divided by it in training too.", gt=0)
    missing_eos_penalty: float | None = _field(
        None, "Subtracted from the score of a response that ends without EOS.", ge=0
    )
    reward_model: str | list[str] | None = _field(  # noqa: RUF009
        None,
        "Reward model path(s) or hub id(s), e.g. the reward step's <out>/reward_model; several are summed "
        "with reward_weights. Required: there is no default, so nothing is optimised against an untrained "
        f"model ('{TINY_REWARD_MODEL}' names the untrained built-in one, for demos).",
    )
    reward_weights: list[float] | None = _field(  # noqa: RUF009
        None, "One weight per reward model (e.g. [0.7, 0.3]); null gives every model weight 1."
    )
    reward_baseline: str | None = _field(
        "empty_response",
        "Subtracted from each score before PPO sees it: 'empty_response', the score of the prompt with an "
        "empty response (one reward forward per prompt; it removes what the prompt alone decides), or null.",
        choices=(None, "empty_response"),
    )
    value_model: str | None = _field(
        None,
        "Critic: null puts a zero-initialised value head on the policy trunk (one forward pass for both); "
        "'reward_model' (the first reward model) or a path trains a separate critic initialised from it, "
        "which gives useful values from the first step at the cost of a second network. It must use the "
        "policy's tokenizer.",
    )
    adam_eps: float = _field(1e-5, "Adam ε (1e-5 as in the PPO reference implementations).", gt=0)
    total_episodes: int | None = _field(
        None, "Responses to sample in all; null: num_train_epochs × number of prompts.", ge=1
    )
    save_steps: int = _field(10, "Checkpoint every this many PPO steps (0: only at the end).", ge=0)
    reference_model: str | None = _field(None, REFERENCE_HELP)


@dataclass
class DPOConfig(TrainConfig):
    """Direct preference optimisation on `{prompt, chosen, rejected}` rows."""

    STEP: ClassVar[str] = "dpo"
    learning_rate: float = _field(5e-5, "Peak learning rate (linearly annealed to 0).", gt=0, lt=1)
    beta: float = _field(0.1, "DPO temperature β: strength of the pull towards the reference.", gt=0)
    loss_type: str = _field("sigmoid", "DPO loss.", choices=("sigmoid", "hinge", "ipo", "robust"))
    label_smoothing: float = _field(0.0, "Conservative DPO label smoothing.", ge=0, lt=0.5)
    reference_model: str | None = _field(None, REFERENCE_HELP)


@dataclass
class RLOOConfig(TrainConfig):
    """REINFORCE leave-one-out (TRL RLOOTrainer) with our reward model(s)."""

    STEP: ClassVar[str] = "rloo"
    learning_rate: float = _field(1e-4, "Peak learning rate (linearly annealed to 0).", gt=0, lt=1)
    num_generations: int = _field(4, "Responses sampled per prompt (the leave-one-out group).", ge=2)
    kl_coef: float = _field(0.05, "β of the KL penalty against the reference.", ge=0)
    response_length: int = _field(53, "Tokens sampled per response.", ge=1)
    temperature: float = _field(0.7, "Sampling temperature.", gt=0)
    reward_model: str | list[str] | None = _field(  # noqa: RUF009
        None,
        "Reward model path(s) or hub id(s), e.g. the reward step's <out>/reward_model; several are summed "
        "with reward_weights. Required: there is no default, so nothing is optimised against an untrained "
        f"model ('{TINY_REWARD_MODEL}' names the untrained built-in one, for demos).",
    )
    reward_weights: list[float] | None = _field(None, "One weight per reward model; null gives weight 1.")  # noqa: RUF009
    reference_model: str | None = _field(None, REFERENCE_HELP)


@dataclass
class KTOConfig(TrainConfig):
    """Kahneman-Tversky optimisation (Ethayarajh et al., 2024) on unpaired `{prompt, completion, label}` rows."""

    STEP: ClassVar[str] = "kto"
    learning_rate: float = _field(
        2e-4,
        "Peak learning rate (linearly annealed to 0), for the default LoRA adapters: on the tiny model 5e-5 "
        "separated desirable from undesirable log-probabilities 8x less than 3e-4 in 32 steps (TRL's 1e-6 "
        "is for training all weights of a large model).",
        gt=0,
        lt=1,
    )
    per_device_train_batch_size: int = _field(
        8,
        "Examples per forward pass; at least 2 for the 'kto' loss, which estimates its KL term from the "
        "batch's completions paired with the other prompts of the same batch.",
        ge=1,
    )
    beta: float = _field(
        0.1, "KTO β: strength of the pull towards the reference (the starting policy).", gt=0
    )
    loss_type: str = _field(
        "kto",
        "'kto' (the paper's loss, with the batch KL estimate as reference point) or 'apo_zero_unpaired' "
        "(APO-zero, no KL estimate: for desirable completions better than the model's own).",
        choices=("kto", "apo_zero_unpaired"),
    )
    desirable_weight: float | None = _field(
        None,
        "Weight λ_D of the desirable examples' losses; null: balanced by the counts (see undesirable_weight).",
        gt=0,
    )
    undesirable_weight: float | None = _field(
        None,
        "Weight λ_U of the undesirable examples' losses; null: balanced by the counts, so that λ_D·n_D / "
        "λ_U·n_U = 1, inside the KTO paper's advised range [1, 4/3] (the smaller class is weighted up).",
        gt=0,
    )
    reference_model: str | None = _field(None, REFERENCE_HELP)


@dataclass
class ORPOConfig(TrainConfig):
    """Odds-ratio preference optimisation (Hong et al., 2024) on `{prompt, chosen, rejected}` rows: SFT on
    the chosen response plus an odds-ratio penalty; no reference model."""

    STEP: ClassVar[str] = "orpo"
    learning_rate: float = _field(
        2e-4,
        "Peak learning rate (linearly annealed to 0), for the default LoRA adapters: on the tiny model 1e-4 "
        "raised the chosen-over-rejected log-odds a quarter as much as 3e-4 in 16 steps (TRL's 1e-6 is for "
        "training all weights of a large model).",
        gt=0,
        lt=1,
    )
    beta: float = _field(
        0.1, "ORPO λ: weight of the odds-ratio term against the chosen response's NLL (TRL's beta).", gt=0
    )


@dataclass
class GenerateConfig(StepConfig):
    """Sampling n responses per prompt, optionally keeping the best by reward."""

    STEP: ClassVar[str] = "generate"
    num_return_sequences: int = _field(4, "Responses sampled per prompt (n).", ge=1)
    response_length: int = _field(64, "Most tokens per response.", ge=1)
    temperature: float = _field(0.7, "Sampling temperature.", gt=0)
    batch_size: int = _field(16, "Prompts per generation batch.", ge=1)
    best_of_n: bool = _field(False, "Keep only the highest-reward response per prompt (needs reward_model).")
    reward_model: str | list[str] | None = _field(  # noqa: RUF009
        None, "Reward model path(s) to score responses; null leaves them unscored."
    )
    reward_weights: list[float] | None = _field(None, "One weight per reward model; null gives weight 1.")  # noqa: RUF009


@dataclass
class EvaluateConfig(StepConfig):
    """Mean reward, KL to the reference, win rate against another policy and reward-model accuracy."""

    STEP: ClassVar[str] = "evaluate"
    reference_model: str | None = _field(
        None, "Policy to measure KL against and to compare win rate with; null skips both."
    )
    baseline_model: str | None = _field(
        None,
        "Policy the reward-model win rate is measured against (e.g. the current champion); null: "
        "reference_model. KL is always to reference_model.",
    )
    reward_model: str | list[str] | None = _field(  # noqa: RUF009
        None, "Reward model path(s) that judge responses and whose accuracy is measured on pairs."
    )
    reward_weights: list[float] | None = _field(None, "One weight per reward model; null gives weight 1.")  # noqa: RUF009
    response_length: int = _field(64, "Most tokens per sampled response.", ge=1)
    temperature: float = _field(0.7, "Sampling temperature.", gt=0)
    batch_size: int = _field(16, "Prompts per batch.", ge=1)
    max_prompts: int | None = _field(None, "Evaluate on at most this many prompts.", ge=1)
    samples_per_prompt: int = _field(
        1,
        "Responses sampled per prompt from the policy and from the baseline each; the win rate compares "
        "them in order (the i-th with the i-th), so its interval narrows with prompts x samples.",
        ge=1,
    )


CONFIG_CLASSES: dict[str, type[StepConfig]] = {
    cls.STEP: cls
    for cls in (
        SFTConfig,
        RewardConfig,
        PPOConfig,
        DPOConfig,
        RLOOConfig,
        KTOConfig,
        ORPOConfig,
        GenerateConfig,
        EvaluateConfig,
    )
}
"""The config dataclass of each step."""

STEP_RUNNERS: dict[str, tuple[str, bool]] = {
    "sft": ("alignment.training.sft:train_sft", False),
    "reward": ("alignment.training.reward:train_reward", False),
    "ppo": ("alignment.training.ppo:train_ppo", True),
    "dpo": ("alignment.training.dpo:train_dpo", False),
    "rloo": ("alignment.training.rloo:train_rloo", True),
    "kto": ("alignment.training.kto:train_kto", False),
    "orpo": ("alignment.training.orpo:train_orpo", False),
    "generate": ("alignment.training.generate:generate", True),
    "evaluate": ("alignment.training.evaluate:evaluate", True),
}
"""The function that runs each step ("module:function", imported on use so this module stays light), and
whether it takes a `reward_fn`."""
