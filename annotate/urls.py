from django.urls import path

from annotate import views, views_imports, views_projects, views_quality, views_snapshots

app_name = "annotate"

urlpatterns = [
    path("", views.home, name="home"),
    # Two segments, so no project slug can hide it (there is no <slug>/new/ page).
    path("projects/new/", views_projects.project_new, name="project-create"),
    path("<slug:slug>/", views.task, name="task"),
    path("<slug:slug>/submit/", views.task_submit, name="submit"),
    path("<slug:slug>/skip/", views.task_skip, name="skip"),
    path("<slug:slug>/mine/", views.my_judgments, name="mine"),
    path("<slug:slug>/assignments/<int:assignment_id>/undo/", views.task_undo, name="undo"),
    # --- staff pages (quality, snapshots, exports) are added below this line ---
    path("<slug:slug>/quality/", views_quality.quality, name="quality"),
    path("<slug:slug>/snapshots/", views_snapshots.snapshots, name="snapshots"),
    path("<slug:slug>/snapshots/<int:version>/export/", views_snapshots.snapshot_export, name="snapshot-export"),
    path("<slug:slug>/exports/<int:job_id>/status/", views_snapshots.export_status, name="export-status"),
    path("<slug:slug>/exports/<int:job_id>/download/", views_snapshots.export_download, name="export-download"),
    path("<slug:slug>/members/", views_projects.members, name="members"),
    path("<slug:slug>/members/role/", views_projects.member_role, name="member-role"),
    path("<slug:slug>/members/remove/", views_projects.member_remove, name="member-remove"),
    path("<slug:slug>/imports/", views_imports.imports, name="imports"),
    path("<slug:slug>/imports/<int:job_id>/status/", views_imports.import_status, name="import-status"),
]
