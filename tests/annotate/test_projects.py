"""The membership services, tested directly (the last-admin rule also under two concurrent demotions)."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import User
from django.db import connection

from annotate.models import Membership, Project, Role
from annotate.services.projects import (
    MembershipRefused,
    membership_add,
    membership_remove,
    membership_set_role,
)
from tests.factories import add_member, make_project, make_user

HX = {"HX-Request": "true"}


@pytest.mark.django_db
class MembershipServiceTests:
    def test_it_adds_an_existing_user_with_a_role(self, project: Project, outsider: User) -> None:
        membership = membership_add(project=project, username=" outsider ", role=Role.ADMIN)
        assert (membership.user, membership.role) == (outsider, Role.ADMIN)

    def test_it_names_an_unknown_user_and_stores_nothing(self, project: Project) -> None:
        with pytest.raises(MembershipRefused, match="username: no user is called 'nobody'"):
            membership_add(project=project, username="nobody")
        assert not Membership.objects.filter(project=project).exists()

    def test_it_refuses_a_second_membership_and_keeps_the_first_role(
        self, project: Project, annotator: User
    ) -> None:
        with pytest.raises(MembershipRefused, match="ann is already a member"):
            membership_add(project=project, username="ann", role=Role.ADMIN)
        assert Membership.objects.get(project=project, user=annotator).role == Role.ANNOTATOR

    def test_it_refuses_an_unknown_role(self, project: Project, outsider: User) -> None:
        with pytest.raises(MembershipRefused, match="role: must be one of annotator, admin"):
            membership_add(project=project, username="outsider", role="owner")

    def test_it_never_demotes_or_removes_the_last_admin(self, project: Project, project_admin: User) -> None:
        with pytest.raises(MembershipRefused, match="padmin is the last admin"):
            membership_set_role(project=project, username="padmin", role=Role.ANNOTATOR)
        with pytest.raises(MembershipRefused, match="padmin is the last admin"):
            membership_remove(project=project, username="padmin")
        assert Membership.objects.get(project=project, user=project_admin).role == Role.ADMIN

    def test_it_demotes_and_removes_an_admin_while_another_is_left(
        self, project: Project, project_admin: User, outsider: User
    ) -> None:
        add_member(project, outsider, Role.ADMIN)
        assert (
            membership_set_role(project=project, username="padmin", role=Role.ANNOTATOR).role
            == Role.ANNOTATOR
        )
        membership_remove(project=project, username="padmin")
        assert list(Membership.objects.filter(project=project).values_list("user__username", "role")) == [
            ("outsider", Role.ADMIN)
        ]

    def test_it_names_someone_who_is_not_a_member(self, project: Project, outsider: User) -> None:
        with pytest.raises(MembershipRefused, match="'outsider' is not a member of demo"):
            membership_remove(project=project, username="outsider")


@pytest.mark.django_db(transaction=True)
class MembershipConcurrencyTests:
    def test_two_admins_demoting_each_other_at_once_leave_one_admin(self) -> None:
        project = make_project(slug="race")
        first, second = make_user("first"), make_user("second")
        add_member(project, first, Role.ADMIN)
        add_member(project, second, Role.ADMIN)
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def demote(username: str) -> None:
            barrier.wait()
            try:
                membership_set_role(project=project, username=username, role=Role.ANNOTATOR)
                outcomes.append("demoted")
            except MembershipRefused:
                outcomes.append("refused")
            finally:
                connection.close()

        threads = [threading.Thread(target=demote, args=(name,)) for name in ("first", "second")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["demoted", "refused"]
        assert Membership.objects.filter(project=project, role=Role.ADMIN).count() == 1
