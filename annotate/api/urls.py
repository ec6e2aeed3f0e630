from django.urls import path

from annotate.api import projects, tasks

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
    # --- import, snapshot and export endpoints are added below this line ---
]
