"""Seed the 14 MedES scenes and the ethical principles. Both stay editable in the admin."""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from benchmark.taxonomy import PRINCIPLES, SCENES


def seed(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    scene_model = apps.get_model("benchmark", "Scene")
    principle_model = apps.get_model("benchmark", "Principle")
    for position, (name, aliases) in enumerate(SCENES.items(), start=1):
        scene_model.objects.get_or_create(name=name, defaults={"aliases": list(aliases), "position": position})
    for key, (zh, en) in PRINCIPLES.items():
        principle_model.objects.get_or_create(key=key, defaults={"name_zh": zh, "name_en": en})


class Migration(migrations.Migration):
    dependencies = [("benchmark", "0002_taxonomy_and_scenarios")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
