"""Alignment API routes, under ``/api/projects/<slug>/``; included in the ``api`` namespace by annotate/api/urls.py."""

from django.urls import path

from alignment.api import plans, rounds, versions

_P = "projects/<slug:slug>"

urlpatterns = [
    path(f"{_P}/plan/", plans.PlanDetailApi.as_view(), name="plan-detail"),
    path(f"{_P}/plan/update/", plans.PlanUpdateApi.as_view(), name="plan-update"),
    path(f"{_P}/rounds/", rounds.RoundListApi.as_view(), name="round-list"),
    path(f"{_P}/rounds/start/", rounds.RoundStartApi.as_view(), name="round-start"),
    path(f"{_P}/rounds/<int:number>/", rounds.RoundDetailApi.as_view(), name="round-detail"),
    path(f"{_P}/rounds/<int:number>/cancel/", rounds.RoundCancelApi.as_view(), name="round-cancel"),
    path(f"{_P}/rounds/<int:number>/retry/", rounds.RoundRetryApi.as_view(), name="round-retry"),
    path(f"{_P}/versions/", versions.VersionListApi.as_view(), name="version-list"),
    path(f"{_P}/versions/<int:version_id>/", versions.VersionDetailApi.as_view(), name="version-detail"),
    path(
        f"{_P}/versions/<int:version_id>/promote/",
        versions.VersionPromoteApi.as_view(),
        name="version-promote",
    ),
    path(
        f"{_P}/versions/<int:version_id>/reject/", versions.VersionRejectApi.as_view(), name="version-reject"
    ),
]
