"""Forms of the site's own project and account pages (the API has its serializers)."""

from __future__ import annotations

from django import forms

from annotate.models import Project, Role


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
