"""Who may do what, endpoint by endpoint: anonymous, non-member, annotator, project admin, staff."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from annotate.models import Assignment, Judgment, Project
from annotate.services.assignment import comparison_next_for_annotator
from tests.factories import make_comparison, make_comparisons

pytestmark = pytest.mark.django_db


def _client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def _web(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


class AnnotatorPageAccessTests:
    def test_anonymous_is_sent_to_log_in(self, project: Project) -> None:
        for url in ["/annotate/", f"/annotate/{project.slug}/", f"/annotate/{project.slug}/mine/"]:
            response = _web(None).get(url)
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        assert _web(None).post(f"/annotate/{project.slug}/submit/").status_code == 302

    def test_non_member_gets_404_and_sees_no_project(self, project: Project, outsider: User) -> None:
        make_comparison(project)
        web = _web(outsider)
        assert web.get(f"/annotate/{project.slug}/").status_code == 404
        assert web.post(f"/annotate/{project.slug}/submit/", {"assignment": 1, "choice": "a"}).status_code == 404
        assert web.post(f"/annotate/{project.slug}/skip/", {"assignment": 1}).status_code == 404
        assert web.get(f"/annotate/{project.slug}/mine/").status_code == 404
        assert project.name not in web.get("/annotate/").content.decode()
        assert Assignment.objects.count() == 0

    def test_annotator_gets_a_task_and_submits_it(self, project: Project, annotator: User) -> None:
        make_comparison(project, prompt="Which is kinder?")
        web = _web(annotator)
        page = web.get(f"/annotate/{project.slug}/")
        assert page.status_code == 200 and "Which is kinder?" in page.content.decode()
        lease = Assignment.objects.get(annotator=annotator)
        response = web.post(f"/annotate/{project.slug}/submit/", {"assignment": lease.pk, "choice": "a"})
        assert response.status_code == 302
        assert Judgment.objects.filter(annotator=annotator).count() == 1
        assert "Which is kinder?" in web.get(f"/annotate/{project.slug}/mine/").content.decode()

    def test_project_admin_and_staff_may_annotate_too(
        self, project: Project, project_admin: User, staff: User
    ) -> None:
        make_comparisons(project, 2)
        for user in (project_admin, staff):
            page = _web(user).get(f"/annotate/{project.slug}/")
            assert page.status_code == 200 and page.context["lease"] is not None
        assert Assignment.objects.filter(annotator__in=[project_admin, staff]).count() == 2

    def test_the_login_page_is_public(self) -> None:
        assert _web(None).get("/accounts/login/").status_code == 200

    def test_the_htmx_submit_returns_only_the_next_item(self, project: Project, annotator: User) -> None:
        make_comparisons(project, 2)
        web = _web(annotator)
        web.get(f"/annotate/{project.slug}/")
        lease = Assignment.objects.get(annotator=annotator)
        response = web.post(
            f"/annotate/{project.slug}/submit/", {"assignment": lease.pk, "choice": "b"}, headers={"HX-Request": "true"}
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
        response = _web(annotator).post(
            f"/annotate/{project.slug}/submit/", {"assignment": lease.pk, "choice": "a"}, headers={"HX-Request": "true"}
        )
        assert "belongs to someone else" in response.content.decode()
        assert Judgment.objects.count() == 0


class TaskApiAccessTests:
    def test_anonymous_is_refused(self, project: Project) -> None:
        client = _client(None)
        assert client.post(f"/api/projects/{project.slug}/next/").status_code in (401, 403)
        assert client.post("/api/assignments/1/submit/", {"choice": "a"}).status_code in (401, 403)
        assert client.post("/api/assignments/1/skip/").status_code in (401, 403)

    def test_non_member_gets_404(self, project: Project, outsider: User, annotator: User) -> None:
        make_comparison(project)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        client = _client(outsider)
        assert client.post(f"/api/projects/{project.slug}/next/").status_code == 404
        assert client.post(f"/api/assignments/{lease.pk}/submit/", {"choice": "a"}).status_code == 404
        assert client.post(f"/api/assignments/{lease.pk}/skip/").status_code == 404

    def test_annotator_runs_next_submit_and_skip(self, project: Project, annotator: User) -> None:
        make_comparisons(project, 3)
        client = _client(annotator)
        task = client.post(f"/api/projects/{project.slug}/next/").json()["task"]
        assert set(task) == {"assignment", "expires_at", "prompt", "response_left", "response_right"}
        response = client.post(f"/api/assignments/{task['assignment']}/submit/", {"choice": "a", "strength": "better"})
        assert response.status_code == 201
        body = response.json()
        assert body["created"] is True and body["next"]["assignment"] != task["assignment"]
        retry = client.post(f"/api/assignments/{task['assignment']}/submit/", {"choice": "a"})
        assert retry.status_code == 200 and retry.json()["judgment"] == body["judgment"]
        skipped = client.post(f"/api/assignments/{body['next']['assignment']}/skip/", {"reason": "unclear"})
        assert skipped.status_code == 200 and skipped.json()["task"]["assignment"] not in (
            task["assignment"], body["next"]["assignment"],
        )

    def test_submit_names_a_bad_choice(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        client = _client(annotator)
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
    def test_anonymous_is_refused_everywhere(self, project: Project) -> None:
        client = _client(None)
        assert client.get("/api/projects/").status_code in (401, 403)
        assert client.post("/api/projects/create/", {"name": "x", "slug": "x"}).status_code in (401, 403)
        assert client.get(f"/api/projects/{project.slug}/").status_code in (401, 403)
        assert client.patch(f"/api/projects/{project.slug}/update/", {"name": "y"}).status_code in (401, 403)
        assert client.delete(f"/api/projects/{project.slug}/delete/").status_code in (401, 403)
        assert client.get(f"/api/projects/{project.slug}/comparisons/").status_code in (401, 403)

    def test_non_member_sees_nothing(self, project: Project, outsider: User) -> None:
        client = _client(outsider)
        assert client.get("/api/projects/").json() == []
        assert client.post("/api/projects/create/", {"name": "x", "slug": "x"}).status_code == 403
        assert client.get(f"/api/projects/{project.slug}/").status_code == 404
        assert client.patch(f"/api/projects/{project.slug}/update/", {"name": "y"}).status_code == 404
        assert client.delete(f"/api/projects/{project.slug}/delete/").status_code == 404
        assert client.get(f"/api/projects/{project.slug}/comparisons/").status_code == 404

    def test_annotator_reads_their_project_but_changes_nothing(self, project: Project, annotator: User) -> None:
        client = _client(annotator)
        assert [p["slug"] for p in client.get("/api/projects/").json()] == [project.slug]
        assert client.get(f"/api/projects/{project.slug}/").status_code == 200
        assert client.post("/api/projects/create/", {"name": "x", "slug": "x"}).status_code == 403
        assert client.patch(f"/api/projects/{project.slug}/update/", {"name": "y"}).status_code == 403
        assert client.delete(f"/api/projects/{project.slug}/delete/").status_code == 403
        assert client.get(f"/api/projects/{project.slug}/comparisons/").status_code == 403
        project.refresh_from_db()
        assert project.name != "y"

    def test_project_admin_edits_and_lists_but_cannot_delete(self, project: Project, project_admin: User) -> None:
        make_comparisons(project, 3)
        client = _client(project_admin)
        response = client.patch(f"/api/projects/{project.slug}/update/", {"overlap_target": 5}, format="json")
        assert response.status_code == 200 and response.json()["overlap_target"] == 5
        listing = client.get(f"/api/projects/{project.slug}/comparisons/?status=open").json()
        assert listing["count"] == 3
        assert client.delete(f"/api/projects/{project.slug}/delete/").status_code == 403
        assert client.post("/api/projects/create/", {"name": "x", "slug": "x"}).status_code == 403

    def test_project_admin_gets_field_errors(self, project: Project, project_admin: User) -> None:
        response = _client(project_admin).patch(
            f"/api/projects/{project.slug}/update/", {"gold_rate": 1.5}, format="json"
        )
        assert response.status_code == 400
        assert response.json() == {"gold_rate": ["Ensure this value is less than or equal to 1.0."]}

    def test_staff_creates_and_deletes(self, staff: User) -> None:
        client = _client(staff)
        created = client.post("/api/projects/create/", {"name": "New", "slug": "new", "overlap_target": 2})
        assert created.status_code == 201 and created.json()["overlap_target"] == 2
        duplicate = client.post("/api/projects/create/", {"name": "New", "slug": "new"})
        assert duplicate.status_code == 409 and duplicate.json()["code"] == "slug_taken"
        assert client.delete("/api/projects/new/delete/").status_code == 204
        assert not Project.objects.filter(slug="new").exists()


class SchemaAccessTests:
    def test_the_openapi_schema_and_docs_are_served(self, annotator: User) -> None:
        web = _web(annotator)
        schema = web.get("/api/schema/")
        assert schema.status_code == 200 and b"/api/projects/{slug}/next/" in schema.content
        docs = web.get("/api/docs/")
        assert docs.status_code == 200 and b"redoc" in docs.content.lower()


class AdminSiteAccessTests:
    def test_only_staff_reach_the_admin(self, project: Project, annotator: User, staff: User) -> None:
        make_comparison(project)
        assert _web(None).get("/admin/annotate/comparison/").status_code == 302
        assert _web(annotator).get("/admin/annotate/comparison/").status_code == 302
        for model in ["project", "membership", "prompt", "response", "comparison", "assignment", "judgment", "importjob"]:
            # Staff without model permissions are refused; superusers (project operators) get in.
            assert _web(staff).get(f"/admin/annotate/{model}/").status_code == 403
        staff.is_superuser = True
        staff.save()
        for model in ["project", "membership", "prompt", "response", "comparison", "assignment", "judgment", "importjob"]:
            assert _web(staff).get(f"/admin/annotate/{model}/?q=a").status_code == 200
