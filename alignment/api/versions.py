"""Model versions: list, detail, promote and reject (reading needs Need.READ, acting Need.ADMINISTER).

Annotators get 403 here like on every admin endpoint: they never see which model wrote a response.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alignment.api.serializers import VersionOutputSerializer
from alignment.models import ModelVersion, VersionKind, VersionStatus
from alignment.selectors.versions import version_by_id, version_list
from alignment.services.versions import REASON_NEEDED, VersionRefused, version_promote, version_reject
from annotate.api.permissions import project_for_admin, project_for_reading
from annotate.api.schema import ErrorSerializer
from annotate.api.serializers import TextField
from annotate.models import Project


def _version_or_404(project: Project, version_id: int) -> ModelVersion:
    version = version_by_id(project=project, version_id=version_id)
    if version is None:
        raise Http404("No such model version")
    return version


def _refused(exc: VersionRefused) -> Response:
    return Response({"code": "version_refused", "detail": str(exc)}, status=status.HTTP_409_CONFLICT)


class VersionListApi(APIView):
    """A project's model versions (policies, then reward models; newest first), filterable by kind and status."""

    class FilterSerializer(serializers.Serializer[dict[str, Any]]):
        kind = serializers.ChoiceField(choices=VersionKind.choices, required=False)
        status = serializers.ChoiceField(choices=VersionStatus.choices, required=False)

    @extend_schema(parameters=[FilterSerializer], responses=VersionOutputSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_reading(request, slug)
        # A plain dict, as in the comparison list: a blank value is then refused, not read as "not given".
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        versions = version_list(project=project, **filters.validated_data)
        return Response(VersionOutputSerializer(versions, many=True).data)


class VersionDetailApi(APIView):
    """One model version with its lineage: parent, round, snapshot, reward model, reference, config."""

    @extend_schema(responses=VersionOutputSerializer)
    def get(self, request: Request, slug: str, version_id: int) -> Response:
        project = project_for_reading(request, slug)
        return Response(VersionOutputSerializer(_version_or_404(project, version_id)).data)


class VersionPromoteApi(APIView):
    """Make this version its project's champion of its kind; the previous champion is archived."""

    @extend_schema(
        request=None,
        responses={
            200: VersionOutputSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The lineage's rules refuse it."),
        },
    )
    def post(self, request: Request, slug: str, version_id: int) -> Response:
        project = project_for_admin(request, slug)
        try:
            version = version_promote(version=_version_or_404(project, version_id))
        except VersionRefused as exc:
            return _refused(exc)
        return Response(VersionOutputSerializer(_version_or_404(project, version.pk)).data)


class VersionRejectApi(APIView):
    """Reject a version, saying why; a rejected champion hands the title back to the policy it was trained from."""

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        # Blank (after trimming) is refused; the pattern says so in the schema.
        reason = TextField(
            max_length=500, validators=[RegexValidator(r"\S", REASON_NEEDED)]
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: VersionOutputSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="A champion with no parent cannot be rejected: promote another first.",
            ),
        },
    )
    def post(self, request: Request, slug: str, version_id: int) -> Response:
        project = project_for_admin(request, slug)
        version = _version_or_404(project, version_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version_reject(version=version, reason=data.validated_data["reason"])
        except VersionRefused as exc:
            return _refused(exc)
        return Response(VersionOutputSerializer(_version_or_404(project, version.pk)).data)
