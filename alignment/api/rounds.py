"""Alignment rounds: list, detail, start, cancel and retry (reading needs Need.READ, acting Need.ADMINISTER)."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alignment.api.serializers import RoundDetailOutputSerializer, RoundOutputSerializer, round_detail_payload
from alignment.models import AlignmentRound, RoundTrigger
from alignment.selectors.rounds import round_get, round_list
from alignment.services.rounds import RoundNotStarted, RoundRefused, round_cancel, round_retry, round_start
from annotate.api.permissions import project_for_admin, project_for_reading
from annotate.api.schema import ErrorSerializer
from annotate.models import Project


def _round_or_404(project: Project, number: int) -> AlignmentRound:
    round_ = round_get(project=project, number=number)
    if round_ is None:
        raise Http404("No such round")
    return round_


def _refused(code: str, reason: str) -> Response:
    return Response({"code": code, "detail": reason}, status=status.HTTP_409_CONFLICT)


class RoundListApi(APIView):
    """A project's rounds, newest first."""

    @extend_schema(responses=RoundOutputSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_reading(request, slug)
        rounds = round_list(project=project, limit=None)
        return Response(RoundOutputSerializer(rounds, many=True).data)


class RoundDetailApi(APIView):
    """One round: its state, each step's figures, and its training runs with their progress and heartbeat."""

    @extend_schema(responses=RoundDetailOutputSerializer)
    def get(self, request: Request, slug: str, number: int) -> Response:
        project = project_for_reading(request, slug)
        return Response(round_detail_payload(_round_or_404(project, number)))


class RoundStartApi(APIView):
    """Start the project's next round by hand; its first step is queued. One round at a time per project."""

    @extend_schema(
        request=None,
        responses={
            201: OpenApiResponse(RoundDetailOutputSerializer, description="Started: the round, pending."),
            409: OpenApiResponse(
                ErrorSerializer,
                description="Not started; ``detail`` says why (``round_unfinished``: a round is unfinished).",
            ),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_admin(request, slug)
        try:
            round_ = round_start(project=project, trigger=RoundTrigger.MANUAL, user=request.user)  # type: ignore[arg-type]
        except RoundNotStarted as exc:
            return _refused("round_unfinished", exc.reason)
        return Response(round_detail_payload(round_), status=status.HTTP_201_CREATED)


def _round_act(request: Request, slug: str, number: int, act: Any, refusal: str) -> Response:
    """Cancel or retry: the service's round, or a 409 with its refusal."""
    project = project_for_admin(request, slug)
    try:
        round_ = act(round_=_round_or_404(project, number))
    except RoundRefused as exc:
        return _refused(refusal, str(exc))
    return Response(round_detail_payload(round_))


def _act_schema(refused: str) -> Any:
    return extend_schema(
        request=None,
        responses={
            200: RoundDetailOutputSerializer,
            409: OpenApiResponse(ErrorSerializer, description=refused),
        },
    )


class RoundCancelApi(APIView):
    """Cancel an unfinished round; a running step stops at its next progress event."""

    @_act_schema("The round is done or cancelled already.")
    def post(self, request: Request, slug: str, number: int) -> Response:
        return _round_act(request, slug, number, round_cancel, "round_finished")


class RoundRetryApi(APIView):
    """Run a failed round again from the step that failed; its finished steps are kept."""

    @_act_schema("Only a failed round can be retried.")
    def post(self, request: Request, slug: str, number: int) -> Response:
        return _round_act(request, slug, number, round_retry, "round_not_failed")
