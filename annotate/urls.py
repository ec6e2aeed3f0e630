from django.urls import path

from annotate import views, views_imports, views_quality, views_snapshots

app_name = "annotate"

urlpatterns = [
    path("", views.home, name="home"),
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
    path("<slug:slug>/imports/", views_imports.imports, name="imports"),
    path("<slug:slug>/imports/<int:job_id>/status/", views_imports.import_status, name="import-status"),
]
