from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Judgment, Project
from annotate.selectors.agreement import project_agreement
from tests.factories import (
    make_annotators,
    make_voted_pairs,
)

pytestmark = pytest.mark.django_db


class AgreementTests:
    def test_it_reports_per_project_batch_and_day(self, project: Project) -> None:
        users = make_annotators(project, 2)
        make_voted_pairs(project, users, [["a", "a"], ["b", "b"]], batch="one")
        make_voted_pairs(project, users, [["a", "b"], ["b", "a"]], batch="two")
        yesterday = timezone.now() - timedelta(days=1)
        Judgment.objects.filter(comparison__batch="two").update(created_at=yesterday)
        agreement = project_agreement(project=project)
        by_batch = {row.label: row for row in agreement.batches}
        assert by_batch["one"].alpha == pytest.approx(1.0) and by_batch["one"].kappa == pytest.approx(1.0)
        assert by_batch["two"].kappa is not None and by_batch["two"].kappa < 0
        assert agreement.project.items == 4 and agreement.project.votes == 8
        assert [row.label for row in agreement.daily] == [
            yesterday.date().isoformat(),
            timezone.now().date().isoformat(),
        ]
