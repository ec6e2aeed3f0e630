"""The rounds pages' reads: the running step's progress, the figures and charts over rounds, versions."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from alignment.models import RoundState, RunStep, VersionKind, VersionStatus
from alignment.selectors.figures import ladder_latest, round_charts, round_figures
from alignment.selectors.rounds import (
    POLL_COLLECTING,
    POLL_WORKING,
    duration_text,
    round_list,
    round_progress,
    round_unfinished,
)
from alignment.selectors.versions import (
    version_get,
    version_lineage,
    version_list,
    version_pair_default,
    version_samples,
)
from annotate.models import Comparison, ComparisonStatus, Project, Response, ResponseSource
from tests.alignment.pages import make_finished_round, make_round, make_running_run, make_version
from tests.factories import make_comparison

pytestmark = pytest.mark.django_db


class RoundProgressTests:
    def test_it_reports_the_running_runs_progress_eta_and_heartbeat(self, project: Project) -> None:
        now = timezone.now()
        round_ = make_round(
            project, 1, RoundState.TRAINING_POLICY, step_started_at=now - timedelta(seconds=150)
        )
        make_running_run(
            round_, RunStep.POLICY, started=100, heartbeat=5, now=now,
            processed=25, total=100, last_event={"event": "step", "step": 25, "loss": 0.123456, "kl": 0.02},
        )  # fmt: skip
        progress = round_progress(round_=round_, now=now)
        assert progress.poll == POLL_WORKING
        assert (progress.processed, progress.total, progress.percent) == (25, 100, 25)
        # 25 steps took 100 s: 75 more take 300 s.
        assert progress.eta_seconds == pytest.approx(300.0)
        assert progress.eta_text == "5 min"
        assert progress.heartbeat_age_seconds == pytest.approx(5.0) and not progress.stale
        assert progress.elapsed_text == "2 min 30 s"
        assert dict(progress.figures_text) == {"step": "25", "loss": "0.1235", "kl": "0.02"}

    def test_it_calls_a_heartbeat_older_than_the_stale_limit_stale(
        self, project: Project, settings: object
    ) -> None:
        now = timezone.now()
        round_ = make_round(project, 1, RoundState.TRAINING_REWARD)
        make_running_run(round_, RunStep.REWARD, started=300, heartbeat=61, now=now)
        settings.CONCORD_JOB_STALE_SECONDS = 60  # type: ignore[attr-defined]
        progress = round_progress(round_=round_, now=now)
        assert progress.stale and progress.eta_seconds is None and progress.heartbeat_text == "1 min 1 s"

    def test_it_counts_the_rounds_comparisons_with_their_votes_while_collecting(
        self, project: Project
    ) -> None:
        round_ = make_round(project, 1, RoundState.COLLECTING)
        made = [make_comparison(project, batch=round_.batch) for _ in range(4)]
        Comparison.objects.filter(pk__in=[c.pk for c in made[:3]]).update(status=ComparisonStatus.COMPLETE)
        make_comparison(project)  # imported work is not the round's
        progress = round_progress(round_=round_)
        assert (progress.processed, progress.total, progress.poll) == (3, 4, POLL_COLLECTING)

    @pytest.mark.parametrize("state", [RoundState.DONE, RoundState.CANCELLED, RoundState.FAILED])
    def test_it_stops_polling_a_round_that_cannot_move_by_itself(self, project: Project, state: str) -> None:
        assert round_progress(round_=make_round(project, 1, state)).poll == ""

    def test_a_step_without_its_run_yet_is_polled_with_no_figures(self, project: Project) -> None:
        progress = round_progress(round_=make_round(project, 1, RoundState.SNAPSHOTTING))
        assert progress.poll and progress.run is None and progress.total == 0

    def test_the_status_box_follows_the_newest_unfinished_round(self, project: Project) -> None:
        make_round(project, 1, RoundState.DONE)
        make_round(project, 2, RoundState.COLLECTING)
        assert round_unfinished(project=project).number == 2  # type: ignore[union-attr]
        make_round(project, 3, RoundState.CANCELLED)
        assert round_unfinished(project=project).number == 2  # type: ignore[union-attr]


class DurationTextTests:
    @pytest.mark.parametrize(
        ("seconds", "text"),
        [(None, ""), (4.4, "4 s"), (60, "1 min"), (200, "3 min 20 s"), (3600, "1 h"), (7500, "2 h 5 min")],
    )
    def test_it_writes_a_span_as_people_read_it(self, seconds: float | None, text: str) -> None:
        assert duration_text(seconds) == text


class RoundChartTests:
    def test_the_figures_of_a_round_come_from_its_metrics(self, project: Project) -> None:
        round_, _, _ = make_finished_round(project)
        figures = round_figures(round_)
        assert (figures.rm_accuracy, figures.reward_mean, figures.kl) == (0.71, 0.42, 1.25)
        assert figures.rm_win == (0.7, 0.55, 0.82) and figures.human_win == (0.65, 0.47, 0.79)
        assert figures.human_votes == 30

    def test_each_chart_has_one_point_per_round_that_measured_it(self, project: Project) -> None:
        make_finished_round(project)
        running = make_round(
            project, 2, RoundState.TRAINING_POLICY, metrics={"training_reward": {"rm_accuracy": 0.8}}
        )
        charts = round_charts(rounds=[running, *round_list(project=project)[1:]])
        # Round 1 measured everything; round 2 only its reward model so far.
        assert charts["rm_accuracy"].count('class="point"') == 3  # 2 held-out accuracies + 1 previous-RM
        assert charts["kl"].count('class="point"') == 3  # round 1's KL + the budget of both rounds
        # One whisker per measured interval: round 1's reward-model and human win rates.
        assert charts["win_rate"].count('class="interval"') == 2
        assert "R1" in charts["win_rate"] and "R2" in charts["win_rate"]

    def test_the_ladder_is_the_newest_recorded_one_as_chances_to_beat_the_base(
        self, project: Project
    ) -> None:
        round_, _, _ = make_finished_round(project)
        ladder_round, rungs = ladder_latest([round_])
        assert ladder_round == round_
        assert [r.version for r in rungs] == [1, 0]
        assert rungs[0].beats_base == pytest.approx(1 / (1 + math.exp(-0.6)))
        assert rungs[1].beats_base == pytest.approx(0.5)
        chart = round_charts(rounds=[round_])["ladder"]
        assert chart.count('class="bar-value"') == 2 and "policy v1" in chart

    def test_a_version_the_ladder_could_not_place_has_no_score(self, project: Project) -> None:
        round_ = make_round(project, 1, metrics={"collecting": {"ladder": {"0": 0.0, "1": 0.5, "2": None}}})
        _, rungs = ladder_latest([round_])
        assert [(r.version, r.beats_base is None) for r in rungs] == [(1, False), (0, False), (2, True)]


class VersionSelectorTests:
    def test_the_lineage_runs_from_the_parent_down_to_the_base(self, project: Project) -> None:
        base = make_version(project, 0)
        v1 = make_version(project, 1, parent=base)
        v2 = make_version(project, 2, parent=v1, status=VersionStatus.CHAMPION)
        assert version_lineage(version=v2) == [v1, base]
        assert version_lineage(version=base) == []

    def test_an_unknown_kind_or_number_is_no_version(self, project: Project) -> None:
        make_version(project, 0)
        assert version_get(project=project, kind="policy", number=0) is not None
        assert version_get(project=project, kind="prompt", number=0) is None
        assert version_get(project=project, kind=VersionKind.REWARD, number=0) is None

    def test_samples_are_the_prompts_both_versions_answered(self, project: Project) -> None:
        base, v1 = make_version(project, 0), make_version(project, 1)
        shared = make_comparison(project, prompt="Both answered this", a="x", b="y")
        only_v1 = make_comparison(project, prompt="Only v1 answered this", a="p", b="q")
        for text, version, prompt in (
            ("from v0", base, shared),
            ("from v1", v1, shared),
            ("v1 alone", v1, only_v1),
        ):
            Response.objects.create(
                prompt=prompt.prompt, text=text, content_hash=text, source=ResponseSource.MODEL,
                model_version=version, metadata={"score": 0.5},
            )  # fmt: skip
        samples = version_samples(first=v1, second=base)
        assert [s.prompt.pk for s in samples] == [shared.prompt_id]
        assert [r.text for r in samples[0].first] == ["from v1"]
        assert [r.text for r in samples[0].second] == ["from v0"]
        assert version_samples(first=v1, second=v1) == []

    def test_the_comparison_opens_with_the_newest_policy_and_its_parent(self, project: Project) -> None:
        assert version_pair_default(project=project) == (None, None)
        _, base, policy = make_finished_round(project)
        assert version_pair_default(project=project) == (policy, base)

    def test_versions_list_policies_first_newest_first(self, project: Project) -> None:
        make_finished_round(project)
        labels = [v.label for v in version_list(project=project)]
        assert labels == ["policy v1", "policy v0", "reward v1"]
