"""The rounds pages, under /alignment/<project slug>/ (the API has its own URLconf)."""

from django.urls import path

from alignment import views

app_name = "alignment"

urlpatterns = [
    path("<slug:slug>/rounds/", views.rounds, name="rounds"),
    path("<slug:slug>/rounds/start/", views.round_start_view, name="round-start"),
    path("<slug:slug>/rounds/<int:number>/", views.round_detail, name="round"),
    path("<slug:slug>/rounds/<int:number>/status/", views.round_status, name="round-status"),
    path("<slug:slug>/rounds/<int:number>/cancel/", views.round_cancel_view, name="round-cancel"),
    path("<slug:slug>/rounds/<int:number>/retry/", views.round_retry_view, name="round-retry"),
    path("<slug:slug>/plan/", views.plan, name="plan"),
    path("<slug:slug>/versions/compare/", views.versions_compare, name="versions-compare"),
    path("<slug:slug>/versions/<str:kind>/<int:number>/", views.version_detail, name="version"),
    path(
        "<slug:slug>/versions/<str:kind>/<int:number>/promote/",
        views.version_promote_view,
        name="version-promote",
    ),
    path(
        "<slug:slug>/versions/<str:kind>/<int:number>/reject/",
        views.version_reject_view,
        name="version-reject",
    ),
]
