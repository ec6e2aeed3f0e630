from django.apps import AppConfig


class AlignmentConfig(AppConfig):
    name = "alignment"
    verbose_name = "Alignment"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from alignment.models import AlignmentPlan
        from alignment.services.plans import plan_schedule_remove
        from alignment.services.runs import TRAINING_RUNS
        from annotate.services.jobs import job_kind_register

        # A deleted plan (its project's deletion cascades to it) takes its beat task along.
        post_delete.connect(
            lambda sender, instance, **kwargs: plan_schedule_remove(plan=instance),
            sender=AlignmentPlan, weak=False, dispatch_uid="alignment.plan_schedule_remove",
        )  # fmt: skip

        # The reaper looks after training runs like imports and exports: a stale run is requeued and
        # its step's task sent again (alignment.services.runs._training_run_send).
        job_kind_register(TRAINING_RUNS)
