"""Forms of the rounds pages: the alignment plan, and the reason a version is rejected (the API has its serializers)."""

from __future__ import annotations

from typing import Any

from django import forms

from alignment.models import AlignmentPlan
from alignment.services.plans import PlanInvalid

JSON_FIELDS = ("reward_config", "policy_config", "generate_config", "snapshot_filters")


class PlanForm(forms.ModelForm):
    """Field types and the model's own validators only: ``plan_update`` checks the configs key by key."""

    class Meta:
        model = AlignmentPlan
        fields = [
            "enabled",
            "base_policy",
            "reference_model",
            "reward_base",
            "algorithm",
            "reward_config",
            "policy_config",
            "generate_config",
            "snapshot_filters",
            "min_new_pairs",
            "min_agreement",
            "cooldown_minutes",
            "schedule",
            "prompts_per_round",
            "candidates_per_prompt",
            "heldout_share",
            "eval_prompts",
            "comparison_priority",
            "kl_budget",
            "min_win_rate_low",
        ]
        widgets = {name: forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}) for name in JSON_FIELDS}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The error plan_update raised, with the config key it names (shown beside that field).
        self.plan_error: dict[str, str] | None = None
        for name in JSON_FIELDS:
            # An empty box means "no keys" rather than a missing value.
            self.fields[name].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in JSON_FIELDS:
            if name in cleaned and cleaned[name] is None:
                cleaned[name] = {}
        return cleaned

    def plan_fields(self) -> dict[str, Any]:
        """The cleaned values, as ``plan_update`` takes them."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.cleaned_data}

    def add_plan_error(self, error: PlanInvalid) -> None:
        """Show the service's refusal on the field it names, with the config key inside it."""
        self.plan_error = error.as_dict()
        field = error.field if error.field in self.fields else None
        message = f"{error.key}: {error}" if error.key and error.key not in str(error) else str(error)
        self.add_error(field, message)


class VersionRejectForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Why this version should not be used.")
