"""On PostgreSQL the database itself refuses UPDATE and DELETE on the audit table, so the trail stays
append-only even for code (or a person with psql) that bypasses the model."""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

FORWARD = """
CREATE OR REPLACE FUNCTION medes_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER medes_audit_append_only
  BEFORE UPDATE OR DELETE ON medes_site_auditentry
  FOR EACH ROW EXECUTE FUNCTION medes_audit_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS medes_audit_append_only ON medes_site_auditentry;
DROP FUNCTION IF EXISTS medes_audit_append_only();
"""


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("medes_site", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
