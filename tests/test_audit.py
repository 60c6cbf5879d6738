"""The audit trail is append-only and browsable by administrators only."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction
from django.urls import reverse

from medes_site import audit
from medes_site.models import AppendOnlyError, AuditEntry
from tests.factories import Personas


def test_an_entry_records_who_did_what_to_which_object(personas: Personas) -> None:
    entry = audit.record("user.touch", actor=personas.curator, obj=personas.annotator, details={"why": "test"})
    assert (entry.actor, entry.actor_name, entry.action) == (personas.curator, "curator", "user.touch")
    assert (entry.object_type, entry.object_id, entry.object_repr) == (
        "auth.user",
        str(personas.annotator.pk),
        "annotator",
    )
    assert entry.at is not None


def test_entries_cannot_be_changed_or_deleted_through_the_orm(personas: Personas) -> None:
    entry = audit.record("user.touch", actor=personas.curator)
    entry.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "user.touch"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database trigger exists on PostgreSQL only")
def test_postgres_refuses_raw_updates_and_deletes(personas: Personas) -> None:
    entry = audit.record("user.touch", actor=personas.curator)
    for sql in (
        "UPDATE medes_site_auditentry SET action = 'x' WHERE id = %s",
        "DELETE FROM medes_site_auditentry WHERE id = %s",
    ):
        with pytest.raises((InternalError, IntegrityError, ProgrammingError), match="append-only"):  # noqa: SIM117
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).action == "user.touch"


def test_deleting_a_user_keeps_their_entries_and_name(personas: Personas) -> None:
    entry = audit.record("user.touch", actor=personas.annotator2)
    personas.annotator2.delete()
    kept = AuditEntry.objects.get(pk=entry.pk)
    assert kept.actor_name == "annotator2"


def test_admins_browse_and_filter_the_trail_but_cannot_edit_it(personas: Personas, client_as: Any) -> None:
    audit.record("job.cancel", actor=personas.ml_engineer)
    audit.record("auth.login_failed", details={"username": "x"})
    client = client_as(personas.admin)
    listing = client.get(reverse("admin:medes_site_auditentry_changelist"), {"action": "job.cancel"})
    assert listing.status_code == 200
    html = listing.content.decode()
    results = html[html.index('id="result_list"') :].split("</table>")[0]
    assert "job.cancel" in results and "auth.login_failed" not in results
    entry = AuditEntry.objects.get(action="job.cancel")
    assert client.get(reverse("admin:medes_site_auditentry_add")).status_code == 403
    assert (
        client.post(reverse("admin:medes_site_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    detail = client.get(reverse("admin:medes_site_auditentry_change", args=[entry.pk]))
    assert detail.status_code == 200 and 'type="submit" value="Save"' not in detail.content.decode()
