"""Output shapes shared by the alignment API views."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from rest_framework import serializers

from alignment.models import AlignmentRound, ModelVersion, TrainingRun


class VersionRefOutputSerializer(serializers.ModelSerializer[ModelVersion]):
    """A model version named from another object (a round's, a version's parent)."""

    class Meta:
        model = ModelVersion
        fields = ["id", "kind", "number", "label", "status"]


class VersionOutputSerializer(serializers.ModelSerializer[ModelVersion]):
    parent = VersionRefOutputSerializer(allow_null=True, help_text="The policy this one was trained from.")
    reward_model = VersionRefOutputSerializer(
        allow_null=True, help_text="The reward model a policy was trained against."
    )
    round = serializers.IntegerField(
        source="round.number", allow_null=True, help_text="The round that made it."
    )
    snapshot = serializers.IntegerField(
        source="snapshot.version", allow_null=True, help_text="The snapshot version it was trained on."
    )
    config = serializers.DictField()
    libraries = serializers.DictField(child=serializers.CharField())
    metrics = serializers.DictField()

    class Meta:
        model = ModelVersion
        fields = [
            "id", "kind", "number", "label", "status", "status_reason", "status_changed_at", "path", "parent",
            "round", "snapshot", "reward_model", "reference", "config", "seed", "libraries", "metrics", "created_at",
        ]  # fmt: skip


class RunOutputSerializer(serializers.ModelSerializer[TrainingRun]):
    """One training run of a step: the shared job lifecycle's fields and the library's last progress figures."""

    percent = serializers.IntegerField()
    last_event = serializers.DictField(
        help_text="Figures of the library's last progress event (loss, reward, kl …)."
    )
    error = serializers.CharField(source="error_message")

    class Meta:
        model = TrainingRun
        fields = [
            "id", "step", "status", "attempts", "max_attempts", "processed", "total", "percent", "heartbeat_at",
            "last_event", "error", "retry_reason", "worker", "created_at", "started_at", "finished_at",
        ]  # fmt: skip


class RoundOutputSerializer(serializers.ModelSerializer[AlignmentRound]):
    started_by = serializers.CharField(source="started_by.username", allow_null=True)
    snapshot = serializers.IntegerField(source="snapshot.version", allow_null=True)
    start_policy = VersionRefOutputSerializer(
        allow_null=True, help_text="The champion the round started from."
    )
    reward_version = VersionRefOutputSerializer(allow_null=True)
    policy_version = VersionRefOutputSerializer(allow_null=True)
    batch = serializers.CharField(help_text="The batch of the comparisons the round generated.")

    class Meta:
        model = AlignmentRound
        fields = [
            "number", "state", "trigger", "started_by", "agreed_pairs_at_start", "snapshot", "start_policy",
            "reward_version", "policy_version", "batch", "failed_step", "error", "created_at", "step_started_at",
            "finished_at",
        ]  # fmt: skip


class RoundDetailOutputSerializer(RoundOutputSerializer):
    """A round with its training runs (oldest first) and the figures of each finished step."""

    runs = RunOutputSerializer(many=True)
    metrics = serializers.DictField(
        help_text="{step state: {figure: value}}, e.g. training_reward.rm_accuracy, evaluating.rm_win_rate."
    )
    plan = serializers.DictField(help_text="The plan as it was when the round started.")

    class Meta(RoundOutputSerializer.Meta):
        fields = [*RoundOutputSerializer.Meta.fields, "metrics", "plan", "runs"]


def round_detail_payload(round_: AlignmentRound) -> dict[str, Any]:
    """The RoundDetailOutputSerializer shape of a round, its runs oldest first."""
    round_ = (
        AlignmentRound.objects.select_related(
            "started_by", "snapshot", "start_policy", "reward_version", "policy_version"
        )
        .prefetch_related(Prefetch("runs", queryset=TrainingRun.objects.order_by("created_at", "pk")))
        .get(pk=round_.pk)
    )
    return dict(RoundDetailOutputSerializer(round_).data)
