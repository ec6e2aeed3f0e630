"""Response.model_version: from a free-form label to the policy ModelVersion that sampled the text.

A label an import gave (the only way the old column was ever filled) moves to
``metadata["model_version"]`` first, so nothing stored is lost.
"""

import django.db.models.deletion
from django.db import migrations, models


def labels_to_metadata(apps, schema_editor):  # type: ignore[no-untyped-def]
    Response = apps.get_model("annotate", "Response")
    for response in (
        Response.objects.exclude(model_version="").only("pk", "metadata", "model_version").iterator()
    ):
        response.metadata = {**(response.metadata or {}), "model_version": response.model_version}
        response.save(update_fields=["metadata"])


class Migration(migrations.Migration):
    dependencies = [
        ("alignment", "0001_initial"),
        ("annotate", "0005_canonical_prompt_hash"),
    ]

    operations = [
        migrations.RunPython(labels_to_metadata, migrations.RunPython.noop),
        migrations.RemoveField(model_name="response", name="model_version"),
        migrations.AddField(
            model_name="response",
            name="model_version",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="responses",
                to="alignment.modelversion",
            ),
        ),
    ]
