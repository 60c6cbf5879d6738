"""CSRF is enforced on htmx POSTs: the token travels in the header that base.html sets on <body>."""

from __future__ import annotations

import re
from typing import Any

from django.urls import reverse

from medes_site import jobs
from medes_site.models import JobStatus
from tests.factories import Personas


def test_htmx_post_without_a_token_is_refused_and_changes_nothing(personas: Personas, client_as: Any) -> None:
    job = jobs.enqueue_job("system.selfcheck", {"steps": 2}, user=personas.ml_engineer)
    client = client_as(personas.ml_engineer, enforce_csrf_checks=True)
    response = client.post(reverse("jobs:cancel", args=[job.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_htmx_post_with_the_page_token_in_the_header_succeeds(personas: Personas, client_as: Any) -> None:
    job = jobs.enqueue_job("system.selfcheck", {"steps": 2}, user=personas.ml_engineer)
    client = client_as(personas.ml_engineer, enforce_csrf_checks=True)
    page = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page)
    assert token, "base.html must put the CSRF token on <body hx-headers>"
    response = client.post(
        reverse("jobs:cancel", args=[job.pk]), headers={"HX-Request": "true", "X-CSRFToken": token.group(1)}
    )
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
