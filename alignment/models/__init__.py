"""Alignment models: plans, model versions, rounds and their training runs. Fields and constraints only."""

from alignment.models.plans import AlignmentPlan, PolicyAlgorithm
from alignment.models.rounds import (
    ACTIVE_STATES,
    STEP_STATES,
    AlignmentRound,
    RoundState,
    RoundTrigger,
    RunStep,
    TrainingRun,
)
from alignment.models.versions import ModelVersion, VersionImmutable, VersionKind, VersionStatus

__all__ = [
    "ACTIVE_STATES",
    "STEP_STATES",
    "AlignmentPlan",
    "AlignmentRound",
    "ModelVersion",
    "PolicyAlgorithm",
    "RoundState",
    "RoundTrigger",
    "RunStep",
    "TrainingRun",
    "VersionImmutable",
    "VersionKind",
    "VersionStatus",
]
