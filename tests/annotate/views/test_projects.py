"""Project pages: the home page's links, the shared project navigation, project creation and members.

The pages through Django's client, and creation plus a member invite in a real browser
(the membership services themselves: ``tests/annotate/test_projects.py``).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from annotate.models import Membership, Project, Role
from tests.browser import log_in
from tests.clients import web_client
from tests.factories import make_superuser, make_user

HX = {"HX-Request": "true"}


def _links(html: str, slug: str) -> set[str]:
    row = html.split(f'data-project="{slug}"', 1)[1].split("</tr>", 1)[0]
    return {part.split('"', 1)[0] for part in row.split('href="')[1:]}


@pytest.mark.django_db
class HomePageTests:
    def test_it_links_every_page_each_user_may_open(
        self, project: Project, annotator: User, project_admin: User, staff_reader: User, outsider: User
    ) -> None:
        staff = [f"/annotate/demo/{page}/" for page in ("imports", "quality", "snapshots", "members")]
        staff.append("/alignment/demo/rounds/")
        labelling = ["/annotate/demo/", "/annotate/demo/mine/"]
        assert _links(web_client(annotator).get("/annotate/").content.decode(), "demo") == set(labelling)
        assert _links(web_client(project_admin).get("/annotate/").content.decode(), "demo") == set(
            labelling + staff
        )
        # A reader of every project is no member: they read it but do not label it.
        assert _links(web_client(staff_reader).get("/annotate/").content.decode(), "demo") == set(staff)
        assert 'data-project="demo"' not in web_client(outsider).get("/annotate/").content.decode()

    def test_it_offers_project_creation_only_to_who_may_create(self, project_admin: User) -> None:
        assert 'id="new-project"' not in web_client(project_admin).get("/annotate/").content.decode()
        creator = make_user("creator", perms=["add_project"])
        assert 'id="new-project"' in web_client(creator).get("/annotate/").content.decode()

    def test_it_shows_an_inactive_project_to_its_admin_without_labelling(
        self, project: Project, project_admin: User
    ) -> None:
        Project.objects.filter(pk=project.pk).update(is_active=False)
        html = web_client(project_admin).get("/annotate/").content.decode()
        assert "(inactive)" in html
        assert "/annotate/demo/" not in _links(html, "demo")
        assert "/annotate/demo/quality/" in _links(html, "demo")


@pytest.mark.django_db
class ProjectNavTests:
    @pytest.mark.parametrize("page", ["imports", "quality", "snapshots", "members"])
    def test_each_project_page_carries_the_shared_navigation(
        self, project: Project, project_admin: User, page: str
    ) -> None:
        html = web_client(project_admin).get(f"/annotate/demo/{page}/").content.decode()
        nav = html.split('class="project-nav"', 1)[1].split("</nav>", 1)[0]
        for other in ("imports", "quality", "snapshots", "members"):
            assert f'href="/annotate/demo/{other}/"' in nav
        assert f'href="/annotate/demo/{page}/" aria-current="page"' in nav


@pytest.mark.django_db
class ProjectCreatePageTests:
    def test_it_creates_the_project_with_its_creator_as_admin(self) -> None:
        creator = make_user("creator", perms=["add_project"])
        response = web_client(creator).post(
            "/annotate/projects/new/", {"name": "Helpfulness", "slug": "help", "overlap_target": 2}
        )
        assert response.status_code == 302
        assert response["Location"] == "/annotate/help/members/"
        project = Project.objects.get(slug="help")
        assert (project.name, project.overlap_target) == ("Helpfulness", 2)
        assert Membership.objects.get(project=project).user == creator

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (
                {"name": "Again", "slug": "demo", "overlap_target": 3},
                "a project with the slug &#x27;demo&#x27; already exists",
            ),
            ({"name": "Bad", "slug": "no spaces", "overlap_target": 3}, "Enter a valid"),
            ({"name": "Many", "slug": "many", "overlap_target": 51}, "less than or equal to 50"),
            ({"name": "", "slug": "empty", "overlap_target": 3}, "This field is required"),
        ],
    )
    def test_it_names_what_is_wrong_and_creates_nothing(
        self, project: Project, data: dict[str, Any], message: str
    ) -> None:
        response = web_client(make_superuser()).post("/annotate/projects/new/", data)
        assert response.status_code == 400
        assert message in response.content.decode()
        assert Project.objects.count() == 1


@pytest.mark.django_db
class MembersPageTests:
    def test_it_adds_a_member_and_answers_htmx_with_the_members_section(
        self, project: Project, project_admin: User, outsider: User
    ) -> None:
        response = web_client(project_admin).post(
            "/annotate/demo/members/", {"username": "outsider", "role": "annotator"}, headers=HX
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert html.lstrip().startswith('<section class="card" id="members"')
        assert 'data-member="outsider"' in html
        assert "Added outsider as Annotator." in html
        assert Membership.objects.get(project=project, user=outsider).role == Role.ANNOTATOR

    def test_it_answers_a_bad_username_with_400_and_the_error(
        self, project: Project, project_admin: User
    ) -> None:
        response = web_client(project_admin).post(
            "/annotate/demo/members/", {"username": "ghost", "role": "admin"}, headers=HX
        )
        assert response.status_code == 400
        assert "username: no user is called &#x27;ghost&#x27;" in response.content.decode()
        assert Membership.objects.filter(project=project).count() == 1

    def test_it_changes_a_role_and_removes_a_member(
        self, project: Project, project_admin: User, annotator: User
    ) -> None:
        web = web_client(project_admin)
        assert (
            web.post("/annotate/demo/members/role/", {"username": "ann", "role": "admin"}).status_code == 302
        )
        assert Membership.objects.get(user=annotator).role == Role.ADMIN
        response = web.post("/annotate/demo/members/remove/", {"username": "ann"}, headers=HX)
        assert response.status_code == 200
        assert 'data-member="ann"' not in response.content.decode()
        assert not Membership.objects.filter(user=annotator).exists()

    def test_a_plain_form_post_says_what_happened_after_the_redirect(
        self, project: Project, project_admin: User, annotator: User
    ) -> None:
        web = web_client(project_admin)
        response = web.post("/annotate/demo/members/role/", {"username": "ann", "role": "admin"}, follow=True)
        assert "ann is now Admin." in response.content.decode()
        assert "ann is now Admin." not in web.get("/annotate/demo/members/").content.decode()  # shown once

    def test_it_refuses_to_remove_the_last_admin(self, project: Project, project_admin: User) -> None:
        response = web_client(project_admin).post("/annotate/demo/members/remove/", {"username": "padmin"})
        assert response.status_code == 400
        assert "padmin is the last admin of demo" in response.content.decode()
        assert Membership.objects.filter(user=project_admin, role=Role.ADMIN).exists()

    def test_a_reader_sees_the_members_without_the_forms(
        self, project: Project, annotator: User, staff_reader: User
    ) -> None:
        html = web_client(staff_reader).get("/annotate/demo/members/").content.decode()
        assert 'data-member="ann"' in html
        assert 'id="member-add"' not in html
        assert "members/remove/" not in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
class ProjectPagesBrowserTests:
    def test_it_creates_a_project_and_invites_a_member(self, page: Any, live_server: Any) -> None:
        creator = make_user("creator", perms=["add_project"])
        make_user("newcomer")
        log_in(page, live_server, creator, "/annotate/")
        page.click("#new-project")
        page.fill("#id_name", "Harmlessness")
        page.fill("#id_slug", "harm")
        page.fill("#id_overlap_target", "2")
        page.click("#project-form button[type=submit]")
        page.wait_for_url(lambda url: url.endswith("/annotate/harm/members/"))
        project = Project.objects.get(slug="harm")
        assert Membership.objects.get(project=project).user == creator

        # A username that does not exist: htmx swaps in the 400 with its message (pages.js).
        page.fill("#id_username", "nobody")
        page.click("#member-add button[type=submit]")
        page.wait_for_selector("#members-error")
        assert "no user is called 'nobody'" in page.inner_text("#members-error")

        page.fill("#id_username", "newcomer")
        page.select_option("#id_role", "annotator")
        page.click("#member-add button[type=submit]")
        page.wait_for_selector("tr[data-member='newcomer']")
        assert "Added newcomer as Annotator." in page.inner_text("#members-notice")
        assert Membership.objects.get(project=project, user__username="newcomer").role == Role.ANNOTATOR

        # Choosing a role submits its form (concord.js), answered in place.
        page.select_option("tr[data-member='newcomer'] select[name=role]", "admin")
        page.wait_for_selector("#members-notice:has-text('newcomer is now Admin.')")
        assert Membership.objects.get(project=project, user__username="newcomer").role == Role.ADMIN
        page.click("tr[data-member='newcomer'] button:has-text('Remove')")
        page.wait_for_selector("tr[data-member='newcomer']", state="detached")
        assert not Membership.objects.filter(project=project, user__username="newcomer").exists()
        # The new project is on the home page, with its pages.
        page.goto(f"{live_server.url}/annotate/")
        assert page.locator("tr[data-project='harm'] a[href='/annotate/harm/members/']").count() == 1
