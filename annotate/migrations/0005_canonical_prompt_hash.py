"""Prompt hashes of the canonical form: a plain string is one user turn.

Before this, the prompt ``"x"`` and the prompt ``[{"role": "user", "content": "x"}]`` had
different hashes, so re-importing an HH export of a pairs import made new prompts. Every
prompt's ``content_hash`` becomes the hash of its canonical turns
(``annotate.services.content.prompt_hash``, copied here as it is today so that this
migration does not change if that function does). Stored content is left as it is, and
response hashes do not change (they hash the text, which was already canonical).

Two prompts of one project may now stand for the same conversation (``"x"`` imported
before, ``[{"role": "user", "content": "x"}]`` after). Both are kept, with their responses,
comparisons and votes: the one that already has the canonical hash keeps it (else the
earliest), and the others keep their old hash, which is unique and which no new import
computes, so they stay as they are and the migration does not fail. Merging them is left
to a person; they can be found as the prompts whose hash is not ``prompt_hash(content)``.
Reversing restores the old hashes (the sha256 of the stored content's JSON).

It also adds ``hf_dataset`` to the import formats (a choices change only, no schema change).
"""

import hashlib
import json

from django.db import migrations, models

BATCH = 2000


def _hash(value):
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _canonical(content):
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if isinstance(content, list) and all(
        isinstance(t, dict) and {"role", "content"} <= t.keys() for t in content
    ):
        return [{"role": t["role"], "content": t["content"]} for t in content]
    return content


def _rehash(apps, new_hash):
    Prompt = apps.get_model("annotate", "Prompt")
    after = 0
    while True:
        batch = list(
            Prompt.objects.filter(pk__gt=after)
            .order_by("pk")
            .only("pk", "project_id", "content", "content_hash")[:BATCH]
        )
        if not batch:
            return
        after = batch[-1].pk
        changed = []
        for prompt in batch:
            wanted = new_hash(prompt.content)
            if wanted != prompt.content_hash:
                prompt.content_hash = wanted
                changed.append(prompt)
        # A hash already held in the project (by a prompt of the same conversation) stays with its holder.
        taken = set(
            Prompt.objects.filter(
                project_id__in={p.project_id for p in changed},
                content_hash__in={p.content_hash for p in changed},
            ).values_list("project_id", "content_hash")
        )
        updates = []
        for prompt in changed:
            key = (prompt.project_id, prompt.content_hash)
            if key not in taken:
                taken.add(key)
                updates.append(prompt)
        Prompt.objects.bulk_update(updates, ["content_hash"], batch_size=500)


def forwards(apps, schema_editor):
    _rehash(apps, lambda content: _hash(_canonical(content)))


def backwards(apps, schema_editor):
    _rehash(apps, _hash)


class Migration(migrations.Migration):
    dependencies = [("annotate", "0004_job_lifecycle")]

    operations = [
        migrations.RunPython(forwards, backwards),
        # A datasets folder export (or its zip) imports back.
        migrations.AlterField(
            model_name="importjob",
            name="format",
            field=models.CharField(
                choices=[
                    ("jsonl", "JSON Lines"),
                    ("json", "JSON array"),
                    ("csv", "CSV"),
                    ("parquet", "Parquet"),
                    ("hf_dataset", "datasets folder (save_to_disk), or a zip of one"),
                ],
                max_length=16,
            ),
        ),
    ]
