"""Annotator endpoints: next comparison, submit, skip, undo."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api.permissions import lease_project_for_annotator, project_for_annotation
from annotate.api.schema import ErrorSerializer
from annotate.api.serializers import NumberField, TaskOutputSerializer, TextField, task_payload
from annotate.models import Choice, Strength
from annotate.services.assignment import comparison_next_for_annotator
from annotate.services.errors import ServiceError
from annotate.services.judgments import assignment_skip, judgment_submit_and_lease_next
from annotate.services.undo import judgment_undo

_NEXT_OUTPUT = inline_serializer("NextOutput", {"task": TaskOutputSerializer(allow_null=True)})


def _error(exc: ServiceError) -> Response:
    return Response({"code": exc.code, "detail": exc.message}, status=exc.status)


class ComparisonNextApi(APIView):
    """Your live lease, or a new one; ``task`` is null when nothing is left for you."""

    @extend_schema(request=None, responses=_NEXT_OUTPUT)
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_annotation(request, slug)
        lease = comparison_next_for_annotator(project=project, annotator=request.user)  # type: ignore[arg-type]
        return Response({"task": task_payload(lease)})


class JudgmentSubmitApi(APIView):
    """Submit a verdict on your live lease (in screen terms: ``a`` is the left response). Retrying is safe."""

    class InputSerializer(serializers.Serializer[dict[str, object]]):
        choice = serializers.ChoiceField(choices=Choice.choices)
        strength = serializers.ChoiceField(choices=Strength.choices, required=False, allow_blank=True, default="")
        rationale = TextField(required=False, allow_blank=True, default="", max_length=10_000)
        seconds_spent = NumberField(required=False, allow_null=True, default=None, min_value=0)

    class OutputSerializer(serializers.Serializer[dict[str, object]]):
        judgment = serializers.IntegerField()
        created = serializers.BooleanField()
        next = TaskOutputSerializer(allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OpenApiResponse(OutputSerializer, description="Already submitted: the judgment stored the first time."),
            201: OpenApiResponse(OutputSerializer, description="Stored."),
            409: OpenApiResponse(ErrorSerializer, description="The lease was already closed (expired, skipped)."),
        },
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            # It checks, in the same statement, what lease_project_for_annotator checks.
            result, upcoming = judgment_submit_and_lease_next(
                assignment_id=assignment_id, annotator=request.user, **data.validated_data  # type: ignore[arg-type]
            )
        except ServiceError as exc:
            lease_project_for_annotator(request, assignment_id)  # 404 for a lease the caller may not touch
            return _error(exc)
        return Response(
            {"judgment": result.judgment.pk, "created": result.created, "next": task_payload(upcoming)},
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class AssignmentSkipApi(APIView):
    """Give your lease back with an optional reason; returns your next task."""

    class InputSerializer(serializers.Serializer[dict[str, object]]):
        reason = TextField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: _NEXT_OUTPUT,
            409: OpenApiResponse(ErrorSerializer, description="The lease was already closed (expired, submitted)."),
        },
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        project = lease_project_for_annotator(request, assignment_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            assignment_skip(assignment_id=assignment_id, annotator=request.user, reason=data.validated_data["reason"])  # type: ignore[arg-type]
        except ServiceError as exc:
            return _error(exc)
        upcoming = comparison_next_for_annotator(project=project, annotator=request.user)  # type: ignore[arg-type]
        return Response({"task": task_payload(upcoming)})


class JudgmentUndoApi(APIView):
    """Take back the judgment submitted on your lease, for ``JUDGMENT_UNDO_SECONDS`` after it; the lease is live
    again and returned as ``task``, to judge anew."""

    class OutputSerializer(serializers.Serializer[dict[str, object]]):
        undone = serializers.IntegerField(
            help_text="The id of the judgment taken back (it no longer exists)."
        )
        task = TaskOutputSerializer()

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(
                OutputSerializer, description="Undone: the vote is uncounted, the lease live again."
            ),
            409: OpenApiResponse(
                ErrorSerializer,
                description=(
                    "Not undone; ``code`` says why: ``undo_not_submitted`` (the lease holds no judgment: live, "
                    "skipped, expired or undone already), ``undo_window_passed`` (submitted more than "
                    "JUDGMENT_UNDO_SECONDS ago), ``undo_comparison_completed`` (others have since completed "
                    "the comparison)."
                ),
            ),
        },
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        lease_project_for_annotator(request, assignment_id)  # 404 for a lease the caller may not touch
        try:
            result = judgment_undo(assignment_id=assignment_id, annotator=request.user)  # type: ignore[arg-type]
        except ServiceError as exc:
            return _error(exc)
        return Response({"undone": result.judgment_id, "task": task_payload(result.lease)})
