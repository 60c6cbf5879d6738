"""Behind a proxy the client's address is the one the proxy saw (issue 13, item 5): with ``MEDES_PROXY_COUNT = 1``
one client's failed sign-ins lock out that client only, not everyone behind the proxy, and the audit trail records
the client's address, never the proxy's, whatever the client writes into X-Forwarded-For itself."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from medes_site.audit import client_ip
from medes_site.models import AuditEntry
from tests.factories import PASSWORD, Personas

PROXY = "10.0.0.5"


def through_proxy(client_address: str, claimed: str = "") -> Client:
    """A browser at ``client_address`` behind one proxy, which appends the address it saw to X-Forwarded-For;
    ``claimed`` is what the browser itself put in the header before (a spoof)."""
    forwarded = f"{claimed}, {client_address}" if claimed else client_address
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)


def login(client: Client, username: str, password: str) -> Any:
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.fixture
def one_proxy(settings: Any) -> None:
    settings.MEDES_PROXY_COUNT = 1


def test_one_clients_failures_behind_a_proxy_lock_out_that_client_only(
    one_proxy: None, personas: Personas, settings: Any
) -> None:
    attacker = through_proxy("203.0.113.7")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(attacker, "curator", "wrong-password")
    assert login(attacker, "curator", PASSWORD).status_code == 429
    # the real curator, at another address behind the same proxy, signs in
    assert login(through_proxy("198.51.100.20"), "curator", PASSWORD).status_code == 302


def test_the_audit_trail_records_the_clients_address_not_the_proxys(one_proxy: None, personas: Personas) -> None:
    login(through_proxy("203.0.113.7"), "annotator", "wrong-password")
    login(through_proxy("198.51.100.20"), "annotator", PASSWORD)
    failed = AuditEntry.objects.get(action="auth.login_failed")
    signed_in = AuditEntry.objects.get(action="auth.login")
    assert (failed.ip_address, signed_in.ip_address) == ("203.0.113.7", "198.51.100.20")


def test_an_address_the_client_wrote_itself_is_not_believed(one_proxy: None, personas: Personas, settings: Any) -> None:
    """Rotating a spoofed X-Forwarded-For does not get around the lockout: the proxy's own entry is what counts."""
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(through_proxy("203.0.113.7", claimed=f"192.0.2.{n}"), "curator", "wrong-password")
    assert login(through_proxy("203.0.113.7", claimed="192.0.2.200"), "curator", PASSWORD).status_code == 429


@pytest.mark.parametrize(
    ("count", "remote", "forwarded", "expected"),
    [
        (0, "10.0.0.5", "203.0.113.7", "10.0.0.5"),  # no proxy configured: the header is ignored
        (1, "10.0.0.5", "203.0.113.7", "203.0.113.7"),
        (1, "10.0.0.5", "1.1.1.1, 203.0.113.7", "203.0.113.7"),  # the leftmost entry is the client's own claim
        (2, "10.0.0.6", "203.0.113.7, 10.0.0.5", "203.0.113.7"),  # two proxies
        (2, "10.0.0.6", "203.0.113.7", "10.0.0.6"),  # fewer entries than proxies: the connection's own address
        (1, "10.0.0.5", "not-an-address", "10.0.0.5"),
        (1, "10.0.0.5", "", "10.0.0.5"),
        (1, "10.0.0.5", "2001:db8::1", "2001:db8::1"),
        (1, "::ffff:10.0.0.5", "", "10.0.0.5"),  # IPv4 seen over an IPv6 socket
        (1, "10.0.0.5", "203.0.113.7:51234", "203.0.113.7"),  # a balancer that writes the client's port
        (1, "10.0.0.5", "[2001:db8::1]:51234", "2001:db8::1"),
    ],
)
def test_the_client_address_is_the_nth_forwarded_entry_from_the_right(
    settings: Any, count: int, remote: str, forwarded: str, expected: str
) -> None:
    settings.MEDES_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
