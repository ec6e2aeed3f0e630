from django.apps import AppConfig


class AnnotateConfig(AppConfig):
    name = "annotate"
    verbose_name = "Annotation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from annotate import checks  # noqa: F401  (registers the system checks)
        from annotate.services.exports import EXPORT_JOBS
        from annotate.services.imports import IMPORT_JOBS
        from annotate.services.jobs import job_kind_register

        # The reaper looks after every registered kind; alignment registers its training runs.
        job_kind_register(IMPORT_JOBS)
        job_kind_register(EXPORT_JOBS)
