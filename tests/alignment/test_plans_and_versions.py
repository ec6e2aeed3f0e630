"""The plan's beat task and the version lineage's rules, as services (the API and pages: test_api, test_views)."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from alignment.models import AlignmentPlan, ModelVersion, VersionKind, VersionStatus
from alignment.services.plans import plan_update
from alignment.services.versions import VersionRefused, version_reject
from annotate.models import Project
from tests.alignment.pages import make_version
from tests.alignment.rounds import make_tiny_plan
from tests.factories import make_project

pytestmark = pytest.mark.django_db


class PlanScheduleTests:
    def test_the_beat_task_is_the_plans_own_and_goes_with_the_plan(self, project: Project) -> None:
        plan = plan_update(plan=make_tiny_plan(project), schedule="0 3 * * *")
        task = PeriodicTask.objects.get()
        assert (task.pk, task.crontab.hour, task.args) == (plan.periodic_task_id, "3", f"[{plan.pk}]")
        plan_update(plan=plan, schedule="30 4 * * 1")
        assert PeriodicTask.objects.get().pk == task.pk  # the same task, its cron changed
        assert PeriodicTask.objects.get().crontab.minute == "30"
        # Beat does not run a paused plan's task at all (the start would do nothing), and runs it again.
        for enabled in (False, True):
            plan_update(plan=plan, enabled=enabled)
            assert PeriodicTask.objects.get(pk=task.pk).enabled is enabled
        AlignmentPlan.objects.filter(pk=plan.pk).delete()
        assert not PeriodicTask.objects.exists()

    def test_a_renamed_projects_task_does_not_clash_with_a_new_project_of_its_old_slug(
        self, project: Project
    ) -> None:
        plan_update(plan=make_tiny_plan(project), schedule="0 3 * * *")
        Project.objects.filter(pk=project.pk).update(slug="renamed")
        newcomer = make_project(slug="demo")
        plan = plan_update(plan=make_tiny_plan(newcomer), schedule="0 5 * * *")
        assert PeriodicTask.objects.count() == 2
        assert PeriodicTask.objects.get(pk=plan.periodic_task_id).args == f"[{plan.pk}]"


class VersionRejectTests:
    def test_a_rejected_champions_title_skips_a_rejected_parent(self, project: Project) -> None:
        base = make_version(project, 0, status=VersionStatus.ARCHIVED)
        first = make_version(project, 1, parent=base, status=VersionStatus.ARCHIVED)
        version_reject(version=first, reason="worse on long prompts")
        second = make_version(project, 2, parent=first, status=VersionStatus.CHAMPION)
        version_reject(version=second, reason="worse again")
        statuses = dict(ModelVersion.objects.values_list("number", "status"))
        assert statuses == {0: VersionStatus.CHAMPION, 1: VersionStatus.REJECTED, 2: VersionStatus.REJECTED}
        assert ModelVersion.objects.get(number=0).status_reason == "policy v2 was rejected"

    def test_the_base_is_never_rejected_and_a_champion_without_an_heir_keeps_its_title(
        self, project: Project
    ) -> None:
        base = make_version(project, 0, status=VersionStatus.ARCHIVED)
        with pytest.raises(VersionRefused, match=r"base policy.*cannot be rejected"):
            version_reject(version=base, reason="bad base")
        reward = make_version(project, 1, kind=VersionKind.REWARD, status=VersionStatus.CHAMPION)
        with pytest.raises(VersionRefused, match="no parent to fall back to"):
            version_reject(version=reward, reason="overfits")
        assert ModelVersion.objects.get(pk=reward.pk).status == VersionStatus.CHAMPION
        assert ModelVersion.objects.get(pk=base.pk).status == VersionStatus.ARCHIVED
