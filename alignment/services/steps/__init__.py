"""The work of each step of a round: snapshot, reward model, policy, evaluation, new candidates, votes.

Each function takes the round (in its step's state) and returns a ``StepOutcome``, or None when the
step cannot finish now (another worker holds its run; votes still coming). Work that trains or
samples runs through ``run_step_in_claim``; writes that must happen once (versions, the snapshot)
happen under the round's row lock, checked against what the round already has, so a redelivered
message does nothing twice. The library is called with plain values: configs as dicts, rows as
JSONL files in the round's folder, models by path.

One module per part of the round: ``training`` (steps 1–3), ``evaluation`` (4–5), ``candidates`` (6),
``collecting`` (7), and ``folder`` (the round's folder and row files they share).
"""

from __future__ import annotations

from collections.abc import Callable

from alignment.models import AlignmentRound, RoundState
from alignment.services.rounds import StepOutcome
from alignment.services.steps.candidates import generate_step, round_prompts, sampled_text
from alignment.services.steps.collecting import collect_outcome, collect_step, model_games
from alignment.services.steps.evaluation import evaluate_step, held_out_prompts, prompt_is_held_out
from alignment.services.steps.folder import MIN_PAIRS
from alignment.services.steps.training import policy_config, policy_step, reward_step, snapshot_step

STEP_WORK: dict[str, Callable[[AlignmentRound], StepOutcome | None]] = {
    RoundState.SNAPSHOTTING: snapshot_step,
    RoundState.TRAINING_REWARD: reward_step,
    RoundState.TRAINING_POLICY: policy_step,
    RoundState.EVALUATING: evaluate_step,
    RoundState.GENERATING: generate_step,
    RoundState.COLLECTING: collect_step,
}


__all__ = [
    "MIN_PAIRS",
    "STEP_WORK",
    "collect_outcome",
    "collect_step",
    "evaluate_step",
    "generate_step",
    "held_out_prompts",
    "model_games",
    "policy_config",
    "policy_step",
    "prompt_is_held_out",
    "reward_step",
    "round_prompts",
    "sampled_text",
    "snapshot_step",
]
