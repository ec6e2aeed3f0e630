"""One configuration dataclass per training step, read from the JSON fine-tuning users already write.

`load_config` accepts the "strategy" JSON of fine-tuning tools as is (`strategy`, `task`, `model_name`,
`dataset`, `provider`, `num_train_epochs`, …, `eval_split`) plus the PPO knobs, fills hardware preset
defaults, and refuses an unknown key, a wrong type, an out-of-range value or an unsupported choice with a
`ConfigError` naming the key and what is allowed. `config_to_dict` is its inverse, so a config stored as
JSON on a `TrainingRun` row loads back to an equal dataclass.

The package imports only the standard library: the web process validates configs without torch. `base`
holds the shared constants, errors, the field helper and the base dataclasses; `steps` the step dataclasses
(the one table of every key of every step) with `CONFIG_CLASSES` and `STEP_RUNNERS`; `loading` the code that
reads and checks a config against that table. Import from here: `from alignment.training.config import X`.
"""

from __future__ import annotations

from alignment.training.config.base import (
    DEFAULT_MAX_SEQ_LENGTH,
    MIN_PROMPT_TOKENS,
    PRESETS,
    STRATEGIES,
    TINY_MODEL,
    TINY_REWARD_MODEL,
    ConfigError,
    ModelNotFoundError,
    StepConfig,
    TrainConfig,
)
from alignment.training.config.loading import config_from_dict, config_help, config_to_dict, load_config
from alignment.training.config.steps import (
    CONFIG_CLASSES,
    STEP_RUNNERS,
    DPOConfig,
    EvaluateConfig,
    GenerateConfig,
    KTOConfig,
    ORPOConfig,
    PPOConfig,
    RewardConfig,
    RLOOConfig,
    SFTConfig,
)

__all__ = [
    "CONFIG_CLASSES",
    "DEFAULT_MAX_SEQ_LENGTH",
    "MIN_PROMPT_TOKENS",
    "PRESETS",
    "STEP_RUNNERS",
    "STRATEGIES",
    "TINY_MODEL",
    "TINY_REWARD_MODEL",
    "ConfigError",
    "DPOConfig",
    "EvaluateConfig",
    "GenerateConfig",
    "KTOConfig",
    "ModelNotFoundError",
    "ORPOConfig",
    "PPOConfig",
    "RLOOConfig",
    "RewardConfig",
    "SFTConfig",
    "StepConfig",
    "TrainConfig",
    "config_from_dict",
    "config_help",
    "config_to_dict",
    "load_config",
]
