"""What the round commands print: a round's line, its live run's progress, and the next round's trigger."""

from __future__ import annotations

from alignment.models import AlignmentPlan, AlignmentRound, RoundState
from alignment.selectors.rounds import StepProgress, plan_get
from alignment.services.rounds import TriggerStatus, round_trigger_status
from annotate.models import Project


def next_round_status(project: Project) -> TriggerStatus:
    """Whether the plan's threshold would start a round now, and why not (the defaults when there is no plan)."""
    plan = plan_get(project=project) or AlignmentPlan(project=project)
    return round_trigger_status(plan=plan)


def run_line(progress: StepProgress) -> str:
    """``policy run 17: running, attempt 1/3, 40/100 (40%), heartbeat 12 s ago, ETA 3 min, loss=0.5``: the
    figures of the round's page (``round_progress``), as one line."""
    run = progress.run
    assert run is not None, "a step's progress without a run has no line"
    heartbeat = f"{progress.heartbeat_text} ago" if progress.heartbeat_at is not None else "never"
    parts = [
        f"{run.get_status_display().lower()}",
        f"attempt {run.attempt}/{run.max_attempts}",
        f"{progress.processed}/{progress.total} ({progress.percent}%)",
        f"heartbeat {heartbeat}" + (" (stale)" if progress.stale else ""),
    ]
    if progress.eta_seconds is not None:
        parts.append(f"ETA {progress.eta_text}")
    parts.extend(f"{name}={value}" for name, value in progress.figures_text)
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
