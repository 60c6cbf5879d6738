"""A targeted prompt records the failing answer it was made from (issue 14, item 7): an imported policy's
degenerate answer has no judgement, and pairs need the answer itself. Earlier original prompts take their
judgement's response."""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def from_judgements(apps: Any, schema_editor: Any) -> None:
    prompts = apps.get_model("alignment", "TargetedPrompt")
    judgements = apps.get_model("alignment", "Judgement")
    answered = judgements.objects.filter(pk=OuterRef("judgement_id")).values("response_id")[:1]
    prompts.objects.filter(origin="original", judgement__isnull=False, response__isnull=True).update(
        response_id=Subquery(answered)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("alignment", "0011_evaluation_without_judge"),
        ("benchmark", "0008_scenario_scenes"),
    ]

    operations = [
        migrations.AddField(
            model_name="targetedprompt",
            name="response",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="benchmark.response",
                verbose_name="failing answer",
            ),
        ),
        migrations.RunPython(from_judgements, migrations.RunPython.noop),
    ]
