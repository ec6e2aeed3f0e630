"""The project's alignment plan: read it (with why the next round has not started) and change it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alignment.models import AlignmentPlan, PolicyAlgorithm
from alignment.selectors.rounds import plan_get
from alignment.services.plans import PlanInvalid, plan_get_or_create, plan_update
from alignment.services.rounds import round_trigger_status
from annotate.api.permissions import project_for_admin, project_for_reading
from annotate.api.serializers import FlagField, IntField, NumberField, TextField

# PostgreSQL's integer column: the schema states it, so that a larger value is not "valid" to it.
INT_MAX = 2_147_483_647


class TriggerOutputSerializer(serializers.Serializer[dict[str, Any]]):
    ready = serializers.BooleanField(help_text="Whether the threshold would start a round at the next tick.")
    reason = serializers.CharField(help_text='Why, or why not: "212 of 500 new agreed pairs".')
    new_pairs = serializers.IntegerField(help_text="Agreed pairs since the last round started.")
    needed = serializers.IntegerField()


class PlanOutputSerializer(serializers.ModelSerializer[AlignmentPlan]):
    reference = serializers.CharField(help_text="The reference model in effect (the base policy when empty).")
    reward_config = serializers.DictField()
    policy_config = serializers.DictField()
    generate_config = serializers.DictField()
    snapshot_filters = serializers.DictField()
    updated_at = serializers.DateTimeField(allow_null=True, help_text="Null until the plan is first saved.")
    next_round = serializers.SerializerMethodField(
        help_text="Whether the threshold would start the next round, and why not."
    )

    class Meta:
        model = AlignmentPlan
        # The plan's own settings (what the form and PlanUpdateApi change), then what follows from them.
        fields = [
            *(f.name for f in AlignmentPlan._meta.concrete_fields if f.editable and f.name not in ("id", "project")),
            "reference", "updated_at", "next_round",
        ]  # fmt: skip

    @extend_schema_field(TriggerOutputSerializer)
    def get_next_round(self, plan: AlignmentPlan) -> dict[str, Any]:
        return asdict(round_trigger_status(plan=plan))


class PlanErrorSerializer(serializers.Serializer[dict[str, str]]):
    """A plan value refused: the plan field, the config key inside it (empty for a plain field) and why."""

    field = serializers.CharField()
    key = serializers.CharField()
    message = serializers.CharField()

    class Meta:
        ref_name = "PlanInvalid"


class PlanDetailApi(APIView):
    """The project's alignment plan (the defaults until it is first saved) and why the next round has not started."""

    @extend_schema(responses=PlanOutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_reading(request, slug)
        # Read without creating: a GET writes nothing; an unsaved plan has the defaults.
        plan = plan_get(project=project) or AlignmentPlan(project=project)
        return Response(PlanOutputSerializer(plan).data)


class PlanUpdateApi(APIView):
    """Change the plan; the training configs are checked key by key, and nothing is saved when one is bad."""

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        enabled = FlagField(required=False)
        base_policy = TextField(required=False, max_length=500)
        reference_model = TextField(required=False, max_length=500, allow_blank=True)
        reward_base = TextField(required=False, max_length=500)
        algorithm = serializers.ChoiceField(choices=PolicyAlgorithm.choices, required=False)
        reward_config = serializers.DictField(
            required=False, help_text="Keys of the reward strategy's config."
        )
        policy_config = serializers.DictField(required=False, help_text="Keys of the algorithm's config.")
        generate_config = serializers.DictField(
            required=False, help_text="Keys of the generate strategy's config."
        )
        snapshot_filters = serializers.DictField(
            required=False, help_text="Snapshot filter names and values."
        )
        min_new_pairs = IntField(required=False, min_value=0, max_value=INT_MAX)
        min_agreement = NumberField(required=False, min_value=0.0, max_value=1.0)
        cooldown_minutes = IntField(required=False, min_value=0, max_value=INT_MAX)
        schedule = TextField(
            required=False, max_length=100, allow_blank=True, help_text="Five cron fields or blank."
        )
        prompts_per_round = IntField(required=False, min_value=1, max_value=INT_MAX)
        candidates_per_prompt = IntField(required=False, min_value=1, max_value=16)
        heldout_share = NumberField(required=False, min_value=0.0, max_value=0.5)
        eval_prompts = IntField(required=False, min_value=1, max_value=INT_MAX)
        comparison_priority = IntField(required=False, min_value=-INT_MAX - 1, max_value=INT_MAX)
        kl_budget = NumberField(required=False, min_value=0.0)
        min_win_rate_low = NumberField(required=False, min_value=0.0, max_value=1.0)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: PlanOutputSerializer,
            400: OpenApiResponse(
                PlanErrorSerializer,
                description="A config key, filter or value the plan cannot use, named by field and key.",
            ),
        },
    )
    def patch(self, request: Request, slug: str) -> Response:
        project = project_for_admin(request, slug)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            with transaction.atomic():  # a new plan is not kept when its first update is refused
                plan = plan_update(plan=plan_get_or_create(project=project), **data.validated_data)
        except PlanInvalid as exc:
            return Response(exc.as_dict(), status=status.HTTP_400_BAD_REQUEST)
        return Response(PlanOutputSerializer(plan).data)
