"""Sign-in, sign-out, the login rate limit, audited failures, and creating users (invite only)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from medes_site.models import AuditEntry
from medes_site.roles import Role, user_roles
from tests.factories import PASSWORD, Personas


def login(client: Client, username: str, password: str) -> Any:
    return client.post(reverse("login"), {"username": username, "password": password})


def test_sign_in_lands_on_the_role_home(personas: Personas) -> None:
    client = Client()
    response = login(client, "annotator", PASSWORD)
    assert response.status_code == 302
    home = client.get(response["Location"], follow=True)
    assert home.request["PATH_INFO"] == reverse("role_home", args=["annotator"])
    assert AuditEntry.objects.filter(action="auth.login", actor=personas.annotator).exists()


def test_wrong_password_shows_the_form_again_and_is_audited_without_the_password(personas: Personas) -> None:
    response = login(Client(), "annotator", "not-the-password")
    assert response.status_code == 200
    assert b'name="password"' in response.content
    entry = AuditEntry.objects.get(action="auth.login_failed")
    assert entry.details == {"username": "annotator"}
    assert entry.ip_address == "127.0.0.1"
    assert "not-the-password" not in str(entry.details)


def test_repeated_failures_lock_the_account_out_even_with_the_right_password(personas: Personas, settings: Any) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "curator", "wrong-password")
    locked = login(client, "curator", PASSWORD)
    assert locked.status_code == 429
    assert "15" in locked.content.decode()  # minutes until the pause ends
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="auth.login_failed").count() >= settings.AXES_FAILURE_LIMIT
    # Another account from the same address is not locked out.
    assert login(Client(), "reviewer", PASSWORD).status_code == 302


def test_sign_out_is_a_post_and_audited(personas: Personas, client_as: Any) -> None:
    client = client_as(personas.reviewer)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302  # back to the login page
    assert AuditEntry.objects.filter(action="auth.logout", actor=personas.reviewer).exists()


def test_signed_in_user_visiting_login_goes_home(personas: Personas, client_as: Any) -> None:
    response = client_as(personas.curator).get(reverse("login"))
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_user_without_a_role_is_told_whom_to_ask(personas: Personas, client_as: Any) -> None:
    response = client_as(personas.outsider).get(reverse("home"))
    assert response.status_code == 403
    assert "administrator" in response.content.decode() or "管理员" in response.content.decode()


def test_nav_shows_only_what_the_role_may_use(personas: Personas, client_as: Any) -> None:
    annotator = client_as(personas.annotator).get(reverse("role_home", args=["annotator"])).content.decode()
    assert 'data-nav="home-annotator"' in annotator
    assert 'data-nav="jobs"' not in annotator and 'data-nav="admin"' not in annotator
    ml = client_as(personas.ml_engineer).get(reverse("role_home", args=["ml_engineer"])).content.decode()
    assert 'data-nav="jobs"' in ml and 'data-nav="admin"' not in ml
    admin = client_as(personas.admin).get(reverse("role_home", args=["curator"])).content.decode()
    assert all(f'data-nav="home-{role.value}"' in admin for role in Role)
    assert 'data-nav="admin"' in admin


def test_create_user_command_gives_roles_and_audits(db: None) -> None:
    out = io.StringIO()
    call_command("create_user", "lihua", "--role", "annotator", "--role", "reviewer", "--random-password", stdout=out)
    user = User.objects.get(username="lihua")
    assert user_roles(user) == {Role.ANNOTATOR, Role.REVIEWER}
    password = out.getvalue().split("Password (shown once): ")[1].strip()
    assert user.check_password(password)
    assert AuditEntry.objects.filter(action="user.create", object_id=str(user.pk)).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--random-password"], "at least one --role"),
        (["demo", "--role", "janitor", "--random-password"], "invalid choice"),
    ],
)
def test_create_user_command_refuses_bad_input(db: None, args: list[str], message: str) -> None:
    with pytest.raises((CommandError, SystemExit)) as error:
        call_command("create_user", *args, stdout=io.StringIO(), stderr=io.StringIO())
    if isinstance(error.value, CommandError):
        assert message in str(error.value)
    assert not User.objects.filter(username__in=["nobody", "demo"]).exists()


def test_create_user_command_refuses_a_taken_name_and_a_weak_password(personas: Personas, monkeypatch: Any) -> None:
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", "curator", "--role", "curator", "--random-password", stdout=io.StringIO())
    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    with pytest.raises(CommandError, match="Password refused"):
        call_command("create_user", "newbie", "--role", "curator", "--password-stdin", stdout=io.StringIO())
    assert not User.objects.filter(username="newbie").exists()


def test_load_demo_creates_one_user_per_role_and_is_safe_to_repeat(db: None) -> None:
    first = io.StringIO()
    call_command("load_demo", "--no-models", stdout=first)
    assert first.getvalue().count("demo_") == 5
    users = {u.username: user_roles(u) for u in User.objects.all()}
    assert users["demo_curator"] == {Role.CURATOR}
    assert users["demo_ml"] == {Role.ML_ENGINEER}
    assert User.objects.get(username="demo_admin").is_superuser
    line = next(line for line in first.getvalue().splitlines() if "demo_annotator" in line)
    assert User.objects.get(username="demo_annotator").check_password(line.split()[-1])

    again = io.StringIO()
    call_command("load_demo", "--no-models", stdout=again)
    assert "exists, password unchanged" in again.getvalue()
    # and the two demo experts who authored the shipped labels, who cannot sign in
    assert User.objects.count() == 7
    assert [u.has_usable_password() for u in User.objects.filter(username__startswith="demo_expert")] == [False] * 2
