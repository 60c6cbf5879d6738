"""Seed the 14 MedES scenes and the ethical principles. Both stay editable in the admin."""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from benchmark import taxonomy


def seed(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    taxonomy.seed(apps.get_model("benchmark", "Scene"), apps.get_model("benchmark", "Principle"))


class Migration(migrations.Migration):
    dependencies = [("benchmark", "0002_taxonomy_and_scenarios")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
