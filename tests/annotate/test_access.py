"""Who may do what, endpoint by endpoint and role by role (the rules are in ``annotate/access.py``).

``ENDPOINTS`` has one row per URL pattern of the site and one expected status per role;
``AuthorizationTableTests`` walks the URL resolver, so a new URL pattern without a row
fails the suite until someone writes down who may use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from alignment.models import AlignmentRound, RoundState, VersionKind
from alignment.services.rounds import round_start
from alignment.services.versions import version_create
from annotate.aggregation.selection import SnapshotFilters
from annotate.models import (
    Assignment,
    AssignmentStatus,
    Comparison,
    ExportJob,
    ImportJob,
    JobStatus,
    Judgment,
    Membership,
    Project,
    Role,
)
from annotate.services.assignment import comparison_next_for_annotator
from annotate.services.exports import export_job_run
from annotate.services.snapshots import snapshot_create
from tests.alignment.rounds import make_tiny_plan
from tests.clients import api_client, web_client
from tests.factories import (
    add_member,
    make_comparison,
    make_comparisons,
    make_judgment,
    make_project,
    make_user,
)

pytestmark = pytest.mark.django_db

# The roles of annotate/access.py, one column each in ENDPOINTS.
ROLES = ("anonymous", "non_member", "annotator", "project_admin", "staff", "staff_reader", "superuser")

ANON_PAGE = 302  # login_required: to the login page
ANON_API = 401  # with WWW-Authenticate


@dataclass(frozen=True)
class Row:
    method: str
    expected: tuple[int, ...]  # one per ROLES
    data: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    upload: bool = False  # multipart with an import file


def _row(method: str, *expected: int, **extra: Any) -> Row:
    assert len(expected) == len(ROLES)
    return Row(method, expected, **extra)


HX = {"HX-Request": "true"}
_PAIRS = "".join(
    json.dumps({"prompt": f"q{i}?", "chosen": f"good {i}", "rejected": f"bad {i}"}) + "\n" for i in range(2)
)

_SNAPSHOT_FORM = {"method": "majority", "min_votes": 1, "min_agreement": 0, "min_posterior": 0, "ngram": 13}
_PLAN_FORM = {
    "base_policy": "concord/tiny", "reward_base": "concord/tiny-reward", "algorithm": "ppo", "min_new_pairs": 10,
    "min_agreement": 0.5, "cooldown_minutes": 0, "prompts_per_round": 4, "candidates_per_prompt": 2,
    "heldout_share": 0.1, "eval_prompts": 4, "comparison_priority": 100, "kl_budget": 5, "min_win_rate_low": 0.5,
}  # fmt: skip
_ADMIN_MODELS = (
    "membership", "prompt", "response", "comparison", "assignment", "judgment", "importjob", "snapshot", "exportjob",
)  # fmt: skip

# name (or route for unnamed patterns) → rows. Columns: anonymous, non-member, annotator, project admin,
# staff without permissions, staff with annotate.view_project, superuser.
ENDPOINTS: dict[str, list[Row]] = {
    "/": [_row("get", 302, 302, 302, 302, 302, 302, 302)],
    "login": [_row("get", 200, 200, 200, 200, 200, 200, 200)],
    "logout": [_row("post", 302, 302, 302, 302, 302, 302, 302)],
    # --- annotator pages ---
    "annotate:home": [_row("get", ANON_PAGE, 200, 200, 200, 200, 200, 200)],
    "annotate:task": [_row("get", ANON_PAGE, 404, 200, 200, 404, 403, 200)],
    "annotate:submit": [_row("post", ANON_PAGE, 404, 302, 302, 404, 403, 302, data={"choice": "a"})],
    "annotate:skip": [_row("post", ANON_PAGE, 404, 302, 302, 404, 403, 302, data={"reason": "unclear"})],
    "annotate:mine": [_row("get", ANON_PAGE, 404, 200, 200, 404, 403, 200)],
    # --- undo ---
    # The gate of submit; each role's own lease here is live, so those who pass it get 409 undo_not_submitted.
    "annotate:undo": [_row("post", ANON_PAGE, 404, 409, 409, 404, 403, 409)],
    # --- project admin pages ---
    "annotate:quality": [_row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200)],
    "annotate:snapshots": [
        _row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200),
        _row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302, data=_SNAPSHOT_FORM),
    ],
    "annotate:snapshot-export": [
        _row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302, data={"format": "jsonl", "schema": "hh"})
    ],
    "annotate:export-status": [_row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200)],
    "annotate:export-download": [_row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200)],
    "annotate:imports": [
        _row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200),
        _row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302, data={"kind": "pairs"}, upload=True),
    ],
    "annotate:import-status": [_row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200, headers=HX)],
    # --- sitepages ---
    "annotate:project-create": [
        _row("get", ANON_PAGE, 403, 403, 403, 403, 403, 200),
        _row("post", ANON_PAGE, 403, 403, 403, 403, 403, 302, data={"name": "N", "slug": "n", "overlap_target": 3}),
    ],
    "annotate:members": [
        _row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200),
        _row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302, data={"username": "outsider", "role": "annotator"}),
    ],
    "annotate:member-role": [
        _row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302, data={"username": "ann", "role": "admin"})
    ],
    "annotate:member-remove": [_row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302, data={"username": "ann"})],
    # The key is shown on the answer to the POST that created it (200), never on a later GET.
    "api-token": [
        _row("get", ANON_PAGE, 200, 200, 200, 200, 200, 200),
        _row("post", ANON_PAGE, 200, 200, 200, 200, 200, 200),
    ],
    "api-token-revoke": [_row("post", ANON_PAGE, 302, 302, 302, 302, 302, 302)],
    # --- alignment rounds pages (alignment/urls.py): reading = READ, every button = ADMINISTER ---
    "alignment:rounds": [_row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200)],
    "alignment:round-start": [_row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302)],
    "alignment:round": [_row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200)],
    "alignment:round-status": [_row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200, headers=HX)],
    "alignment:round-cancel": [_row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302)],
    "alignment:round-retry": [_row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302)],
    "alignment:plan": [
        _row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200),
        _row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302, data=_PLAN_FORM),
    ],
    "alignment:versions-compare": [_row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200)],
    "alignment:version": [_row("get", ANON_PAGE, 404, 403, 200, 404, 200, 200)],
    "alignment:version-promote": [_row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302)],
    "alignment:version-reject": [_row("post", ANON_PAGE, 404, 403, 302, 404, 403, 302, data={"reason": "worse"})],
    # --- the API ---
    "api:project-list": [_row("get", ANON_API, 200, 200, 200, 200, 200, 200)],
    "api:project-create": [
        _row("post", ANON_API, 403, 403, 403, 403, 403, 201, data={"name": "N", "slug": "n"})
    ],
    "api:project-detail": [_row("get", ANON_API, 404, 200, 200, 404, 200, 200)],
    "api:project-update": [_row("patch", ANON_API, 404, 403, 200, 404, 403, 200, data={"name": "Renamed"})],
    "api:project-delete": [_row("delete", ANON_API, 404, 403, 403, 404, 403, 204)],
    "api:comparison-list": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:next": [_row("post", ANON_API, 404, 200, 200, 404, 403, 200)],
    "api:submit": [_row("post", ANON_API, 404, 201, 201, 404, 404, 201, data={"choice": "a"})],
    "api:skip": [_row("post", ANON_API, 404, 200, 200, 404, 404, 200, data={"reason": "unclear"})],
    # --- undo ---
    "api:undo": [_row("post", ANON_API, 404, 409, 409, 404, 404, 409)],
    "api:snapshot-list": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:snapshot-create": [_row("post", ANON_API, 404, 403, 201, 404, 403, 201, data={"min_agreement": 0})],
    "api:snapshot-detail": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:export-create": [
        _row("post", ANON_API, 404, 403, 202, 404, 403, 202, data={"format": "jsonl", "schema": "hh"})
    ],
    "api:export-detail": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:export-download": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:annotator-quality": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:import-create": [
        _row("post", ANON_API, 404, 403, 201, 404, 403, 201, data={"kind": "pairs"}, upload=True)
    ],
    "api:import-detail": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    # --- alignment: reading plans, rounds and versions is Need.READ, acting Need.ADMINISTER. The world's round
    # failed (it holds the lock): start is refused (409) and retry and cancel apply.
    "api:plan-detail": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:plan-update": [_row("patch", ANON_API, 404, 403, 200, 404, 403, 200, data={"min_new_pairs": 20})],
    "api:round-list": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:round-start": [_row("post", ANON_API, 404, 403, 409, 404, 403, 409)],
    "api:round-detail": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:round-cancel": [_row("post", ANON_API, 404, 403, 200, 404, 403, 200)],
    "api:round-retry": [_row("post", ANON_API, 404, 403, 200, 404, 403, 200)],
    "api:version-list": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:version-detail": [_row("get", ANON_API, 404, 403, 200, 404, 200, 200)],
    "api:version-promote": [_row("post", ANON_API, 404, 403, 200, 404, 403, 200)],
    "api:version-reject": [_row("post", ANON_API, 404, 403, 200, 404, 403, 200, data={"reason": "worse"})],
    # What names nothing under the API is a JSON 404 for everyone, signed in or not.
    "api:not-found": [_row("get", 404, 404, 404, 404, 404, 404, 404), _row("post", 404, 404, 404, 404, 404, 404, 404)],
    # The schema documents the API to anyone; it holds no project data.
    "schema": [_row("get", 200, 200, 200, 200, 200, 200, 200)],
    "api-docs": [_row("get", 200, 200, 200, 200, 200, 200, 200)],
    # --- the Django admin: staff only; model permissions decide each screen ---
    "admin:index": [_row("get", 302, 302, 302, 302, 200, 200, 200)],
    "admin:annotate_importjob_upload": [_row("get", 302, 302, 302, 302, 403, 403, 200)],
    "admin:annotate_project_changelist": [_row("get", 302, 302, 302, 302, 403, 200, 200)],
    **{
        f"admin:annotate_{model}_changelist": [_row("get", 302, 302, 302, 302, 403, 403, 200)]
        for model in _ADMIN_MODELS
    },
}

# Django's admin generates these for every registered model and for itself (with two unnamed ones: the
# old object URL's redirect and the catch-all); Django tests them, and the changelists above show our
# permission hooks. Any other admin URL (a custom view) needs a row.
_DJANGO_ADMIN = re.compile(
    r"^admin:([a-z_]+_(changelist|add|history|delete|change)|login|logout|password_change|password_change_done"
    r"|autocomplete|jsi18n|view_on_site|app_list)$"
    r"|^/admin/([a-z_]+/[a-z_]+/<path:object_id>/|\(\?P<url>\.\*\)\$)$"
)


def _patterns(resolvers: list[Any], prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    """(key, route) for every URL pattern: its namespaced name, or its route when it has none."""
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            yield (f"{namespace}{entry.name}" if entry.name else "/" + route), route


def _site_endpoints() -> set[str]:
    return {key for key, _ in _patterns(get_resolver().url_patterns) if not _DJANGO_ADMIN.match(key)}


class _World:
    """One project with everything an endpoint can name, and one user per role."""

    def __init__(self, tmp_path: Path) -> None:
        self.project = make_project(slug="demo", name="Demo")
        users = {
            "non_member": _fast_user("outsider"),
            "annotator": _fast_user("ann"),
            "project_admin": _fast_user("padmin"),
            "staff": _fast_user("staff", is_staff=True),
            "staff_reader": _fast_user("reader", is_staff=True),
            "superuser": _fast_user("root", is_staff=True, is_superuser=True),
        }
        users["staff_reader"].user_permissions.add(Permission.objects.get(codename="view_project"))
        add_member(self.project, users["annotator"], Role.ANNOTATOR)
        add_member(self.project, users["project_admin"], Role.ADMIN)
        self.users: dict[str, User | None] = {"anonymous": None, **users}
        voted = make_comparison(self.project)
        make_judgment(voted, users["annotator"], "a")
        self.snapshot = snapshot_create(
            project=self.project, filters=SnapshotFilters(min_votes=1, min_agreement=0.0, drop_flagged=False)
        )
        job = ExportJob.objects.create(snapshot=self.snapshot, format="jsonl", schema="hh", total=1)
        export_job_run(job_id=job.pk)
        self.export = ExportJob.objects.get(pk=job.pk)
        assert self.export.status == JobStatus.SUCCEEDED
        self.import_job = ImportJob.objects.create(
            project=self.project, kind="pairs", format="jsonl", file="imports/x.jsonl"
        )
        # Everyone signed in holds a live lease of their own, as if they had once been a member:
        # the table then shows who may still use one.
        self.leases: dict[str, int] = {}
        for role, user in users.items():
            comparison = make_comparison(self.project)
            Comparison.objects.filter(pk=comparison.pk).update(slots_taken=1)
            self.leases[role] = Assignment.objects.create(
                project=self.project, comparison=comparison, annotator=user,
                expires_at=timezone.now() + timedelta(minutes=10),
            ).pk  # fmt: skip
        make_comparisons(self.project, 2)  # something left to serve next
        # Alignment: a tiny plan, round 1 failed at its reward step, and a candidate policy v1 from the base v0.
        make_tiny_plan(self.project)
        self.round = round_start(project=self.project)
        AlignmentRound.objects.filter(pk=self.round.pk).update(
            state=RoundState.FAILED, failed_step=RoundState.TRAINING_REWARD, error="boom"
        )
        self.model_version = version_create(
            project=self.project, kind=VersionKind.POLICY, champion=False, path="demo/round-1/policy",
            parent=self.round.start_policy, round=self.round,
        )  # fmt: skip

    def url(self, name: str, role: str) -> str:
        if name.startswith("/"):
            return name
        if name == "api:not-found":  # a regex with alternatives, which reverse() cannot build
            return f"/api/projects/{self.project.slug}/no-such-thing/"
        kwargs: dict[str, Any] = {}
        pattern = next(route for key, route in _patterns(get_resolver().url_patterns) if key == name)
        if "<slug:slug>" in pattern:
            kwargs["slug"] = self.project.slug
        if "<int:version>" in pattern:
            kwargs["version"] = self.snapshot.version
        if "<int:job_id>" in pattern:
            kwargs["job_id"] = self.import_job.pk if "import" in name else self.export.pk
        if "<int:number>" in pattern:  # a round's number, or a model version's (policy v1)
            kwargs["number"] = self.round.number
        if "<str:kind>" in pattern:
            kwargs["kind"] = "policy"
        if "<int:version_id>" in pattern:
            kwargs["version_id"] = self.model_version.pk
        if "<int:assignment_id>" in pattern:
            kwargs["assignment_id"] = self.leases.get(role, self.leases["annotator"])
        return reverse(name, kwargs=kwargs)


def _fast_user(username: str, **fields: Any) -> User:
    # No password: hashing one per role and endpoint would be most of this test's time.
    return User.objects.create(username=username, **fields)


class _RolledBack(Exception):
    pass


def _call(world: _World, name: str, row: Row, role: str) -> int:
    user = world.users[role]
    client = APIClient()
    if user is not None:
        client.force_login(user)
    data = dict(row.data)
    if name in ("annotate:submit", "annotate:skip"):
        data["assignment"] = world.leases.get(role, world.leases["annotator"])
    if row.upload:
        data["file"] = SimpleUploadedFile("pairs.jsonl", _PAIRS.encode())
    url = world.url(name, role)
    if name.startswith("api:") and not row.upload:
        response = getattr(client, row.method)(url, data, format="json", headers=row.headers)
    else:
        response = getattr(client, row.method)(url, data, headers=row.headers)
    if row.expected[0] == ANON_API and role == "anonymous":
        assert response.status_code != ANON_API or response.has_header("WWW-Authenticate"), url
    return int(response.status_code)


class AuthorizationTableTests:
    def test_every_url_pattern_has_a_row(self) -> None:
        site = _site_endpoints()
        assert site - set(ENDPOINTS) == set(), "add a row to ENDPOINTS for each new URL pattern"
        assert set(ENDPOINTS) - {key for key, _ in _patterns(get_resolver().url_patterns)} == set(), (
            "stale rows"
        )

    @pytest.mark.parametrize("name", sorted(ENDPOINTS))
    def test_each_role_gets_the_status_of_its_row(
        self, name: str, settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
    ) -> None:
        settings.MEDIA_ROOT = tmp_path
        # Every endpoint sees a project with an alignment round and model versions (the delete removes them too).
        world = _World(tmp_path)
        got: dict[tuple[str, str], int] = {}
        for row in ENDPOINTS[name]:
            for role in ROLES:
                # Each call sees the same world: what it changed (a deleted project, a vote) is rolled back.
                try:
                    with transaction.atomic():
                        got[(row.method, role)] = _call(world, name, row, role)
                        raise _RolledBack
                except _RolledBack:
                    pass
        expected = {
            (row.method, role): code
            for row in ENDPOINTS[name]
            for role, code in zip(ROLES, row.expected, strict=True)
        }
        assert got == expected


@pytest.fixture
def other_project(annotator: User) -> Project:
    """P3: another project the annotator belongs to, where their lease of ``project`` (P1) is posted."""
    other = make_project(slug="other")
    add_member(other, annotator, Role.ANNOTATOR)
    make_comparisons(other, 2)
    return other


class LeaseGateTests:
    """A lease is used only by its holder, while live, in its own project, while they may annotate it."""

    CASES = ("other_project", "membership_removed", "project_deactivated")

    def _lease_of_p1(self, project: Project, annotator: User, case: str) -> Assignment:
        make_comparisons(project, 2)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        if case == "membership_removed":
            Membership.objects.filter(project=project, user=annotator).delete()
        elif case == "project_deactivated":
            Project.objects.filter(pk=project.pk).update(is_active=False)
        return lease

    @pytest.mark.parametrize("case", CASES)
    @pytest.mark.parametrize("action", ["submit", "skip"])
    def test_it_refuses_a_lease_of_p1_posted_to_p3s_page(
        self, project: Project, other_project: Project, annotator: User, case: str, action: str
    ) -> None:
        lease = self._lease_of_p1(project, annotator, case)
        response = web_client(annotator).post(
            f"/annotate/{other_project.slug}/{action}/",
            {"assignment": lease.pk, "choice": "a", "reason": "x"},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 403
        assert "belongs to someone else or to another project" in response.content.decode()
        assert Judgment.objects.count() == 0
        assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.LIVE

    @pytest.mark.parametrize("case", CASES[1:])
    @pytest.mark.parametrize("action", ["submit", "skip"])
    def test_it_refuses_the_lease_on_its_own_page_and_in_the_api(
        self, project: Project, annotator: User, case: str, action: str
    ) -> None:
        lease = self._lease_of_p1(project, annotator, case)
        page = web_client(annotator).post(
            f"/annotate/{project.slug}/{action}/", {"assignment": lease.pk, "choice": "a"}
        )
        assert page.status_code in (403, 404)
        api = api_client(annotator).post(
            f"/api/assignments/{lease.pk}/{action}/", {"choice": "a"}, format="json"
        )
        assert api.status_code == 404
        assert Judgment.objects.count() == 0
        assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.LIVE

    def test_the_page_still_takes_a_lease_in_its_own_project(
        self, project: Project, other_project: Project, annotator: User
    ) -> None:
        lease = self._lease_of_p1(project, annotator, "none")
        response = web_client(annotator).post(
            f"/annotate/{project.slug}/submit/", {"assignment": lease.pk, "choice": "a"}
        )
        assert response.status_code == 302
        assert Judgment.objects.get().assignment_id == lease.pk


class PageValidationTests:
    """The page form and the API refuse the same text, with a named error and nothing stored."""

    def _lease(self, project: Project, annotator: User) -> Assignment:
        make_comparisons(project, 2)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        return lease

    @pytest.mark.parametrize(
        ("action", "field", "value", "message"),
        [
            ("submit", "rationale", "why\x00not", "rationale: must not contain NUL characters"),
            ("submit", "rationale", "x" * 10_001, "rationale: at most 10000 characters, got 10001"),
            ("skip", "reason", "odd\x00", "reason: must not contain NUL characters"),
            ("skip", "reason", "y" * 501, "reason: at most 500 characters, got 501"),
        ],
    )
    def test_it_names_what_the_page_cannot_store(
        self, project: Project, annotator: User, action: str, field: str, value: str, message: str
    ) -> None:
        lease = self._lease(project, annotator)
        web = web_client(annotator)
        for headers in ({}, {"HX-Request": "true"}):
            response = web.post(
                f"/annotate/{project.slug}/{action}/", {"assignment": lease.pk, "choice": "a", field: value},
                headers=headers,
            )  # fmt: skip
            assert response.status_code == 400
            assert message in response.content.decode()
        assert Judgment.objects.count() == 0
        assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.LIVE
        api = api_client(annotator).post(
            f"/api/assignments/{lease.pk}/{action}/", {"choice": "a", field: value}, format="json"
        )
        assert api.status_code == 400 and field in api.json()
        assert Judgment.objects.count() == 0

    @pytest.mark.parametrize("via", ["page", "api"])
    def test_the_longest_rationale_is_stored_by_both(
        self, project: Project, annotator: User, via: str
    ) -> None:
        lease = self._lease(project, annotator)
        text = "z" * 10_000
        if via == "page":
            page = web_client(annotator).post(
                f"/annotate/{project.slug}/submit/",
                {"assignment": lease.pk, "choice": "a", "rationale": text},
            )
            assert page.status_code == 302
        else:
            api = api_client(annotator).post(
                f"/api/assignments/{lease.pk}/submit/", {"choice": "a", "rationale": text}, format="json"
            )
            assert api.status_code == 201
        assert Judgment.objects.get().rationale == text

    def test_it_names_a_missing_or_bad_lease_id(self, project: Project, annotator: User) -> None:
        self._lease(project, annotator)
        for raw in ("", "abc", "9" * 30):
            response = web_client(annotator).post(
                f"/annotate/{project.slug}/submit/", {"assignment": raw, "choice": "a"}
            )
            assert (
                response.status_code == 400 and "assignment must be a lease id" in response.content.decode()
            )


class AnnotatorPageAccessTests:
    def test_anonymous_is_sent_to_log_in(self, project: Project) -> None:
        for url in ["/annotate/", f"/annotate/{project.slug}/", f"/annotate/{project.slug}/mine/"]:
            response = web_client(None).get(url)
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_non_member_sees_no_project_and_gets_no_lease(self, project: Project, outsider: User) -> None:
        make_comparison(project)
        assert project.name not in web_client(outsider).get("/annotate/").content.decode()
        assert web_client(outsider).get(f"/annotate/{project.slug}/").status_code == 404
        assert Assignment.objects.count() == 0

    def test_home_links_the_admin_pages_only_for_those_who_read_them(
        self, project: Project, annotator: User, project_admin: User
    ) -> None:
        imports = f"/annotate/{project.slug}/imports/"
        assert imports in web_client(project_admin).get("/annotate/").content.decode()
        page = web_client(annotator).get("/annotate/").content.decode()
        assert project.name in page and imports not in page

    def test_annotator_gets_a_task_and_submits_it(self, project: Project, annotator: User) -> None:
        make_comparison(project, prompt="Which is kinder?")
        web = web_client(annotator)
        page = web.get(f"/annotate/{project.slug}/")
        assert page.status_code == 200 and "Which is kinder?" in page.content.decode()
        lease = Assignment.objects.get(annotator=annotator)
        response = web.post(f"/annotate/{project.slug}/submit/", {"assignment": lease.pk, "choice": "a"})
        assert response.status_code == 302
        assert Judgment.objects.filter(annotator=annotator).count() == 1
        assert "Which is kinder?" in web.get(f"/annotate/{project.slug}/mine/").content.decode()

    def test_project_admins_and_superusers_annotate_staff_do_not(
        self, project: Project, project_admin: User, superuser: User, staff: User
    ) -> None:
        make_comparisons(project, 3)
        for user in (project_admin, superuser):
            page = web_client(user).get(f"/annotate/{project.slug}/")
            assert page.status_code == 200 and page.context["lease"] is not None
        assert web_client(staff).get(f"/annotate/{project.slug}/").status_code == 404
        assert set(Assignment.objects.values_list("annotator__username", flat=True)) == {"padmin", "root"}

    def test_the_htmx_submit_returns_only_the_next_item(self, project: Project, annotator: User) -> None:
        make_comparisons(project, 2)
        web = web_client(annotator)
        web.get(f"/annotate/{project.slug}/")
        lease = Assignment.objects.get(annotator=annotator)
        response = web.post(
            f"/annotate/{project.slug}/submit/",
            {"assignment": lease.pk, "choice": "b"},
            headers={"HX-Request": "true"},
        )
        body = response.content.decode()
        assert response.status_code == 200
        assert body.lstrip().startswith('<section id="task"') and "<html" not in body
        nxt = Assignment.objects.filter(annotator=annotator, status="live").get()
        assert f'data-lease="{nxt.pk}"' in body

    def test_an_annotator_cannot_submit_someone_elses_lease(
        self, project: Project, annotator: User, project_admin: User
    ) -> None:
        make_comparison(project)
        lease = comparison_next_for_annotator(project=project, annotator=project_admin)
        assert lease is not None
        response = web_client(annotator).post(
            f"/annotate/{project.slug}/submit/",
            {"assignment": lease.pk, "choice": "a"},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 403
        assert "belongs to someone else" in response.content.decode()
        assert Judgment.objects.count() == 0


class TaskApiAccessTests:
    def test_anonymous_gets_401_with_www_authenticate(self, project: Project) -> None:
        for url in (
            f"/api/projects/{project.slug}/next/",
            "/api/assignments/1/submit/",
            "/api/assignments/1/skip/",
        ):
            response = api_client(None).post(url, {"choice": "a"})
            assert response.status_code == 401 and response["WWW-Authenticate"] == "Token", url

    def test_a_bad_token_gets_401_with_www_authenticate(self) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
        response = client.get("/api/projects/")
        assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"

    def test_annotator_runs_next_submit_and_skip(self, project: Project, annotator: User) -> None:
        make_comparisons(project, 3)
        client = api_client(annotator)
        task = client.post(f"/api/projects/{project.slug}/next/").json()["task"]
        assert set(task) == {"assignment", "expires_at", "prompt", "response_left", "response_right"}
        response = client.post(
            f"/api/assignments/{task['assignment']}/submit/", {"choice": "a", "strength": "better"}
        )
        assert response.status_code == 201
        body = response.json()
        assert body["created"] is True and body["next"]["assignment"] != task["assignment"]
        retry = client.post(f"/api/assignments/{task['assignment']}/submit/", {"choice": "a"})
        assert retry.status_code == 200 and retry.json()["judgment"] == body["judgment"]
        skipped = client.post(f"/api/assignments/{body['next']['assignment']}/skip/", {"reason": "unclear"})
        assert skipped.status_code == 200 and skipped.json()["task"]["assignment"] not in (
            task["assignment"],
            body["next"]["assignment"],
        )

    def test_a_former_members_retry_is_refused(self, project: Project, annotator: User) -> None:
        make_comparisons(project, 2)
        client = api_client(annotator)
        task = client.post(f"/api/projects/{project.slug}/next/").json()["task"]
        assert (
            client.post(f"/api/assignments/{task['assignment']}/submit/", {"choice": "a"}).status_code == 201
        )
        Membership.objects.filter(user=annotator).delete()
        assert (
            client.post(f"/api/assignments/{task['assignment']}/submit/", {"choice": "a"}).status_code == 404
        )

    def test_submit_names_a_bad_choice(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        client = api_client(annotator)
        task = client.post(f"/api/projects/{project.slug}/next/").json()["task"]
        response = client.post(f"/api/assignments/{task['assignment']}/submit/", {"choice": "left"})
        assert response.status_code == 400
        assert response.json() == {"choice": ['"left" is not a valid choice.']}

    def test_token_auth_works(self, project: Project, annotator: User) -> None:
        from rest_framework.authtoken.models import Token

        token = Token.objects.create(user=annotator)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        assert client.post(f"/api/projects/{project.slug}/next/").status_code == 200


class ProjectApiAccessTests:
    def test_non_member_and_permissionless_staff_list_nothing(
        self, project: Project, outsider: User, staff: User
    ) -> None:
        for user in (outsider, staff):
            assert api_client(user).get("/api/projects/").json() == []

    def test_annotator_lists_their_project(self, project: Project, annotator: User) -> None:
        make_project(slug="elsewhere")
        assert [p["slug"] for p in api_client(annotator).get("/api/projects/").json()] == [project.slug]

    def test_project_admin_edits_and_lists_but_cannot_delete(
        self, project: Project, project_admin: User
    ) -> None:
        make_comparisons(project, 3)
        client = api_client(project_admin)
        response = client.patch(f"/api/projects/{project.slug}/update/", {"overlap_target": 5}, format="json")
        assert response.status_code == 200 and response.json()["overlap_target"] == 5
        assert client.get(f"/api/projects/{project.slug}/comparisons/?status=open").json()["count"] == 3
        assert client.delete(f"/api/projects/{project.slug}/delete/").status_code == 403
        assert Project.objects.filter(pk=project.pk).exists()

    def test_project_admin_gets_field_errors(self, project: Project, project_admin: User) -> None:
        response = api_client(project_admin).patch(
            f"/api/projects/{project.slug}/update/", {"gold_rate": 1.5}, format="json"
        )
        assert response.status_code == 400
        assert response.json() == {"gold_rate": ["Ensure this value is less than or equal to 1.0."]}

    def test_staff_without_permissions_cannot_delete_or_read_gold_answers(
        self, project: Project, staff: User
    ) -> None:
        make_comparison(project, is_gold=True, gold_answer="a")
        client = api_client(staff)
        assert client.delete(f"/api/projects/{project.slug}/delete/").status_code == 404
        assert client.get(f"/api/projects/{project.slug}/comparisons/").status_code == 404
        assert Project.objects.filter(pk=project.pk).exists()

    def test_a_reader_reads_gold_answers_but_changes_nothing(
        self, project: Project, staff_reader: User
    ) -> None:
        make_comparison(project, is_gold=True, gold_answer="a")
        client = api_client(staff_reader)
        listing = client.get(f"/api/projects/{project.slug}/comparisons/").json()
        assert [c["gold_answer"] for c in listing["results"]] == ["a"]
        assert (
            client.patch(f"/api/projects/{project.slug}/update/", {"name": "y"}, format="json").status_code
            == 403
        )
        assert client.delete(f"/api/projects/{project.slug}/delete/").status_code == 403

    def test_permissions_create_and_delete(self, staff_operator: User) -> None:
        client = api_client(staff_operator)
        created = client.post("/api/projects/create/", {"name": "New", "slug": "new", "overlap_target": 2})
        assert created.status_code == 201 and created.json()["overlap_target"] == 2
        duplicate = client.post("/api/projects/create/", {"name": "New", "slug": "new"})
        assert duplicate.status_code == 409 and duplicate.json()["code"] == "slug_taken"
        assert client.delete("/api/projects/new/delete/").status_code == 204
        assert not Project.objects.filter(slug="new").exists()


class AdminSiteAccessTests:
    MODELS = (
        "project",
        "membership",
        "prompt",
        "response",
        "comparison",
        "assignment",
        "judgment",
        "importjob",
    )

    def test_staff_without_permissions_get_nothing(self, project: Project, staff: User) -> None:
        make_comparison(project)
        for model in self.MODELS:
            assert web_client(staff).get(f"/admin/annotate/{model}/").status_code == 403
        assert (
            web_client(staff).post(f"/admin/annotate/project/{project.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )
        assert Project.objects.filter(pk=project.pk).exists()

    def test_superusers_see_every_list(self, project: Project, superuser: User) -> None:
        make_comparison(project)
        for model in self.MODELS:
            assert web_client(superuser).get(f"/admin/annotate/{model}/?q=a").status_code == 200

    def test_model_permissions_show_only_the_projects_one_may_read(self, project: Project) -> None:
        mine = make_comparison(project, prompt="Mine?")
        theirs = make_comparison(make_project(slug="theirs", name="Hidden project"), prompt="Theirs?")
        user = make_user("clerk", staff=True, perms=["view_comparison", "change_comparison"])
        web = web_client(user)
        assert _ids(web.get("/admin/annotate/comparison/")) == set()
        add_member(project, user, Role.ADMIN)
        listing = web.get("/admin/annotate/comparison/")
        assert _ids(listing) == {mine.pk}
        assert "Hidden project" not in listing.content.decode()  # not even in the project filter
        assert (
            web.get(f"/admin/annotate/comparison/{theirs.pk}/change/").status_code == 302
        )  # "doesn't exist"
        assert web.get(f"/admin/annotate/comparison/{mine.pk}/change/").status_code == 200

    def test_delete_project_needs_the_delete_permission(self, project: Project, project_admin: User) -> None:
        project_admin.is_staff = True
        project_admin.save()
        project_admin.user_permissions.add(
            *Permission.objects.filter(codename__in=["view_project", "change_project"])
        )
        web = web_client(project_admin)
        assert web.get(f"/admin/annotate/project/{project.pk}/change/").status_code == 200
        assert web.post(f"/admin/annotate/project/{project.pk}/delete/", {"post": "yes"}).status_code == 403
        assert Project.objects.filter(pk=project.pk).exists()


def _ids(response: Any) -> set[int]:
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}
