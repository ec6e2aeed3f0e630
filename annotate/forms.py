"""Forms of the site's own pages: projects and members, imports, snapshot filters and exports (the API has its serializers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms

from annotate import access
from annotate.aggregation.selection import SnapshotFilters
from annotate.models import (
    AggregationMethod,
    ExportFormat,
    ExportSchema,
    ImportFormat,
    ImportKind,
    Project,
    Role,
)
from annotate.options import OptionInvalid
from annotate.services.decontamination import DEFAULT_NGRAM
from annotate.services.export_files import export_options_check

T = TypeVar("T")


def _option_checked(form: forms.Form, rule: Callable[..., T], **values: Any) -> T | None:
    """``rule(**values)``, or None with the ``OptionInvalid`` it raises shown at the option it names."""
    try:
        return rule(**values)
    except OptionInvalid as exc:
        form.add_error(exc.option if exc.option in form.fields else None, exc.message)
        return None


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=80, help_text="Letters, digits, - and _; the project's address.")
    guidelines = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    overlap_target = forms.IntegerField(
        min_value=1, max_value=50, initial=3, help_text="How many annotators judge each comparison."
    )

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if Project.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"a project with the slug {slug!r} already exists")
        return slug


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="An existing user's username.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class MemberRoleForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)


class MemberRemoveForm(forms.Form):
    username = forms.CharField(max_length=150)


class ImportUploadForm(forms.Form):
    file = forms.FileField()
    kind = forms.ChoiceField(choices=ImportKind.choices)
    format = forms.ChoiceField(
        choices=[("", "From the file name"), *ImportFormat.choices], required=False, label="Format"
    )
    batch = forms.CharField(
        max_length=100, required=False, help_text="Optional label for per-batch agreement."
    )

    def job_arguments(self) -> dict[str, Any]:
        """The valid upload as ``import_job_create``'s arguments, all but the project and the uploader."""
        data = self.cleaned_data
        return {
            "uploaded_file": data["file"],
            "kind": data["kind"],
            "fmt": data["format"] or None,
            "batch": data["batch"],
        }


class AdminImportUploadForm(ImportUploadForm):
    """The admin's upload: the same file, for a project the user administers."""

    project = forms.ModelChoiceField(queryset=Project.objects.none())
    field_order = ["project", "file", "kind", "format", "batch"]

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = access.projects_administered_by(user)  # type: ignore[attr-defined]


class SnapshotFilterForm(forms.Form):
    method = forms.ChoiceField(choices=AggregationMethod.choices, initial=AggregationMethod.MAJORITY)
    min_votes = forms.IntegerField(min_value=1, max_value=100, initial=SnapshotFilters.min_votes)
    min_agreement = forms.FloatField(min_value=0, max_value=1, initial=SnapshotFilters.min_agreement)
    min_posterior = forms.FloatField(min_value=0, max_value=1, initial=SnapshotFilters.min_posterior)
    drop_ties = forms.BooleanField(required=False, initial=True, label="Ignore tie and both-bad votes")
    drop_flagged = forms.BooleanField(required=False, initial=True, label="Act on flagged annotators' votes")
    flagged_votes = forms.ChoiceField(
        choices=[("downweight", "Down-weight them"), ("drop", "Drop them")],
        initial=SnapshotFilters.flagged_votes,
        required=False,
        label="Flagged annotators' votes",
    )
    keep_unpaired = forms.BooleanField(
        required=False,
        initial=False,
        label="Keep both-bad and tie comparisons (for the unpaired export)",
        help_text="Needs tie and both-bad votes counted (untick “Ignore tie and both-bad votes”).",
    )

    _filters: SnapshotFilters | None = None

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        # A field that failed its own check is left to its default here, so that the rules across
        # fields are still shown beside that field's error.
        values = {name: data[name] for name in SnapshotFilterForm.base_fields if name in data}
        # A form posted before the mode existed (or without it) gets the default mode.
        values["flagged_votes"] = values.get("flagged_votes") or SnapshotFilters.flagged_votes
        self._filters = _option_checked(self, SnapshotFilters, **values)
        return data

    def filters(self) -> SnapshotFilters:
        """The valid form's filters (``SnapshotFilters`` holds the rules across fields)."""
        assert self._filters is not None and not self.errors, "filters() of a form that is not valid"
        return self._filters

    @classmethod
    def from_query(cls, data: object) -> SnapshotFilterForm:
        """Bound to the query string when it has filter fields, else to the defaults."""
        query = data if isinstance(data, dict) or hasattr(data, "getlist") else {}
        if "method" in query:  # type: ignore[operator]
            return cls(query)  # type: ignore[arg-type]
        return cls({name: field.initial for name, field in cls.base_fields.items()})


class SnapshotCreateForm(SnapshotFilterForm):
    benchmark = forms.FileField(
        required=False, help_text="Optional: drop prompts sharing an n-gram with any line."
    )
    ngram = forms.IntegerField(min_value=5, max_value=50, initial=DEFAULT_NGRAM, required=False)


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportFormat.choices)
    schema = forms.ChoiceField(choices=ExportSchema.choices)
    include_ties = forms.BooleanField(required=False, label="Ties as two desirable rows (unpaired only)")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if "format" in data and "schema" in data:
            _option_checked(self, export_options_check, fmt=data["format"], schema=data["schema"],
                            include_ties=data.get("include_ties", False))  # fmt: skip
        return data
