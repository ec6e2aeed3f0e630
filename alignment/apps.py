from django.apps import AppConfig


class AlignmentConfig(AppConfig):
    name = "alignment"
    verbose_name = "Alignment"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alignment.services.runs import TRAINING_RUNS
        from annotate.services.jobs import job_kind_register

        # The reaper looks after training runs like imports and exports: a stale run is requeued and
        # its step's task sent again (alignment.services.runs._training_run_send).
        job_kind_register(TRAINING_RUNS)
