from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from annotate.api import imports, projects, snapshots, tasks


@csrf_exempt  # it changes nothing; without this a POST gets the CSRF middleware's HTML 403 instead
def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """A URL under the API that names nothing (``/api/assignments/-1/submit/``): a JSON 404 like the views'."""
    return JsonResponse({"detail": "Not found."}, status=404)


app_name = "api"

urlpatterns = [
    path("projects/", projects.ProjectListApi.as_view(), name="project-list"),
    path("projects/create/", projects.ProjectCreateApi.as_view(), name="project-create"),
    path("projects/<slug:slug>/", projects.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<slug:slug>/update/", projects.ProjectUpdateApi.as_view(), name="project-update"),
    path("projects/<slug:slug>/delete/", projects.ProjectDeleteApi.as_view(), name="project-delete"),
    path("projects/<slug:slug>/comparisons/", projects.ComparisonListApi.as_view(), name="comparison-list"),
    path("projects/<slug:slug>/next/", tasks.ComparisonNextApi.as_view(), name="next"),
    path("assignments/<int:assignment_id>/submit/", tasks.JudgmentSubmitApi.as_view(), name="submit"),
    path("assignments/<int:assignment_id>/skip/", tasks.AssignmentSkipApi.as_view(), name="skip"),
    path("assignments/<int:assignment_id>/undo/", tasks.JudgmentUndoApi.as_view(), name="undo"),
    # --- import, snapshot and export endpoints are added below this line ---
    path("projects/<slug:slug>/snapshots/", snapshots.SnapshotListApi.as_view(), name="snapshot-list"),
    path("projects/<slug:slug>/snapshots/create/", snapshots.SnapshotCreateApi.as_view(), name="snapshot-create"),
    path("projects/<slug:slug>/snapshots/<int:version>/", snapshots.SnapshotDetailApi.as_view(), name="snapshot-detail"),
    path("projects/<slug:slug>/snapshots/<int:version>/exports/", snapshots.ExportCreateApi.as_view(), name="export-create"),
    path("projects/<slug:slug>/exports/<int:job_id>/", snapshots.ExportDetailApi.as_view(), name="export-detail"),
    path(
        "projects/<slug:slug>/exports/<int:job_id>/download/",
        snapshots.ExportDownloadApi.as_view(),
        name="export-download",
    ),
    path("projects/<slug:slug>/quality/", snapshots.AnnotatorQualityApi.as_view(), name="annotator-quality"),
    path("projects/<slug:slug>/imports/", imports.ImportCreateApi.as_view(), name="import-create"),
    path("imports/<int:job_id>/", imports.ImportJobDetailApi.as_view(), name="import-detail"),
    path("", include("alignment.api.urls")),  # plans, rounds and model versions
    # Last: what matched nothing above gets the API's JSON 404 rather than Django's HTML page.
    re_path(r"^(?:projects|assignments|imports)/(?P<rest>(?s:.*/)?)$", api_not_found, name="not-found"),
]
