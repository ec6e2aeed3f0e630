"""Reads of the rounds pages: the timeline, a round with its runs, the running step's progress, the charts
over rounds, a model version with its lineage, and samples of two versions side by side.

What a round measured lives in ``AlignmentRound.metrics`` ({step state: {figure: value}}, written by
``alignment.services.steps``); these functions only pick figures out of it and shape them for the pages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.safestring import SafeString

from alignment.models import (
    AlignmentPlan,
    AlignmentRound,
    ModelVersion,
    RoundState,
    RunStep,
    TrainingRun,
    VersionKind,
)
from annotate import charts
from annotate.models import Comparison, ComparisonStatus, JobStatus, Project, Prompt, Response

# The run each training step records (the inverse of alignment.services.runs.STEP_STATE).
STATE_RUN = {
    RoundState.TRAINING_REWARD: RunStep.REWARD,
    RoundState.TRAINING_POLICY: RunStep.POLICY,
    RoundState.EVALUATING: RunStep.EVALUATE,
    RoundState.GENERATING: RunStep.GENERATE,
}
# Polled while a step works; a collecting round waits on people, so it is asked less often.
POLL_WORKING, POLL_COLLECTING = "2s", "15s"


def plan_get(*, project: Project) -> AlignmentPlan | None:
    """The project's plan, or None while nobody has set one up (reading never creates it)."""
    return AlignmentPlan.objects.filter(project=project).first()


def round_list(*, project: Project, limit: int = 50) -> list[AlignmentRound]:
    """The project's rounds, newest first, with the versions the timeline names."""
    rounds = (
        AlignmentRound.objects.filter(project=project)
        .select_related("policy_version", "reward_version", "start_policy", "snapshot", "started_by")
        .order_by("-number")
    )
    return list(rounds[:limit])


def round_get(*, project: Project, number: int) -> AlignmentRound | None:
    return (
        AlignmentRound.objects.filter(project=project, number=number)
        .select_related(
            "project", "policy_version", "reward_version", "start_policy", "snapshot", "started_by"
        )
        .first()
    )


def round_runs(*, round_: AlignmentRound) -> QuerySet[TrainingRun]:
    """Every training run of the round in the order they were made (failed attempts of a retried step included)."""
    return TrainingRun.objects.filter(round=round_).order_by("created_at", "pk")


# --- the running step ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepProgress:
    """What the polled status fragment shows of a round's current step."""

    round: AlignmentRound
    poll: str  # htmx's "every …" interval; empty once the round can no longer move by itself
    run: TrainingRun | None = None
    processed: int = 0
    total: int = 0
    elapsed_seconds: float | None = None
    eta_seconds: float | None = None
    heartbeat_at: datetime | None = None
    heartbeat_age_seconds: float | None = None
    stale: bool = False
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0

    @property
    def figures_text(self) -> list[tuple[str, str]]:
        """The run's last progress figures (loss, reward, kl …), numbers to 4 significant digits."""
        return [
            (name, f"{value:.4g}" if isinstance(value, int | float) else str(value))
            for name, value in self.figures.items()
            if name != "event"
        ]

    @property
    def eta_text(self) -> str:
        return duration_text(self.eta_seconds)

    @property
    def elapsed_text(self) -> str:
        return duration_text(self.elapsed_seconds)

    @property
    def heartbeat_text(self) -> str:
        return duration_text(self.heartbeat_age_seconds)


def duration_text(seconds: float | None) -> str:
    """A span of seconds as people read it: "45 s", "3 min 20 s", "2 h 5 min"; empty when unknown."""
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def round_progress(*, round_: AlignmentRound, now: datetime | None = None) -> StepProgress:
    """The current step of ``round_``: its run's progress, an ETA from the pace so far, and the last heartbeat."""
    now = now or timezone.now()
    state = round_.state
    if state in (RoundState.DONE, RoundState.CANCELLED, RoundState.FAILED):
        return StepProgress(round=round_, poll="")
    elapsed = (now - round_.step_started_at).total_seconds() if round_.step_started_at else None
    if state == RoundState.COLLECTING:
        made = Comparison.objects.filter(project_id=round_.project_id, batch=round_.batch)
        total = made.count()
        done = made.exclude(status=ComparisonStatus.OPEN).count()
        return StepProgress(
            round=round_, poll=POLL_COLLECTING, processed=done, total=total, elapsed_seconds=elapsed
        )
    step = STATE_RUN.get(RoundState(state))
    run = (
        TrainingRun.objects.filter(round=round_, step=step).order_by("-created_at", "-pk").first()
        if step is not None
        else None
    )
    if run is None:  # pending, the snapshot, or a training step whose run the worker has not made yet
        return StepProgress(round=round_, poll=POLL_WORKING, elapsed_seconds=elapsed)
    age = (now - run.heartbeat_at).total_seconds() if run.heartbeat_at else None
    eta = None
    if run.status == JobStatus.RUNNING and run.started_at and run.processed and run.total:
        # The pace of this attempt so far; a resumed PPO run counts its steps on from the checkpoint,
        # so its first figures run fast and the estimate settles as it goes.
        spent = (now - run.started_at).total_seconds()
        eta = max(0.0, spent * (run.total - run.processed) / run.processed)
    return StepProgress(
        round=round_,
        poll=POLL_WORKING,
        run=run,
        processed=run.processed,
        total=run.total,
        elapsed_seconds=elapsed,
        eta_seconds=eta,
        heartbeat_at=run.heartbeat_at,
        heartbeat_age_seconds=age,
        stale=run.status == JobStatus.RUNNING and (age is None or age > settings.CONCORD_JOB_STALE_SECONDS),
        figures=dict(run.last_event or {}),
    )


def round_unfinished(*, project: Project) -> AlignmentRound | None:
    """The round the status box follows: the newest one not done or cancelled."""
    return (
        AlignmentRound.objects.filter(project=project)
        .exclude(state__in=[RoundState.DONE, RoundState.CANCELLED])
        .select_related("project")
        .order_by("-number")
        .first()
    )


# --- figures and charts over rounds -------------------------------------------------------------------


def _figure(round_: AlignmentRound, state: str, name: str) -> Any:
    return (round_.metrics.get(state) or {}).get(name)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _interval(value: Any) -> tuple[float | None, float | None, float | None]:
    if not isinstance(value, dict):
        return (None, None, None)
    return (_number(value.get("rate")), _number(value.get("low")), _number(value.get("high")))


@dataclass(frozen=True)
class RoundFigures:
    """One timeline row's headline figures."""

    rm_accuracy: float | None
    reward_mean: float | None
    kl: float | None
    rm_win: tuple[float | None, float | None, float | None]
    human_win: tuple[float | None, float | None, float | None]
    human_votes: int
    warnings: list[str]


def round_figures(round_: AlignmentRound) -> RoundFigures:
    human = _figure(round_, RoundState.COLLECTING, "human_win_rate")
    return RoundFigures(
        rm_accuracy=_number(_figure(round_, RoundState.TRAINING_REWARD, "rm_accuracy")),
        reward_mean=_number(_figure(round_, RoundState.EVALUATING, "reward_mean")),
        kl=_number(_figure(round_, RoundState.EVALUATING, "kl")),
        rm_win=_interval(_figure(round_, RoundState.EVALUATING, "rm_win_rate")),
        human_win=_interval(human),
        human_votes=int(human.get("n") or 0) if isinstance(human, dict) else 0,
        warnings=[str(w) for w in _figure(round_, RoundState.EVALUATING, "warnings") or []],
    )


def _span(values: list[float | None], *, floor: float | None = None) -> tuple[float, float]:
    known = [v for v in values if v is not None]
    if floor is not None:
        known.append(floor)
    if not known:
        return (0.0, 1.0)
    low, high = min(known), max(known)
    pad = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
    return (low - pad if floor is None or low < floor else low, high + pad)


@dataclass(frozen=True)
class LadderRung:
    version: int
    score: float | None
    beats_base: float | None  # P(this version beats the ladder's base) under Bradley–Terry


def ladder_latest(rounds: list[AlignmentRound]) -> tuple[AlignmentRound | None, list[LadderRung]]:
    """The Bradley–Terry ladder the newest finished round recorded, best first; scores are log-strengths."""
    for round_ in sorted(rounds, key=lambda r: -r.number):
        ladder = _figure(round_, RoundState.COLLECTING, "ladder")
        if isinstance(ladder, dict) and ladder:
            scores = {int(v): _number(s) for v, s in ladder.items()}
            known = sorted(v for v, s in scores.items() if s is not None)
            base = scores[known[0]] if known else None
            rungs = [
                LadderRung(
                    version=v,
                    score=s,
                    beats_base=None if s is None or base is None else 1 / (1 + math.exp(base - s)),
                )
                for v, s in scores.items()
            ]
            rungs.sort(key=lambda r: (r.score is None, -(r.score or 0.0), r.version))
            return round_, rungs
    return None, []


def round_charts(*, rounds: list[AlignmentRound]) -> dict[str, SafeString]:
    """The rounds page's SVG charts, one point per round, oldest first."""
    ordered = sorted(rounds, key=lambda r: r.number)
    labels = [f"R{r.number}" for r in ordered]
    figures = [round_figures(r) for r in ordered]
    previous_rm = [
        _number(_figure(r, RoundState.TRAINING_REWARD, "previous_rm_accuracy_on_new")) for r in ordered
    ]
    reward = [f.reward_mean for f in figures]
    baseline = [_number(_figure(r, RoundState.EVALUATING, "baseline_reward_mean")) for r in ordered]
    kl = [f.kl for f in figures]
    budget = [_number((r.plan or {}).get("kl_budget")) for r in ordered]
    reward_low, reward_high = _span([*reward, *baseline])
    _, kl_high = _span([*kl, *budget], floor=0.0)
    ladder_round, rungs = ladder_latest(ordered)
    base = min((r.version for r in rungs if r.score is not None), default=0)
    return {
        "rm_accuracy": charts.line_chart(
            title="Reward-model accuracy per round",
            x_labels=labels,
            series=[
                ("held-out pairs", [f.rm_accuracy for f in figures]),
                ("previous RM, new pairs", previous_rm),
            ],
        ),
        "reward": charts.line_chart(
            title="Mean reward on held-out prompts per round",
            x_labels=labels,
            series=[("new policy", reward), ("start policy", baseline)],
            y_min=reward_low,
            y_max=reward_high,
        ),
        "kl": charts.line_chart(
            title="KL to the reference per round",
            x_labels=labels,
            series=[("KL (nats)", kl), ("budget", budget)],
            y_min=0.0,
            y_max=kl_high,
        ),
        "win_rate": charts.interval_chart(
            title="Win rate of each round's policy over its start policy, with 95% Wilson intervals",
            x_labels=labels,
            series=[
                ("reward model", [f.rm_win for f in figures]),
                ("people", [f.human_win for f in figures]),
            ],
        ),
        "ladder": charts.bar_chart(
            title=f"Chance to beat policy v{base} (Bradley–Terry ladder of round {ladder_round.number})"
            if ladder_round
            else "Bradley–Terry ladder",
            labels=[f"policy v{r.version}" for r in rungs],
            values=[r.beats_base for r in rungs],
        ),
    }


@dataclass(frozen=True)
class TimelineRow:
    round: AlignmentRound
    figures: RoundFigures


def rounds_page(*, project: Project) -> dict[str, Any]:
    """The rounds page's context: timeline, the round the status box follows, charts, ladder and versions."""
    rounds = round_list(project=project)
    ladder_round, rungs = ladder_latest(rounds)
    return {
        "plan": plan_get(project=project),
        "timeline": [TimelineRow(round=r, figures=round_figures(r)) for r in rounds],
        "current": round_unfinished(project=project),
        "charts": round_charts(rounds=rounds) if rounds else {},
        "ladder_round": ladder_round,
        "ladder": rungs,
        "versions": version_list(project=project),
    }


# --- model versions -----------------------------------------------------------------------------------


def version_list(*, project: Project) -> list[ModelVersion]:
    """Every version of the project: policies first, newest first within a kind."""
    return list(
        ModelVersion.objects.filter(project=project)
        .select_related("round", "parent")
        .order_by("kind", "-number")  # "policy" sorts before "reward"
    )


def version_get(*, project: Project, kind: str, number: int) -> ModelVersion | None:
    if kind not in VersionKind.values:
        return None
    return (
        ModelVersion.objects.filter(project=project, kind=kind, number=number)
        .select_related("project", "parent", "snapshot", "reward_model", "round")
        .first()
    )


def version_lineage(*, version: ModelVersion, limit: int = 100) -> list[ModelVersion]:
    """The versions it descends from, its parent first, down to the base policy."""
    chain: list[ModelVersion] = []
    seen = {version.pk}
    parent_id = version.parent_id
    while parent_id is not None and parent_id not in seen and len(chain) < limit:
        parent = ModelVersion.objects.select_related("round").filter(pk=parent_id).first()
        if parent is None:
            break
        chain.append(parent)
        seen.add(parent.pk)
        parent_id = parent.parent_id
    return chain


def version_policies(*, project: Project) -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(project=project, kind=VersionKind.POLICY).order_by("-number"))


@dataclass(frozen=True)
class SamplePair:
    """One prompt both versions answered: each version's sampled responses (with the reward model's score)."""

    prompt: Prompt
    first: list[Response]
    second: list[Response]


def version_samples(*, first: ModelVersion, second: ModelVersion, limit: int = 20) -> list[SamplePair]:
    """Prompts for which both versions sampled responses, newest prompts first, with those responses."""
    if first.pk == second.pk:
        return []
    both = (
        Response.objects.filter(
            model_version=first,
            prompt_id__in=Response.objects.filter(model_version=second).values("prompt_id"),
        )
        .values_list("prompt_id", flat=True)
        .distinct()
        .order_by("-prompt_id")
    )
    prompt_ids = list(both[:limit])
    responses = Response.objects.filter(prompt_id__in=prompt_ids, model_version__in=[first, second]).order_by(
        "prompt_id", "pk"
    )
    by_prompt: dict[int, tuple[list[Response], list[Response]]] = {pid: ([], []) for pid in prompt_ids}
    for response in responses:
        by_prompt[response.prompt_id][0 if response.model_version_id == first.pk else 1].append(response)
    prompts = Prompt.objects.in_bulk(prompt_ids)
    return [SamplePair(prompt=prompts[pid], first=a, second=b) for pid, (a, b) in by_prompt.items()]


def version_pair_default(*, project: Project) -> tuple[ModelVersion | None, ModelVersion | None]:
    """The pair the comparison page opens with: the newest trained policy and the one it was trained from."""
    newest = (
        ModelVersion.objects.filter(project=project, kind=VersionKind.POLICY, number__gt=0)
        .select_related("parent")
        .order_by("-number")
        .first()
    )
    if newest is None:
        return None, None
    return newest, newest.parent
