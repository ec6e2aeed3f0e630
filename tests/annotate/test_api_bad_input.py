"""Hostile input on the API: every one a 4xx that names the problem, never a 5xx, and nothing stored."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from annotate.api.pagination import ApiPagination
from annotate.api.parsers import MAX_JSON_DEPTH, _PartCounter, json_too_deep
from annotate.models import Assignment, ImportJob, Judgment, Project, Snapshot
from annotate.services.assignment import comparison_next_for_annotator
from tests.factories import make_comparisons, make_user

pytestmark = pytest.mark.django_db

HUGE = "1" * 30
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


@pytest.fixture
def admin_api(project: Project, project_admin: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(project_admin)
    return client


@pytest.fixture
def staff_api(staff: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user("root", is_superuser=True, staff=True))
    return client


@pytest.fixture
def lease(project: Project, annotator: User) -> Assignment:
    make_comparisons(project, 3)
    found = comparison_next_for_annotator(project=project, annotator=annotator)
    assert found is not None
    return found


@pytest.fixture
def annotator_api(annotator: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(annotator)
    return client


def _json(client: APIClient, method: str, url: str, body: str) -> Any:
    return getattr(client, method)(url, body, content_type="application/json")


class PaginationTests:
    def test_it_clamps_a_huge_limit_to_the_ceiling(
        self, admin_api: APIClient, project: Project, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_comparisons(project, 3)
        monkeypatch.setattr(ApiPagination, "max_limit", 2)
        response = admin_api.get(f"/api/projects/{project.slug}/comparisons/?limit={HUGE}")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == 3 and len(body["results"]) == 2
        assert "limit=2" in body["next"] and "offset=2" in body["next"]

    def test_it_serves_the_default_page_without_a_limit(
        self, admin_api: APIClient, project: Project, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_comparisons(project, 3)
        monkeypatch.setattr(ApiPagination, "default_limit", 2)
        assert len(admin_api.get(f"/api/projects/{project.slug}/comparisons/").json()["results"]) == 2
        assert ApiPagination.max_limit == 500

    @pytest.mark.parametrize("value", ["abc", "-1", "0", "1.5", "", "1e3", "9" * 5000, "١٢"])
    def test_it_refuses_a_limit_that_is_not_a_count(
        self, admin_api: APIClient, project: Project, value: str
    ) -> None:
        response = admin_api.get(f"/api/projects/{project.slug}/comparisons/", {"limit": value})
        assert response.status_code == 400
        assert "whole number" in response.json()["limit"][0]

    @pytest.mark.parametrize("value", ["-1", "x", ""])
    def test_it_refuses_an_offset_that_is_not_a_count(
        self, admin_api: APIClient, project: Project, value: str
    ) -> None:
        response = admin_api.get(f"/api/projects/{project.slug}/comparisons/", {"offset": value})
        assert response.status_code == 400
        assert "offset" in response.json()

    def test_it_answers_an_empty_page_past_the_end(self, admin_api: APIClient, project: Project) -> None:
        make_comparisons(project, 2)
        response = admin_api.get(f"/api/projects/{project.slug}/comparisons/?offset={HUGE}&limit={HUGE}")
        assert response.status_code == 200
        assert response.json()["results"] == [] and response.json()["count"] == 2

    @pytest.mark.parametrize(
        "query", [f"min_votes={HUGE}", "min_votes=", "is_gold=maybe", "status=nope", "winner="]
    )
    def test_it_checks_the_filters(self, admin_api: APIClient, project: Project, query: str) -> None:
        response = admin_api.get(f"/api/projects/{project.slug}/comparisons/?{query}")
        assert response.status_code in (200, 400), response.content
        if response.status_code == 400:
            assert query.partition("=")[0] in response.json()


class JsonDepthTests:
    def test_it_scans_depth_without_recursion(self) -> None:
        assert not json_too_deep("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
        assert json_too_deep("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
        assert json_too_deep(DEEP_OBJECT)
        # Brackets inside strings, escaped quotes included, are text.
        assert not json_too_deep(json.dumps({"rationale": '["\\' * 10_000}))

    @pytest.mark.parametrize(
        "body", [DEEP_ARRAY, DEEP_OBJECT, '{"choice": "a", "rationale": ' + DEEP_ARRAY + "}"]
    )
    def test_it_refuses_deep_json_on_submit_and_stores_nothing(
        self, annotator_api: APIClient, lease: Assignment, body: str
    ) -> None:
        response = _json(annotator_api, "post", f"/api/assignments/{lease.pk}/submit/", body)
        assert response.status_code == 400
        assert f"nested deeper than {MAX_JSON_DEPTH}" in response.json()["detail"]
        assert Judgment.objects.count() == 0

    def test_it_still_takes_a_rationale_full_of_brackets(
        self, annotator_api: APIClient, lease: Assignment
    ) -> None:
        body = json.dumps({"choice": "a", "rationale": "[{" * 2_000})
        assert _json(annotator_api, "post", f"/api/assignments/{lease.pk}/submit/", body).status_code == 201

    def test_it_refuses_deep_json_on_every_json_endpoint(
        self, staff_api: APIClient, annotator_api: APIClient, lease: Assignment, project: Project
    ) -> None:
        for client, method, url in [
            (annotator_api, "post", f"/api/assignments/{lease.pk}/skip/"),
            (staff_api, "post", "/api/projects/create/"),
            (staff_api, "patch", f"/api/projects/{project.slug}/update/"),
            (staff_api, "post", f"/api/projects/{project.slug}/snapshots/create/"),
        ]:
            response = _json(client, method, url, DEEP_ARRAY)
            assert response.status_code == 400, url
            assert "nested deeper" in response.json()["detail"], url
        assert Snapshot.objects.count() == 0 and Project.objects.count() == 1

    def test_it_names_invalid_json_and_non_text_charsets(
        self, annotator_api: APIClient, lease: Assignment
    ) -> None:
        url = f"/api/assignments/{lease.pk}/submit/"
        assert "JSON parse error" in _json(annotator_api, "post", url, '{"choice": NaN}').json()["detail"]
        assert _json(annotator_api, "post", url, '{"choice": "a"').status_code == 400
        latin = annotator_api.post(url, b"\xff\xfe", content_type="application/json")
        assert latin.status_code == 400 and "utf-8" in latin.json()["detail"]
        zipped = annotator_api.post(url, b"{}", content_type="application/json; charset=bz2_codec")
        assert zipped.status_code == 400


class TextFieldTests:
    @pytest.mark.parametrize("text", ["a\x00b", "lone \ud800 surrogate"])
    def test_it_refuses_nul_and_lone_surrogates_in_submit_and_skip(
        self, annotator_api: APIClient, lease: Assignment, text: str
    ) -> None:
        submit = _json(
            annotator_api,
            "post",
            f"/api/assignments/{lease.pk}/submit/",
            json.dumps({"choice": "a", "rationale": text}),
        )
        assert submit.status_code == 400 and "rationale" in submit.json()
        skip = _json(
            annotator_api, "post", f"/api/assignments/{lease.pk}/skip/", json.dumps({"reason": text})
        )
        assert skip.status_code == 400 and "reason" in skip.json()
        assert Judgment.objects.count() == 0
        assert Assignment.objects.get(pk=lease.pk).status == lease.status

    @pytest.mark.parametrize("text", ["a\x00b", "lone \udfff surrogate"])
    def test_it_refuses_them_in_project_fields_and_filters(
        self, staff_api: APIClient, project: Project, text: str
    ) -> None:
        created = _json(
            staff_api, "post", "/api/projects/create/", json.dumps({"name": text, "slug": "fresh"})
        )
        assert created.status_code == 400 and "name" in created.json()
        updated = _json(
            staff_api, "patch", f"/api/projects/{project.slug}/update/", json.dumps({"guidelines": text})
        )
        assert updated.status_code == 400 and "guidelines" in updated.json()
        listed = staff_api.get(
            f"/api/projects/{project.slug}/comparisons/", {"search": text.replace("\udfff", "")}
        )
        assert listed.status_code in (200, 400)
        assert not Project.objects.filter(slug="fresh").exists()

    def test_it_caps_the_rationale(self, annotator_api: APIClient, lease: Assignment) -> None:
        body = json.dumps({"choice": "a", "rationale": "x" * 10_001})
        response = _json(annotator_api, "post", f"/api/assignments/{lease.pk}/submit/", body)
        assert response.status_code == 400 and "rationale" in response.json()


class NumberAndEnumTests:
    @pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "1e999"])
    def test_it_refuses_non_finite_floats_in_forms(
        self, staff_api: APIClient, project: Project, value: str
    ) -> None:
        response = staff_api.patch(
            f"/api/projects/{project.slug}/update/", {"gold_rate": value}, format="multipart"
        )
        assert response.status_code == 400 and "gold_rate" in response.json()

    @pytest.mark.parametrize("field", ["min_gold_items", "overlap_target", "lease_ttl_seconds"])
    def test_it_refuses_integers_past_the_column(
        self, staff_api: APIClient, project: Project, field: str
    ) -> None:
        response = _json(
            staff_api, "patch", f"/api/projects/{project.slug}/update/", json.dumps({field: int(HUGE)})
        )
        assert response.status_code == 400 and field in response.json()

    def test_it_refuses_a_huge_snapshot_filter_or_makes_an_empty_snapshot(
        self, staff_api: APIClient, project: Project
    ) -> None:
        response = _json(
            staff_api,
            "post",
            f"/api/projects/{project.slug}/snapshots/create/",
            json.dumps({"min_votes": int(HUGE)}),
        )
        assert response.status_code in (201, 400), response.content

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"choice": "left"}, "choice"),
            ({"choice": "a", "strength": "hugely"}, "strength"),
            ({"choice": ["a"]}, "choice"),
        ],
    )
    def test_it_names_an_invalid_choice(
        self, annotator_api: APIClient, lease: Assignment, body: dict[str, Any], field: str
    ) -> None:
        response = _json(annotator_api, "post", f"/api/assignments/{lease.pk}/submit/", json.dumps(body))
        assert response.status_code == 400 and field in response.json()

    @pytest.mark.parametrize("body", ["[]", '"a"', "1", "null"])
    def test_it_names_a_body_that_is_not_an_object(
        self, annotator_api: APIClient, lease: Assignment, body: str
    ) -> None:
        response = _json(annotator_api, "post", f"/api/assignments/{lease.pk}/submit/", body)
        assert response.status_code == 400

    def test_it_names_invalid_import_and_export_choices(
        self, admin_api: APIClient, project: Project, settings: Any, tmp_path: Path
    ) -> None:
        settings.MEDIA_ROOT = tmp_path
        upload = SimpleUploadedFile("x.jsonl", b"{}\n")
        response = admin_api.post(
            f"/api/projects/{project.slug}/imports/",
            {"file": upload, "kind": "zzz", "format": "xml"},
            format="multipart",
        )
        assert response.status_code == 400 and {"kind", "format"} <= set(response.json())
        assert ImportJob.objects.count() == 0


class PathAndUrlTests:
    def test_it_answers_404_for_ids_past_bigint(
        self, staff_api: APIClient, annotator_api: APIClient, project: Project, lease: Assignment
    ) -> None:
        for client, method, url in [
            (annotator_api, "post", f"/api/assignments/{HUGE}/submit/"),
            (annotator_api, "post", f"/api/assignments/{HUGE}/skip/"),
            (staff_api, "get", f"/api/imports/{HUGE}/"),
            (staff_api, "get", f"/api/projects/{project.slug}/snapshots/{HUGE}/"),
            (staff_api, "post", f"/api/projects/{project.slug}/snapshots/{HUGE}/exports/"),
            (staff_api, "get", f"/api/projects/{project.slug}/exports/{HUGE}/"),
            (staff_api, "get", f"/api/projects/{project.slug}/exports/{HUGE}/download/"),
        ]:
            body = json.dumps({"choice": "a", "format": "jsonl", "schema": "hh"})
            response = client.get(url) if method == "get" else _json(client, method, url, body)
            assert response.status_code == 404, (url, response.content)
            assert response["Content-Type"] == "application/json"

    @pytest.mark.parametrize(
        "url",
        [
            "/api/assignments/-1/submit/",
            "/api/projects/demo/nothing/",
            "/api/imports/x/",
            "/api/projects/a%0Ab/",
        ],
    )
    def test_it_answers_json_404_for_urls_that_name_nothing(self, annotator_api: APIClient, url: str) -> None:
        for method in ("get", "post"):
            response = getattr(annotator_api, method)(url)
            assert response.status_code == 404 and response.json() == {"detail": "Not found."}

    def test_it_answers_json_404_even_to_a_session_post_without_csrf(self, annotator: User) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(annotator)
        response = client.post("/api/assignments/-1/submit/", {"choice": "a"})
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}

    def test_it_refuses_a_multipart_body_with_no_readable_part(
        self, annotator_api: APIClient, lease: Assignment
    ) -> None:
        response = annotator_api.post(
            f"/api/assignments/{lease.pk}/skip/",
            b"--xyz\r\ngarbage--xyz--\r\n",
            content_type="multipart/form-data; boundary=xyz",
        )
        assert response.status_code == 400 and "no readable part" in response.json()["detail"]
        assert Assignment.objects.get(pk=lease.pk).status == lease.status
        empty = annotator_api.post(f"/api/assignments/{lease.pk}/skip/", {}, format="multipart")
        assert empty.status_code == 200


def _form(*parts: bytes, boundary: bytes = b"B0und") -> bytes:
    """A multipart body of the given raw parts (headers, and a body if any), closed."""
    return (
        b"".join(b"\r\n--" + boundary + b"\r\n" + part for part in parts) + b"\r\n--" + boundary + b"--\r\n"
    )


def _field(name: str, value: bytes) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value


class _Trickle(io.BytesIO):
    """A stream that hands out a few bytes a read, as a slow connection does."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(3)


class MultipartPartTests:
    URL = "/api/projects/demo/snapshots/create/"

    def _post(self, client: APIClient, body: bytes) -> Any:
        return client.post(self.URL, body, content_type="multipart/form-data; boundary=B0und")

    def test_it_refuses_a_part_whose_headers_end_at_the_boundary(
        self, admin_api: APIClient, project: Project
    ) -> None:
        # Werkzeug's test client writes an empty value so; Django's parser would skip the part, and the
        # snapshot would take the default the caller did not ask for.
        body = _form(_field("min_votes", b"1"), b'Content-Disposition: form-data; name="drop_flagged"\r\n')
        response = self._post(admin_api, body)
        assert response.status_code == 400, response.content
        assert "part 2 ('drop_flagged') has no blank line after its headers" in response.json()["detail"]
        assert Snapshot.objects.count() == 0

    @pytest.mark.parametrize(
        ("body", "problem"),
        [
            (
                _form(_field("min_votes", b"1"), b"Content-Type: text/plain\r\n\r\n1"),
                "part 2 has no Content-",
            ),
            (
                _form(
                    _field("min_votes", b"1"),
                    b'Content-Disposition: form-data; name="benchmark"; filename=".."\r\n\r\nx',
                ),
                "2 part(s) were sent and 1 could be read",
            ),
            (
                _field("drop_ties", b"false") + _form(_field("min_votes", b"1")),
                "1 part(s) were sent and 2 could be read",
            ),
            (_form(_field("min_votes", b"1"))[:-9], "ends before its closing boundary"),
        ],
        ids=["no-name", "unusable-file-name", "field-in-preamble", "cut-short"],
    )
    def test_it_refuses_any_other_part_django_would_skip_or_invent(
        self, admin_api: APIClient, project: Project, body: bytes, problem: str
    ) -> None:
        response = self._post(admin_api, body)
        assert response.status_code == 400 and problem in response.json()["detail"], response.content
        assert Snapshot.objects.count() == 0

    def test_it_reads_empty_values_and_a_large_file(self, admin_api: APIClient, project: Project) -> None:
        empty = self._post(admin_api, _form(_field("method", b""), _field("min_votes", b"1")))
        assert empty.status_code == 400 and "method" in empty.json(), empty.content  # read, and refused as ""
        lines = b"".join(
            b"line %d of a benchmark that mentions --B0un, nearly a delimiter\n" % i for i in range(5000)
        )
        upload = b'Content-Disposition: form-data; name="benchmark"; filename="b.txt"\r\n\r\n' + lines
        created = self._post(admin_api, _form(_field("method", b"majority"), upload))
        assert created.status_code == 201, created.content
        assert (
            created.json()["decontamination"]["benchmark"],
            created.json()["decontamination"]["lines"],
        ) == (
            "b.txt",
            5000,
        )

    def test_it_counts_parts_whose_delimiters_arrive_split_across_reads(self) -> None:
        body = _form(_field("a", b"1"), _field("b", b""), b'Content-Disposition: form-data; name="c"\r\n')
        counter = _PartCounter(_Trickle(body), b"B0und")
        counter.finish()
        assert (counter.parts, counter.closed, counter.bytes_read) == (3, True, len(body))
        assert counter.problem == "part 3 ('c') has no blank line after its headers"


class StrictTypeTests:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": 0, "slug": "fresh"}, "name"),
            ({"name": "Fresh", "slug": 0}, "slug"),
            ({"name": "Fresh", "slug": "fresh", "is_active": 0}, "is_active"),
            ({"name": "Fresh", "slug": "fresh", "is_active": "yes"}, "is_active"),
            ({"name": "Fresh", "slug": "fresh", "gold_rate": False}, "gold_rate"),
            ({"name": "Fresh", "slug": "fresh", "overlap_target": True}, "overlap_target"),
        ],
    )
    def test_it_refuses_values_of_another_json_type(
        self, staff_api: APIClient, body: dict[str, Any], field: str
    ) -> None:
        response = _json(staff_api, "post", "/api/projects/create/", json.dumps(body))
        assert response.status_code == 400 and field in response.json(), response.content
        assert not Project.objects.filter(slug="fresh").exists()

    def test_it_refuses_a_number_as_a_skip_reason(self, annotator_api: APIClient, lease: Assignment) -> None:
        response = _json(
            annotator_api, "post", f"/api/assignments/{lease.pk}/skip/", json.dumps({"reason": 0})
        )
        assert response.status_code == 400 and "reason" in response.json()

    def test_it_still_reads_forms(self, staff_api: APIClient, project: Project) -> None:
        created = staff_api.post(
            "/api/projects/create/",
            {"name": "Form", "slug": "form", "overlap_target": "2", "is_active": "false"},
        )
        assert created.status_code == 201, created.content
        assert created.json()["overlap_target"] == 2 and created.json()["is_active"] is False

    def test_it_gives_a_multipart_snapshot_the_documented_defaults(
        self, staff_api: APIClient, project: Project
    ) -> None:
        # DRF reads a boolean left out of a form as False; the schema says drop_ties defaults to true.
        response = staff_api.post(
            f"/api/projects/{project.slug}/snapshots/create/", {"min_votes": "1"}, format="multipart"
        )
        assert response.status_code == 201, response.content
        assert (
            response.json()["filters"]["drop_ties"] is True
            and response.json()["filters"]["drop_flagged"] is True
        )
