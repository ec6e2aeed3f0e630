"""Project CRUD and the staff comparison listing."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate import access
from annotate.access import Need
from annotate.api.pagination import ApiPagination
from annotate.api.permissions import project_for_admin, project_for_reading
from annotate.api.schema import ErrorSerializer
from annotate.api.serializers import FlagField, IntField, NumberField, SlugTextField, TextField
from annotate.models import Choice, Comparison, ComparisonStatus, Project
from annotate.selectors.comparisons import comparison_list
from annotate.services.projects import project_create, project_update


class ProjectOutputSerializer(serializers.ModelSerializer[Project]):
    class Meta:
        model = Project
        fields = [
            "id", "name", "slug", "guidelines", "overlap_target", "lease_ttl_seconds", "gold_rate",
            "min_gold_accuracy", "min_gold_items", "position_bias_p", "min_median_seconds", "is_active", "created_at",
        ]  # fmt: skip


class _ProjectFieldsSerializer(serializers.Serializer[dict[str, object]]):
    guidelines = TextField(required=False, allow_blank=True)
    overlap_target = IntField(required=False, min_value=1, max_value=50)
    lease_ttl_seconds = IntField(required=False, min_value=10, max_value=86_400)
    gold_rate = NumberField(required=False, min_value=0.0, max_value=1.0)
    min_gold_accuracy = NumberField(required=False, min_value=0.0, max_value=1.0)
    min_gold_items = IntField(required=False, min_value=0, max_value=100_000)
    position_bias_p = NumberField(required=False, min_value=0.0, max_value=1.0)
    min_median_seconds = NumberField(required=False, min_value=0.0)
    is_active = FlagField(required=False)


def _django_errors(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)


def _only_unique_slug(exc: DjangoValidationError) -> bool:
    errors = getattr(exc, "error_dict", {})
    return set(errors) == {"slug"} and all(e.code == "unique" for e in errors["slug"])


class ProjectListApi(APIView):
    """Projects you may open: your memberships, or all of them with ``annotate.view_project`` (superusers too)."""

    @extend_schema(responses=ProjectOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        projects = access.projects_visible_to(request.user).order_by("name")
        return Response(ProjectOutputSerializer(projects, many=True).data)


class ProjectCreateApi(APIView):
    """Create a project (superusers and holders of ``annotate.add_project``); you become its admin."""

    class InputSerializer(_ProjectFieldsSerializer):
        name = TextField(max_length=200)
        slug = SlugTextField(max_length=80)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ProjectOutputSerializer,
            409: OpenApiResponse(ErrorSerializer, description="A project with this slug already exists."),
        },
    )
    def post(self, request: Request) -> Response:
        if not access.can_create_projects(request.user):
            raise PermissionDenied("Only superusers and holders of annotate.add_project may create projects.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        taken = Response(
            {"code": "slug_taken", "detail": f"A project with the slug {data.validated_data['slug']!r} already exists."},
            status=status.HTTP_409_CONFLICT,
        )
        try:
            project = project_create(created_by=request.user, **data.validated_data)  # type: ignore[arg-type]
        except DjangoValidationError as exc:
            if _only_unique_slug(exc):
                return taken
            raise _django_errors(exc) from exc
        except IntegrityError:  # the same slug created between full_clean() and the insert
            return taken
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    """One project, for its members and those who read every project."""

    @extend_schema(responses=ProjectOutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = access.project_for(user=request.user, slug=slug, need=Need.VIEW)
        return Response(ProjectOutputSerializer(project).data)


class ProjectUpdateApi(APIView):
    """Change a project's settings (project admins)."""

    class InputSerializer(_ProjectFieldsSerializer):
        name = TextField(max_length=200, required=False)

    @extend_schema(request=InputSerializer, responses=ProjectOutputSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        project = project_for_admin(request, slug)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            project = project_update(project=project, **data.validated_data)
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        return Response(ProjectOutputSerializer(project).data)


class ProjectDeleteApi(APIView):
    """Delete a project and everything in it (superusers and holders of ``annotate.delete_project``)."""

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        project = access.project_for(user=request.user, slug=slug, need=Need.DELETE)
        project.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ComparisonListApi(APIView):
    """A project's comparisons with their votes and gold answers (project admins and readers), filterable."""

    class FilterSerializer(serializers.Serializer[dict[str, object]]):
        status = serializers.ChoiceField(choices=ComparisonStatus.choices, required=False)
        is_gold = FlagField(required=False, allow_null=True, default=None)
        min_votes = IntField(required=False, min_value=0)
        winner = serializers.ChoiceField(choices=Choice.choices, required=False)
        batch = TextField(required=False, allow_blank=True, help_text="Blank: any batch.")
        search = TextField(required=False, allow_blank=True, help_text="Blank: no search.")

    class OutputSerializer(serializers.ModelSerializer[Comparison]):
        prompt = serializers.JSONField(source="prompt.content")
        response_a = serializers.CharField(source="response_a.text")
        response_b = serializers.CharField(source="response_b.text")

        class Meta:
            model = Comparison
            fields = [
                "id", "prompt", "response_a", "response_b", "status", "priority", "is_gold", "gold_answer",
                "batch", "vote_count", "winner", "agreement", "posterior", "created_at",
            ]  # fmt: skip

    pagination_class = ApiPagination

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_reading(request, slug)
        # A plain dict, not the QueryDict: DRF reads a blank form value as "not given", which would let
        # ``?min_votes=`` through although the schema says it is an integer.
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        comparisons = comparison_list(project=project, **filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(comparisons, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)
