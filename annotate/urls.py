from django.urls import path

from annotate.views import imports, projects, quality, snapshots, tasks

app_name = "annotate"

urlpatterns = [
    path("", tasks.home, name="home"),
    # Two segments, so no project slug can hide it (there is no <slug>/new/ page).
    path("projects/new/", projects.project_new, name="project-create"),
    path("<slug:slug>/", tasks.task, name="task"),
    path("<slug:slug>/submit/", tasks.task_submit, name="submit"),
    path("<slug:slug>/skip/", tasks.task_skip, name="skip"),
    path("<slug:slug>/mine/", tasks.my_judgments, name="mine"),
    path("<slug:slug>/assignments/<int:assignment_id>/undo/", tasks.task_undo, name="undo"),
    # --- staff pages (quality, snapshots, exports) are added below this line ---
    path("<slug:slug>/quality/", quality.quality, name="quality"),
    path("<slug:slug>/snapshots/", snapshots.snapshots, name="snapshots"),
    path("<slug:slug>/snapshots/<int:version>/export/", snapshots.snapshot_export, name="snapshot-export"),
    path("<slug:slug>/exports/<int:job_id>/status/", snapshots.export_status, name="export-status"),
    path("<slug:slug>/exports/<int:job_id>/download/", snapshots.export_download, name="export-download"),
    path("<slug:slug>/members/", projects.members, name="members"),
    path("<slug:slug>/members/role/", projects.member_role, name="member-role"),
    path("<slug:slug>/members/remove/", projects.member_remove, name="member-remove"),
    path("<slug:slug>/imports/", imports.imports, name="imports"),
    path("<slug:slug>/imports/<int:job_id>/status/", imports.import_status, name="import-status"),
]
