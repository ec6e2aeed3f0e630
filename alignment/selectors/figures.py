"""What each round measured, picked out of ``AlignmentRound.metrics`` ({step state: {figure: value}}, written by
``alignment.services.steps``), and the SVG charts over rounds drawn with ``annotate.charts``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeString

from alignment.models import AlignmentRound, RoundState
from annotate import charts


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
