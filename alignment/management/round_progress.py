"""What the round commands print: a round's line, its live run's progress, and the next round's trigger."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from alignment.models import AlignmentPlan, AlignmentRound, RoundState, TrainingRun
from alignment.selectors.rounds import plan_get
from alignment.services.rounds import TriggerStatus, round_trigger_status
from annotate.models import Project


def next_round_status(project: Project) -> TriggerStatus:
    """Whether the plan's threshold would start a round now, and why not (the defaults when there is no plan)."""
    plan = plan_get(project=project) or AlignmentPlan(project=project)
    return round_trigger_status(plan=plan)


def _ago(moment: datetime | None, now: datetime) -> str:
    return "never" if moment is None else f"{int((now - moment).total_seconds())} s ago"


def run_line(run: TrainingRun, now: datetime | None = None) -> str:
    """``policy run 17: running, attempt 1/3, 40/100 (40%), heartbeat 12 s ago, loss=0.5``."""
    now = now or timezone.now()
    figures = ", ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                        for name, value in run.last_event.items())  # fmt: skip
    parts = [
        f"{run.get_status_display().lower()}",
        f"attempt {run.attempt}/{run.max_attempts}",
        f"{run.processed}/{run.total} ({run.percent}%)",
        f"heartbeat {_ago(run.heartbeat_at, now)}",
    ]
    if figures:
        parts.append(figures)
    return f"{run.step} run {run.pk}: " + ", ".join(parts)


def round_line(round_: AlignmentRound) -> str:
    """``round 2: training_policy (manual, started 2025-01-02 10:00 by padmin)`` and how it ended."""
    by = f" by {round_.started_by.username}" if round_.started_by is not None else ""
    line = f"round {round_.number}: {round_.state} ({round_.trigger}, started {round_.created_at:%Y-%m-%d %H:%M}{by})"
    if round_.state == RoundState.FAILED:
        line += f"; failed at {round_.failed_step}: {round_.error}"
    human = round_.metrics.get(RoundState.COLLECTING, {}).get("human_win_rate")
    if isinstance(human, dict) and human.get("rate") is not None:
        line += (
            f"; human win rate {human['rate']:.2f} [{human.get('low', 0):.2f}, {human.get('high', 1):.2f}]"
        )
    return line
