"""The OpenAPI schema: generated without a drf-spectacular warning, saying what the views do, and held to it by
schemathesis against the live app, as an admin and as an annotator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import yaml
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.generation.overrides import with_config_headers
from schemathesis.transport import SerializationContext
from schemathesis.transport.requests import prepare_multipart_parts
from schemathesis.transport.wsgi import WSGI_TRANSPORT

from alignment.models import VersionKind
from alignment.services.rounds import round_start
from alignment.services.versions import version_create
from annotate.aggregation.selection import SnapshotFilters
from annotate.api import urls as api_urls
from annotate.models import ExportJob, ImportJob, Role
from annotate.services.assignment import comparison_next_for_annotator
from annotate.services.exports import export_job_run
from annotate.services.snapshots import snapshot_create
from config.wsgi import application
from tests.alignment.rounds import make_tiny_plan
from tests.factories import add_member, make_comparisons, make_judgment, make_project, make_user


def _api_views() -> list[URLPattern]:
    """The API's URL patterns that are APIViews (one method each), the included alignment ones among them."""
    found: list[URLPattern] = []
    for entry in api_urls.urlpatterns:
        inner: list[Any] = list(entry.url_patterns) if isinstance(entry, URLResolver) else [entry]
        found += [p for p in inner if isinstance(p, URLPattern) and hasattr(p.callback, "cls")]
    return found


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    warnings = dict(GENERATOR_STATS._warn_cache)
    errors = dict(GENERATOR_STATS._error_cache)
    GENERATOR_STATS.reset()
    assert not warnings and not errors, f"drf-spectacular: warnings {warnings}, errors {errors}"
    return schema


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op) for path, methods in openapi["paths"].items() for method, op in methods.items()
    ]


def _ref(openapi: dict[str, Any], ref: str) -> dict[str, Any]:
    return openapi["components"]["schemas"][ref.rpartition("/")[2]]


def _body(openapi: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    content = openapi["paths"][path][method]["requestBody"]["content"]
    return _ref(openapi, next(iter(content.values()))["schema"]["$ref"])


class SchemaGenerationTests:
    def test_it_passes_spectacular_validate_and_fail_on_warn(self, tmp_path: Path) -> None:
        out = tmp_path / "schema.yaml"
        call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
        assert yaml.safe_load(out.read_text())["paths"]

    def test_it_emits_no_warning_and_covers_every_api_view(self, openapi: dict[str, Any]) -> None:
        assert len(_operations(openapi)) == len(_api_views()) > 0


class SchemaTruthTests:
    def test_it_documents_each_request_body_with_its_own_component(self, openapi: dict[str, Any]) -> None:
        assert set(_body(openapi, "/api/assignments/{assignment_id}/submit/")["required"]) == {"choice"}
        assert set(_body(openapi, "/api/assignments/{assignment_id}/skip/")["properties"]) == {"reason"}
        assert {"name", "slug"} <= set(_body(openapi, "/api/projects/create/")["required"])
        assert "min_votes" in _body(openapi, "/api/projects/{slug}/snapshots/create/")["properties"]
        assert set(_body(openapi, "/api/projects/{slug}/snapshots/{version}/exports/")["required"]) == {
            "format",
            "schema",
        }

    def test_it_documents_uploads_as_files(self, openapi: dict[str, Any]) -> None:
        body = _body(openapi, "/api/projects/{slug}/imports/")
        assert body["properties"]["file"] == {"type": "string", "format": "binary"}

    def test_it_documents_the_comparison_list_as_a_page(self, openapi: dict[str, Any]) -> None:
        op = openapi["paths"]["/api/projects/{slug}/comparisons/"]["get"]
        page = _ref(openapi, op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
        assert {"count", "next", "previous", "results"} <= set(page["properties"])
        limit = next(p for p in op["parameters"] if p["name"] == "limit")
        assert limit["schema"] == {"type": "integer", "minimum": 1}
        assert "500" in limit["description"]

    def test_it_documents_the_alignment_refusals(self, openapi: dict[str, Any]) -> None:
        update = openapi["paths"]["/api/projects/{slug}/plan/update/"]["patch"]["responses"]["400"]["content"]
        assert {"$ref": "#/components/schemas/PlanInvalid"} in update["application/json"]["schema"]["anyOf"]
        assert set(_ref(openapi, "PlanInvalid")["required"]) == {"field", "key", "message"}
        assert "409" in openapi["paths"]["/api/projects/{slug}/rounds/start/"]["post"]["responses"]
        reject = _body(openapi, "/api/projects/{slug}/versions/{version_id}/reject/")
        assert reject["required"] == ["reason"] and reject["properties"]["reason"]["pattern"] == r"\S"

    def test_it_documents_the_errors_of_every_operation(self, openapi: dict[str, Any]) -> None:
        for path, method, op in _operations(openapi):
            codes = set(op["responses"])
            assert {"401", "403"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if "requestBody" in op or any(p["in"] == "query" for p in op.get("parameters", [])):
                assert "400" in codes, (method, path)
            for code in codes - {"204"}:
                assert op["responses"][code].get("content"), (method, path, code)
        submit = openapi["paths"]["/api/assignments/{assignment_id}/submit/"]["post"]["responses"]
        assert {"200", "201", "409"} <= set(submit)
        assert _ref(openapi, "Error")["required"] == ["detail"]


@pytest.fixture
def same_connection() -> Iterator[None]:
    # The WSGI handler closes "old" connections around each request; inside the test's
    # transaction that would close the one connection the test's rows live in.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def reported_multipart() -> Iterator[None]:
    """Forms go to the WSGI app as the bytes that schemathesis reports and its curl line reproduces."""
    # Werkzeug's own encoder, which the WSGI transport uses, writes an empty value or file as a part with no
    # blank line after its headers; Django's parser cannot read such a part and the API refuses the body
    # (StrictMultiPartParser), so the checks would judge a request other than the one reported.
    media_type = "multipart/form-data"
    found = WSGI_TRANSPORT.get_first_matching_media_type(media_type)
    assert found is not None
    werkzeug_encoding = found[1]

    def encode(ctx: SerializationContext, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            return werkzeug_encoding(ctx, value)  # a raw or non-object body, sent as generated
        files, data = prepare_multipart_parts(ctx, value)
        if not files and not data:
            return werkzeug_encoding(ctx, value)
        prepared = requests.PreparedRequest()
        prepared.prepare_headers(None)
        prepared.prepare_body(data, files)
        return {"data": prepared.body, "content_type": prepared.headers["Content-Type"]}

    WSGI_TRANSPORT.serializer(media_type)(encode)
    yield
    WSGI_TRANSPORT.serializer(media_type)(werkzeug_encoding)


@pytest.fixture
def world(db: None, same_connection: None, settings: Any, tmp_path: Path) -> dict[str, Any]:
    """A project with votes, a snapshot, a finished export, an import job, a live lease per role, an alignment
    plan, a pending round (its step is never sent: the test's transaction does not commit) and a candidate policy."""
    settings.MEDIA_ROOT = tmp_path / "media"
    project = make_project(slug="demo")
    doomed = make_project(slug="doomed")
    admin = make_user("boss", is_superuser=True, staff=True)
    annotator = make_user("ann")
    add_member(project, admin, Role.ADMIN)
    add_member(doomed, admin, Role.ADMIN)
    add_member(project, annotator, Role.ANNOTATOR)
    voter = make_user("voter")
    for comparison in make_comparisons(project, 6):
        make_judgment(comparison, voter, "a")
    lenient = SnapshotFilters(min_votes=1, min_agreement=0.0, drop_flagged=False)
    snapshot = snapshot_create(project=project, filters=lenient)
    export = ExportJob.objects.create(snapshot=snapshot, format="jsonl", schema="hh", total=1)
    export_job_run(job_id=export.pk)  # finished, so that its download answers 200
    imported = ImportJob.objects.create(project=project, kind="pairs", format="jsonl", file="imports/x.jsonl")
    make_tiny_plan(project)
    round_ = round_start(project=project, user=admin)
    assert round_.start_policy is not None
    candidate = version_create(
        project=project, kind=VersionKind.POLICY, champion=False, path="demo/round-1/policy",
        parent=round_.start_policy, round=round_,
    )  # fmt: skip
    leases = {}
    for role, user in (("admin", admin), ("annotator", annotator)):
        lease = comparison_next_for_annotator(project=project, annotator=user)
        assert lease is not None
        leases[role] = lease.pk
    return {
        "tokens": {
            role: Token.objects.create(user=user).key
            for role, user in (("admin", admin), ("annotator", annotator))
        },
        "leases": leases,
        "version": snapshot.version,
        "export": export.pk,
        "import": imported.pk,
        "round": round_.number,
        "model_version": candidate.pk,
    }


def _existing(path: str, world: dict[str, Any], role: str) -> dict[str, Any]:
    """Path parameters naming objects that exist, so that requests reach the views' own checks."""
    known: dict[str, Any] = {}
    if "{slug}" in path:
        # Deleting the project every other operation uses would leave them nothing but 404s.
        known["slug"] = "doomed" if path.endswith("/delete/") else "demo"
    if "{version}" in path:
        known["version"] = world["version"]
    if "{assignment_id}" in path:
        known["assignment_id"] = world["leases"][role]
    if "{number}" in path:
        known["number"] = world["round"]
    if "{version_id}" in path:
        known["version_id"] = world["model_version"]
    if "{job_id}" in path:
        known["job_id"] = world["import"] if path.startswith("/api/imports/") else world["export"]
    return known


def _coverage_test(operation: Any, config: Any, existing: dict[str, Any]) -> Any:
    """Schemathesis's coverage phase (boundaries, each type's wrong shapes, missing fields), on existing
    objects; deterministic, about ten cases an operation."""

    def call(case: Any) -> None:
        # With the path fixed to real objects, an "invalid path parameter" case is sent with a valid one.
        if existing and case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
            return
        # The credentials named as such, so that ignored_auth probes without them rather than take them
        # for generated ones.
        case.call_and_validate(headers=config.headers_for(operation=operation))

    override = with_config_headers(config, operation=operation)
    override.path_parameters.update({name: str(value) for name, value in existing.items()})
    return create_test(
        operation=operation,
        test_func=call,
        config=HypothesisTestConfig(
            project=config,
            modes=[HypothesisTestMode.COVERAGE],
            settings=settings(
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit],
            ),
            override=override,
        ),
    )


class SchemathesisTests:
    """Every operation: schemathesis's coverage cases, then a few derandomised examples each of valid
    requests, invalid ones on existing objects, and invalid path parameters too. Every built-in check
    runs, not_a_server_error and response_schema_conformance among them."""

    @pytest.mark.parametrize("role", ["admin", "annotator"])
    def test_it_answers_generated_requests_without_server_errors_and_within_the_schema(
        self, world: dict[str, Any], reported_multipart: None, role: str
    ) -> None:
        config = schemathesis.Config.from_dict(
            {
                # Sent as the caller's credentials; schemathesis probes the API without them as well.
                "headers": {"Authorization": f"Token {world['tokens'][role]}"},
                "generation": {"with-security-parameters": False},
                "operations": [
                    {
                        # To the schema an upload is bytes; whether they parse as prompts or pairs is the
                        # import's verdict, a 400 naming the problems (whose body is still checked).
                        "include-path": "/api/projects/{slug}/imports/",
                        "checks": {
                            "positive_data_acceptance": {
                                "expected-statuses": ["2xx", "400", "401", "403", "404"]
                            }
                        },
                    },
                    # Rules across fields that OpenAPI 3.0 cannot state: keep_unpaired needs drop_ties
                    # false, include_ties needs the trl_unpaired schema; each is a 400 naming the field.
                    *(
                        {
                            "include-path": path,
                            "checks": {
                                "positive_data_acceptance": {
                                    "expected-statuses": ["2xx", "400", "401", "403", "404"]
                                }
                            },
                        }
                        for path in (
                            "/api/projects/{slug}/snapshots/create/",
                            "/api/projects/{slug}/snapshots/{version}/exports/",
                        )
                    ),
                    {
                        # To the schema a training config is any object; which keys it takes is the training
                        # library's verdict (load_config), a 400 naming the field and the key.
                        "include-path": "/api/projects/{slug}/plan/update/",
                        "checks": {
                            "positive_data_acceptance": {
                                "expected-statuses": ["2xx", "400", "401", "403", "404"]
                            }
                        },
                    },
                ],
            }
        )
        schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=config)
        failures: list[str] = []
        operations = 0
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                failures.append(f"the schema has an operation schemathesis cannot read: {result.err()}")
                continue
            operation = result.ok()
            operations += 1
            existing = _existing(operation.path, world, role)
            try:
                _coverage_test(operation, schema.config, existing)()
            except (Exception, FailureGroup) as exc:
                failures.append(f"{operation.label} [coverage, fixed {sorted(existing)}]: {exc}")
            for mode, fixed in [
                (GenerationMode.POSITIVE, existing),
                (GenerationMode.NEGATIVE, existing),
                (GenerationMode.NEGATIVE, {}),
            ]:
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

                @settings(
                    max_examples=6,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.generate],
                )
                @given(case=strategy)
                def run(case: Any) -> None:
                    case.call_and_validate()

                try:
                    run()
                except Unsatisfiable:
                    pass  # nothing is left to make invalid once the path parameters are fixed
                except (Exception, FailureGroup) as exc:  # every failure is collected and reported below
                    failures.append(f"{operation.label} [{mode.value}, fixed {sorted(fixed)}]: {exc}")
        assert operations == len(_api_views())
        assert not failures, "\n\n".join(failures)
