from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("medes_site", "0003_api_token_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="db_retries",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="Attempts queued again automatically because the database went away while the job ran.",
                verbose_name="retries after a database outage",
            ),
        ),
    ]
