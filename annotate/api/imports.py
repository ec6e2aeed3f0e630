"""Import endpoints: upload a file for a project, then follow its job."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.parsers import StrictMultiPartParser
from annotate.api.permissions import project_for_admin, project_for_reading
from annotate.api.serializers import TextField
from annotate.models import ImportFormat, ImportJob, ImportKind, JobStatus
from annotate.services.imports import ImportRejected, import_job_create


class ImportJobOutputSerializer(serializers.ModelSerializer[ImportJob]):
    project = serializers.CharField(source="project.slug", read_only=True)
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id", "project", "kind", "format", "original_name", "status", "total", "processed", "percent",
            "counts", "errors", "error_message", "attempts", "max_attempts", "retry_reason", "heartbeat_at",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip


class ImportRejectedSerializer(serializers.Serializer[dict[str, object]]):
    detail = serializers.CharField()
    problems = serializers.ListField(child=serializers.DictField())
    job = ImportJobOutputSerializer(required=False)


class ImportCreateApi(APIView):
    """Upload a file of prompts, responses, pairs, ratings or HH-RLHF transcripts (project admins).

    Small files are imported before the answer (201 with a finished job, or 400 with the
    problems); large ones come back 201 with a queued job to follow at ``imports/<id>/``.
    """

    parser_classes = [StrictMultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer[dict[str, object]]):
        file = serializers.FileField()
        kind = serializers.ChoiceField(choices=ImportKind.choices)
        format = serializers.ChoiceField(choices=ImportFormat.choices, required=False)
        batch = TextField(required=False, allow_blank=True, default="", max_length=100)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={201: ImportJobOutputSerializer, 400: ImportRejectedSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_admin(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            job = import_job_create(
                project=project,
                uploaded_file=values["file"],
                kind=values["kind"],
                fmt=values.get("format"),
                created_by=request.user,
                batch=values["batch"],
            )
        except ImportRejected as exc:
            problems = [p.as_dict() for p in exc.problems]
            return Response({"detail": exc.message, "problems": problems}, status=status.HTTP_400_BAD_REQUEST)
        if job.status == JobStatus.FAILED:
            return Response(
                {
                    "detail": job.error_message,
                    "problems": job.errors,
                    "job": ImportJobOutputSerializer(job).data,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(ImportJobOutputSerializer(job).data, status=status.HTTP_201_CREATED)


class ImportJobDetailApi(APIView):
    """An import job's status, progress, counts and problems (admins of its project)."""

    @extend_schema(responses=ImportJobOutputSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = get_object_or_404(ImportJob.objects.select_related("project"), pk=job_id)
        project_for_reading(request, job.project.slug)
        return Response(ImportJobOutputSerializer(job).data)
