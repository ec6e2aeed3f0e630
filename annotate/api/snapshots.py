"""Snapshots, exports and annotator quality (project admins only)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.http import FileResponse, Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.permissions import project_for_admin
from annotate.models import AggregationMethod, ExportFormat, ExportJob, ExportSchema, Project, Snapshot
from annotate.selectors_quality import (
    SnapshotFilters,
    annotator_quality,
    export_job_get,
    project_agreement,
    project_votes,
    snapshot_diff,
    snapshot_get,
    snapshot_list,
)
from annotate.services.decontamination import DEFAULT_NGRAM
from annotate.services.exports import export_download_path, export_job_create
from annotate.services.snapshots import snapshot_create


class SnapshotOutputSerializer(serializers.ModelSerializer[Snapshot]):
    class Meta:
        model = Snapshot
        fields = [
            "version", "method", "filters", "counts", "pair_count", "content_hash", "decontamination", "created_at",
        ]


class ExportJobOutputSerializer(serializers.ModelSerializer[ExportJob]):
    version = serializers.IntegerField(source="snapshot.version")
    percent = serializers.IntegerField()
    download = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id", "version", "format", "schema", "status", "total", "processed", "percent", "error_message",
            "created_at", "started_at", "finished_at", "download",
        ]

    def get_download(self, job: ExportJob) -> str | None:
        if job.status != "succeeded":
            return None
        return f"/api/projects/{job.snapshot.project.slug}/exports/{job.pk}/download/"


def _snapshot_or_404(project: Project, version: int) -> Snapshot:
    snapshot = snapshot_get(project=project, version=version)
    if snapshot is None:
        raise Http404("No such snapshot")
    return snapshot


class SnapshotListApi(APIView):
    """A project's snapshots, newest first."""

    @extend_schema(responses=SnapshotOutputSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_admin(request, slug)
        return Response(SnapshotOutputSerializer(snapshot_list(project=project), many=True).data)


class SnapshotCreateApi(APIView):
    """Freeze the pairs that pass the filters as the next snapshot; optionally decontaminate against a benchmark file."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        method = serializers.ChoiceField(choices=AggregationMethod.values, default=AggregationMethod.MAJORITY)
        min_votes = serializers.IntegerField(min_value=1, default=SnapshotFilters.min_votes)
        min_agreement = serializers.FloatField(min_value=0, max_value=1, default=SnapshotFilters.min_agreement)
        min_posterior = serializers.FloatField(min_value=0, max_value=1, default=SnapshotFilters.min_posterior)
        drop_ties = serializers.BooleanField(default=True)
        drop_flagged = serializers.BooleanField(default=True)
        benchmark = serializers.FileField(required=False)
        ngram = serializers.IntegerField(min_value=5, max_value=50, default=DEFAULT_NGRAM)

    @extend_schema(request=InputSerializer, responses={201: SnapshotOutputSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_admin(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        upload = values.pop("benchmark", None)
        ngram = values.pop("ngram")
        filters = SnapshotFilters(**values)
        if upload is None:
            snapshot = snapshot_create(project=project, filters=filters, created_by=request.user)  # type: ignore[arg-type]
        else:
            with tempfile.NamedTemporaryFile(suffix=".txt") as handle:
                for piece in upload.chunks():
                    handle.write(piece)
                handle.flush()
                snapshot = snapshot_create(
                    project=project, filters=filters, created_by=request.user,  # type: ignore[arg-type]
                    benchmark_path=Path(handle.name), benchmark_name=upload.name, ngram=ngram,
                )
        return Response(SnapshotOutputSerializer(snapshot).data, status=status.HTTP_201_CREATED)


class SnapshotDetailApi(APIView):
    """One snapshot, with what changed since the version before it."""

    class OutputSerializer(SnapshotOutputSerializer):
        diff = serializers.SerializerMethodField()

        class Meta(SnapshotOutputSerializer.Meta):
            fields = [*SnapshotOutputSerializer.Meta.fields, "diff"]

        def get_diff(self, snapshot: Snapshot) -> dict[str, Any]:
            return snapshot_diff(snapshot=snapshot).summary()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, slug: str, version: int) -> Response:
        project = project_for_admin(request, slug)
        return Response(self.OutputSerializer(_snapshot_or_404(project, version)).data)


class ExportCreateApi(APIView):
    """Queue an export of a snapshot; poll the export's detail for progress, then download it."""

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        format = serializers.ChoiceField(choices=ExportFormat.values)
        schema = serializers.ChoiceField(choices=ExportSchema.values)

    @extend_schema(request=InputSerializer, responses={202: ExportJobOutputSerializer})
    def post(self, request: Request, slug: str, version: int) -> Response:
        project = project_for_admin(request, slug)
        snapshot = _snapshot_or_404(project, version)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = export_job_create(
            snapshot=snapshot, fmt=data.validated_data["format"], schema=data.validated_data["schema"],
            created_by=request.user,  # type: ignore[arg-type]
        )
        return Response(ExportJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    """An export's status and progress."""

    @extend_schema(responses=ExportJobOutputSerializer)
    def get(self, request: Request, slug: str, job_id: int) -> Response:
        project = project_for_admin(request, slug)
        job = export_job_get(project=project, job_id=job_id)
        if job is None:
            raise Http404("No such export")
        return Response(ExportJobOutputSerializer(job).data)


class ExportDownloadApi(APIView):
    """The finished export file (a zip for a `datasets` folder), streamed."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, slug: str, job_id: int) -> FileResponse:
        project = project_for_admin(request, slug)
        job = export_job_get(project=project, job_id=job_id)
        path = export_download_path(job) if job is not None else None
        if path is None:
            raise Http404("This export is not ready")
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


class AnnotatorQualityApi(APIView):
    """Per-annotator quality with flags, and agreement for the project and each batch."""

    @extend_schema(responses=dict)
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_admin(request, slug)
        votes = project_votes(project=project)
        agreement = project_agreement(project=project, votes=votes)
        report = annotator_quality(project=project, votes=votes)

        def _clean(value: Any) -> Any:
            # JSON has no NaN: "never answered" becomes null.
            if isinstance(value, float) and value != value:
                return None
            if isinstance(value, list):
                return [_clean(v) for v in value]
            return value

        return Response(
            {
                "annotators": [{k: _clean(v) for k, v in a.as_dict().items()} for a in report.annotators],
                "collusion_groups": [vars(group) for group in report.groups],
                "unavailable_flags": report.unavailable,
                "agreement": {
                    "project": vars(agreement.project),
                    "batches": [vars(row) for row in agreement.batches],
                    "daily": [vars(row) for row in agreement.daily],
                },
            }
        )
