"""External judges (issue 14, item 4): judgements made elsewhere and imported under a name, one per response
and judge."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alignment", "0009_pipeline_request_key_cancelled"),
    ]

    operations = [
        migrations.AlterField(
            model_name="evaluationrun",
            name="judge",
            field=models.CharField(
                choices=[("guardian", "Guardian"), ("prompt", "Prompt judge"), ("external", "External judge")],
                max_length=12,
                verbose_name="judge",
            ),
        ),
        migrations.AlterField(
            model_name="judgement",
            name="judge",
            field=models.CharField(
                choices=[("guardian", "Guardian"), ("prompt", "Prompt judge"), ("external", "External judge")],
                max_length=12,
                verbose_name="judge",
            ),
        ),
        migrations.AlterField(
            model_name="judgement",
            name="judge_model",
            field=models.CharField(
                blank=True,
                help_text="For the prompt judge: the endpoint's model; for an external judge: its name.",
                max_length=255,
                verbose_name="judge model",
            ),
        ),
        migrations.AddConstraint(
            model_name="judgement",
            constraint=models.UniqueConstraint(
                condition=models.Q(("judge", "external")),
                fields=("response", "judge_model"),
                name="one_external_judgement_per_judge",
            ),
        ),
        migrations.AddConstraint(
            model_name="judgement",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("judge", "external"), _negated=True),
                    models.Q(models.Q(("judge_model", ""), _negated=True), ("version__isnull", True)),
                    _connector="OR",
                ),
                name="external_judgement_is_named",
            ),
        ),
    ]
