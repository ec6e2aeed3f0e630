from django.urls import path

from annotate import views

app_name = "annotate"

urlpatterns = [
    path("", views.home, name="home"),
    path("<slug:slug>/", views.task, name="task"),
    path("<slug:slug>/submit/", views.task_submit, name="submit"),
    path("<slug:slug>/skip/", views.task_skip, name="skip"),
    path("<slug:slug>/mine/", views.my_judgments, name="mine"),
    # --- staff pages (quality, snapshots, exports) are added below this line ---
]
