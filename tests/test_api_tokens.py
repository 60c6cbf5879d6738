"""REST API tokens (django-rest-knox, hashed, expiring, revocable) and the OpenAPI schema."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from knox.models import AuthToken as ApiToken

from medes_site.models import AuditEntry
from medes_site.tokens import MAX_TOKENS_PER_USER, create_token
from tests.factories import Personas


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {secret}", "HTTP_ACCEPT_LANGUAGE": "en"}


def refused(response: Any) -> bool:
    """A bad token is refused with a message naming the problem (403: the session scheme comes first)."""
    return response.status_code == 403 and "token" in response.json()["detail"].lower()


def test_a_token_reads_the_api_without_a_session_and_only_its_hash_is_stored(personas: Personas) -> None:
    token, secret = create_token(personas.reviewer, "nightly export")
    assert secret.startswith("medes_") and secret not in {token.digest, token.token_key}
    assert not ApiToken.objects.filter(digest=secret).exists()
    client = Client()  # no session
    assert client.get(reverse("api-release-list")).status_code == 403
    assert client.get(reverse("api-release-list"), **bearer(secret)).status_code == 200
    # the token carries its owner's roles, no more: a reviewer's token may not list every job
    assert client.get(reverse("api-job-list"), **bearer(secret)).json()["count"] == 0
    assert refused(client.get(reverse("api-release-list"), **bearer(secret + "x")))
    assert AuditEntry.objects.filter(action="api_token.create", actor=personas.reviewer).exists()


def test_expired_and_revoked_tokens_are_refused(personas: Personas, client_as: Any) -> None:
    old, old_secret = create_token(personas.curator, "old script")
    ApiToken.objects.filter(pk=old.pk).update(expiry=timezone.now() - timedelta(minutes=1))
    assert refused(Client().get(reverse("api-release-list"), **bearer(old_secret)))
    token, secret = create_token(personas.curator, "revoke me", days=1)
    assert token.expiry is not None and token.expiry < timezone.now() + timedelta(days=1, minutes=1)
    curator = client_as(personas.curator)
    assert curator.post(reverse("api_token_revoke", args=[token.token_key])).status_code == 302
    assert refused(Client().get(reverse("api-release-list"), **bearer(secret)))
    assert AuditEntry.objects.filter(action="api_token.revoke").count() == 1


def test_the_tokens_page_shows_a_new_token_once_and_lists_only_your_own(personas: Personas, client_as: Any) -> None:
    reviewer = client_as(personas.reviewer)
    created = reviewer.post(reverse("api_tokens"), {"name": "notebook", "days": 30})
    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    secret = created.context["secret"]
    assert secret in created.content.decode()
    assert Client().get(reverse("api-release-list"), **bearer(secret)).status_code == 200
    again = reviewer.get(reverse("api_tokens")).content.decode()
    assert "notebook" in again and secret not in again
    assert ApiToken.objects.get(user=personas.reviewer).name.name == "notebook"
    mine = ApiToken.objects.get(user=personas.reviewer)
    # someone else's token cannot be revoked, or seen
    curator = client_as(personas.curator)
    assert "notebook" not in curator.get(reverse("api_tokens")).content.decode()
    assert curator.post(reverse("api_token_revoke", args=[mine.token_key])).status_code == 404
    assert ApiToken.objects.filter(pk=mine.pk).exists()


def test_bad_token_requests_are_clear_and_change_nothing(personas: Personas, client_as: Any) -> None:
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    with translation.override("en"):
        for data in ({"name": ""}, {"name": "x", "days": 0}, {"name": "x", "days": 400}, {"name": "x" * 101}):
            response = curator.post(reverse("api_tokens"), data)
            assert response.status_code == 400 and response.context["form"].errors, data
        assert ApiToken.objects.count() == 0
        for n in range(MAX_TOKENS_PER_USER):
            create_token(personas.curator, f"t{n}")
        response = curator.post(reverse("api_tokens"), {"name": "one too many"})
        assert response.status_code == 400 and "revoke one first" in response.content.decode()
    assert ApiToken.objects.count() == MAX_TOKENS_PER_USER


def test_create_api_token_command(personas: Personas) -> None:
    out = io.StringIO()
    call_command("create_api_token", "ml", "--name", "cluster", "--days", "7", stdout=out)
    secret = out.getvalue().split()[0]
    assert Client().get(reverse("api-job-list"), **bearer(secret)).status_code == 200
    with pytest.raises(CommandError, match="No active user"):
        call_command("create_api_token", "nobody", "--name", "x", stdout=io.StringIO())
    with pytest.raises(CommandError, match="between 1 and 365"):
        call_command("create_api_token", "ml", "--name", "x", "--days", "0", stdout=io.StringIO())


def test_the_openapi_schema_is_valid_and_lists_every_api_endpoint(personas: Personas, client_as: Any) -> None:
    assert Client().get(reverse("api_schema")).status_code == 403
    response = client_as(personas.reviewer).get(reverse("api_schema"), {"format": "json"})
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in ("/api/jobs/", "/api/benchmark/scenarios/", "/api/benchmark/releases/{id}/{fmt}/"):
        assert path in schema["paths"], path
    assert set(schema["components"]["securitySchemes"]) == {"cookieAuth", "knoxApiToken"}
    # the allowlisted filters are documented
    for path, name in (("/api/benchmark/scenarios/", "status"), ("/api/benchmark/responses/", "extractable")):
        assert name in {p["name"] for p in schema["paths"][path]["get"]["parameters"]}, (path, name)
    # the command validates it and fails on any warning
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_the_api_docs_page_loads_its_assets_locally(personas: Personas, client_as: Any) -> None:
    page = client_as(personas.reviewer).get(reverse("api_docs")).content.decode()
    assert "swagger-ui" in page and "cdn" not in page.lower() and "unpkg" not in page
