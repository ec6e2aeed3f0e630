"""Odds-ratio preference optimisation (TRL's experimental `ORPOTrainer`) on `{prompt, chosen, rejected}` rows.

ORPO (Hong et al., 2024, "ORPO: Monolithic Preference Optimization without Reference Model") adds to the
chosen response's NLL a penalty −λ·log σ(log odds(chosen) − log odds(rejected)), with odds p/(1−p) of the
mean per-token probability. It needs no reference model, so nothing is kept or recomputed beside the policy.
TRL 1.16 ships it under `trl.experimental.orpo`.
"""

from __future__ import annotations

from pathlib import Path

from alignment.training.config import ORPOConfig
from alignment.training.results import PolicyResult, Progress, begin_step
from alignment.training.reward import preference_rows
from alignment.training.rows import Rows, as_rows, split_rows


class ORPOResult(PolicyResult):
    """Outcome of ORPO: the policy folder and the trainer's log history (with `log_odds_ratio` per step)."""


def train_orpo(
    config: ORPOConfig, rows: Rows | None, out_dir: str | Path, *, progress: Progress | None = None
) -> ORPOResult:
    """Train the policy with ORPO; the saved policy has its adapters merged (unless 4-bit)."""
    from trl.experimental.orpo import ORPOConfig as TRLORPOConfig
    from trl.experimental.orpo import ORPOTrainer

    from alignment.training.locate import seq_length
    from alignment.training.trainer_args import common_args, prepare_for_responses

    config, ctx = begin_step(config, out_dir, progress)
    # preference_rows keeps a margin column when every row has one; ORPO's collator passes it by, unused.
    pairs = preference_rows(as_rows(rows, config.dataset))
    train_rows, eval_rows = split_rows(pairs, config.eval_split, seed=config.seed)
    policy = prepare_for_responses(config, progress, train_rows, eval_rows, padding_side="right")
    args = TRLORPOConfig(
        **common_args(config, ctx.out),
        beta=config.beta,
        max_length=seq_length(config),
        remove_unused_columns=False,
    )
    return policy.train(ctx, ORPOTrainer, ORPOResult, args)
