"""Snapshots, exports and annotator quality (project admins only)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.http import FileResponse, Http404, QueryDict
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.aggregation.selection import SnapshotFilters
from annotate.api.parsers import BoundedJSONParser, StrictMultiPartParser
from annotate.api.permissions import project_for_admin, project_for_reading
from annotate.api.serializers import FlagField, IntField, NumberField, option_checked
from annotate.models import (
    AggregationMethod,
    ExportFormat,
    ExportJob,
    ExportSchema,
    JobStatus,
    Project,
    Snapshot,
)
from annotate.selectors.agreement import project_agreement
from annotate.selectors.exports import export_job_get
from annotate.selectors.quality import annotator_quality
from annotate.selectors.snapshots import snapshot_diff, snapshot_get, snapshot_list
from annotate.selectors.votes import project_votes
from annotate.services.decontamination import DEFAULT_NGRAM
from annotate.services.export_files import export_options_check
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
            "id", "version", "format", "schema", "include_ties", "counts", "status", "total", "processed", "percent",
            "error_message", "attempts", "max_attempts", "retry_reason", "heartbeat_at", "created_at", "started_at",
            "finished_at", "download",
        ]

    def get_download(self, job: ExportJob) -> str | None:
        if job.status != JobStatus.SUCCEEDED:
            return None
        return reverse("api:export-download", kwargs={"slug": job.snapshot.project.slug, "job_id": job.pk})


def _snapshot_or_404(project: Project, version: int) -> Snapshot:
    snapshot = snapshot_get(project=project, version=version)
    if snapshot is None:
        raise Http404("No such snapshot")
    return snapshot


class SnapshotListApi(APIView):
    """A project's snapshots, newest first."""

    @extend_schema(responses=SnapshotOutputSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_reading(request, slug)
        return Response(SnapshotOutputSerializer(snapshot_list(project=project), many=True).data)


# DRF refuses an empty upload ("The submitted file is empty."); the schema says so, as the shortest file it takes.
@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class NonEmptyFileField(serializers.FileField):
    pass


class SnapshotCreateApi(APIView):
    """Freeze the pairs that pass the filters as the next snapshot; optionally decontaminate against a benchmark file."""

    parser_classes = [BoundedJSONParser, StrictMultiPartParser, FormParser]

    class FiltersSerializer(serializers.Serializer[dict[str, Any]]):
        method = serializers.ChoiceField(choices=AggregationMethod.choices, default=AggregationMethod.MAJORITY)
        min_votes = IntField(min_value=1, default=SnapshotFilters.min_votes)
        min_agreement = NumberField(min_value=0, max_value=1, default=SnapshotFilters.min_agreement)
        min_posterior = NumberField(min_value=0, max_value=1, default=SnapshotFilters.min_posterior)
        drop_ties = FlagField(default=True)
        drop_flagged = FlagField(default=True)
        flagged_votes = serializers.ChoiceField(
            choices=[("downweight", "downweight"), ("drop", "drop")],
            default=SnapshotFilters.flagged_votes,
            help_text="With drop_flagged: down-weight flagged annotators' votes, or drop them all.",
        )
        position_aware = FlagField(
            default=SnapshotFilters.position_aware,
            help_text="Dawid–Skene fits a left-pick share for position-flagged annotators.",
        )
        ngram = IntField(min_value=5, max_value=50, default=DEFAULT_NGRAM)
        keep_unpaired = FlagField(
            default=False,
            help_text="Keep both-bad and tie comparisons as rows of their kind, for the trl_unpaired export; "
            "needs drop_ties false.",
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            """The filters as ``SnapshotFilters`` (which holds the rules across fields), under "filters"."""
            values = dict(attrs)
            rest = {name: values.pop(name) for name in ("benchmark", "ngram") if name in values}
            return {**rest, "filters": option_checked(SnapshotFilters, **values)}

    class InputSerializer(FiltersSerializer):
        benchmark = NonEmptyFileField(required=False)

    # Only a multipart body can carry the benchmark file.
    @extend_schema(
        request={"application/json": FiltersSerializer, "multipart/form-data": InputSerializer},
        responses={201: SnapshotOutputSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_admin(request, slug)
        # A form's QueryDict would make a boolean left out False (DRF reads forms as checkboxes); as a
        # plain dict it takes its documented default, as in JSON.
        body = request.data.dict() if isinstance(request.data, QueryDict) else request.data
        data = self.InputSerializer(data=body)
        data.is_valid(raise_exception=True)
        upload, ngram, filters = (data.validated_data.get(name) for name in ("benchmark", "ngram", "filters"))
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
        project = project_for_reading(request, slug)
        return Response(self.OutputSerializer(_snapshot_or_404(project, version)).data)


class ExportCreateApi(APIView):
    """Queue an export of a snapshot; poll the export's detail for progress, then download it."""

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        format = serializers.ChoiceField(choices=ExportFormat.choices)
        schema = serializers.ChoiceField(choices=ExportSchema.choices)
        include_ties = FlagField(
            default=False, help_text="trl_unpaired only: each tie's two responses as two desirable rows."
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            option_checked(export_options_check, fmt=attrs["format"], schema=attrs["schema"],
                           include_ties=attrs["include_ties"])  # fmt: skip
            return attrs

    @extend_schema(request=InputSerializer, responses={202: ExportJobOutputSerializer})
    def post(self, request: Request, slug: str, version: int) -> Response:
        project = project_for_admin(request, slug)
        snapshot = _snapshot_or_404(project, version)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = export_job_create(
            snapshot=snapshot, fmt=data.validated_data["format"], schema=data.validated_data["schema"],
            include_ties=data.validated_data["include_ties"], created_by=request.user,  # type: ignore[arg-type]
        )
        return Response(ExportJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    """An export's status and progress."""

    @extend_schema(responses=ExportJobOutputSerializer)
    def get(self, request: Request, slug: str, job_id: int) -> Response:
        project = project_for_reading(request, slug)
        job = export_job_get(project=project, job_id=job_id)
        if job is None:
            raise Http404("No such export")
        return Response(ExportJobOutputSerializer(job).data)


class ExportDownloadApi(APIView):
    """The finished export file (a zip for a `datasets` folder), streamed."""

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(bytes, description="A JSONL or Parquet file."),
            (200, "application/zip"): OpenApiResponse(bytes, description="A zipped `datasets` folder."),
        }
    )
    def get(self, request: Request, slug: str, job_id: int) -> FileResponse:
        project = project_for_reading(request, slug)
        job = export_job_get(project=project, job_id=job_id)
        path = export_download_path(job) if job is not None else None
        if path is None:
            raise Http404("This export is not ready")
        # Named, not guessed: the guess from the file name depends on the machine's mime.types.
        kind = "application/zip" if path.suffix == ".zip" else "application/octet-stream"
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type=kind)


class AgreementRowOutputSerializer(serializers.Serializer[dict[str, Any]]):
    """Agreement over one set of votes: the project, one batch (``label`` its name) or one day (an ISO date)."""

    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label
    items = serializers.IntegerField(help_text="Items with at least two votes.")
    votes = serializers.IntegerField()
    alpha = serializers.FloatField(allow_null=True, help_text="Krippendorff's α (nominal).")
    kappa = serializers.FloatField(allow_null=True, help_text="Fleiss' κ.")
    consensus = serializers.FloatField(allow_null=True, help_text="Share of votes agreeing with the item's majority.")


class AgreementOutputSerializer(serializers.Serializer[dict[str, Any]]):
    project = AgreementRowOutputSerializer()
    batches = AgreementRowOutputSerializer(many=True)
    daily = AgreementRowOutputSerializer(many=True)


class AnnotatorRowOutputSerializer(serializers.Serializer[dict[str, Any]]):
    """One annotator's quality; null where there is nothing to measure yet."""

    annotator_id = serializers.IntegerField(allow_null=True, help_text="Null for imported votes.")
    name = serializers.CharField()
    votes = serializers.IntegerField()
    gold_items = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    consensus_agreement = serializers.FloatField(allow_null=True)
    decisive_votes = serializers.IntegerField()
    left_share = serializers.FloatField(allow_null=True)
    bias_p = serializers.FloatField(allow_null=True, help_text="Binomial test p-value of the left/right split.")
    median_seconds = serializers.FloatField(allow_null=True)
    ds_diagonal = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        help_text="Dawid–Skene P(answers k | truth k) for a, b, tie, both_bad; null where never answered.",
    )
    flags = serializers.ListField(child=serializers.CharField())


class AnnotatorQualityApi(APIView):
    """Per-annotator quality with flags, and agreement for the project and each batch."""

    class OutputSerializer(serializers.Serializer[dict[str, Any]]):
        annotators = AnnotatorRowOutputSerializer(many=True)
        agreement = AgreementOutputSerializer()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_reading(request, slug)
        votes = project_votes(project=project)
        agreement = project_agreement(project=project, votes=votes)
        report = annotator_quality(project=project, votes=votes)

        return Response(
            {
                "annotators": [a.as_dict() for a in report.annotators],
                "collusion_groups": [vars(group) for group in report.groups],
                "unavailable_flags": report.unavailable,
                "agreement": {
                    "project": vars(agreement.project),
                    "batches": [vars(row) for row in agreement.batches],
                    "daily": [vars(row) for row in agreement.daily],
                },
            }
        )
