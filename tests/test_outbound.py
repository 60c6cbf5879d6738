"""Outbound requests (medes_site.outbound, issue 13 item 1): which hosts and addresses a registered endpoint may
point the workers at, checked after DNS and connected to as checked; redirects never followed; failures that say
nothing the remote side sent, nor which ports answer; key variables only from the administrator's list, never the
app's own secrets; and the settings that hold these rules stop start-up when they are malformed."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import translation

from medes_site import outbound
from medes_site.outbound import HostRefusedError, HTTPStatusError, Policy, UnreachableError
from tests.conftest import manage
from tests.fake_endpoint import FakeEndpoint

BODY = b'{"model": "m", "messages": []}'
HEADERS = {"Content-Type": "application/json"}
LOCAL = Policy(hosts=("127.0.0.1",))  # the test servers run on this machine: allowed by name, for these tests

NOT_PUBLIC = [
    "http://10.0.0.1/v1",
    "http://172.16.5.4:8000/v1",
    "http://192.168.1.1/v1",
    "http://127.0.0.1:6379/",
    "http://127.1.2.3/",
    "http://0.0.0.0:8000/v1",
    "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://[::1]:8000/v1",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around 169.254.169.254
    "http://2130706433/",  # 127.0.0.1 written as one number: the resolver reads it so
    "http://0x7f.1/",
    "http://127.0.0.1.:8000/",  # a trailing dot
]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], list[str]]:
    """Make names resolve to chosen addresses (a list, or a function giving one per lookup); returns the names
    looked up, in order. Other lookups (numeric hosts, localhost) go to the real resolver."""

    def install(names: dict[str, list[str] | Callable[[], list[str]]]) -> list[str]:
        real, asked = socket.getaddrinfo, []

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
            if host not in names:
                return real(host, port, *args, **kwargs)
            asked.append(str(host))
            answer = names[host]
            addresses = answer() if callable(answer) else answer
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
                if ":" in address
                else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
                for address in addresses
            ]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return asked

    return install


@pytest.fixture
def server() -> Iterator[FakeEndpoint]:
    fake = FakeEndpoint()
    yield fake
    fake.close()


# --- addresses ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_private_loopback_link_local_and_mapped_addresses_are_refused_by_default(url: str, settings: Any) -> None:
    settings.MEDES_ENDPOINT_HOSTS, settings.MEDES_ENDPOINT_ALLOW_PRIVATE = [], False
    with pytest.raises(HostRefusedError):
        outbound.check_url(url)
    with pytest.raises(HostRefusedError):  # and at request time, before any connection
        outbound.post_json(url.rstrip("/") + "/chat/completions", BODY, HEADERS, timeout=2)


def test_a_public_address_passes(settings: Any) -> None:
    settings.MEDES_ENDPOINT_HOSTS, settings.MEDES_ENDPOINT_ALLOW_PRIVATE = [], False
    outbound.check_url("https://93.184.216.34/v1")
    outbound.check_url("https://[2606:2800:220:1:248:1893:25c8:1946]/v1")


def test_the_private_switch_opens_private_and_loopback_but_never_metadata_or_link_local(settings: Any) -> None:
    settings.MEDES_ENDPOINT_HOSTS, settings.MEDES_ENDPOINT_ALLOW_PRIVATE = [], True
    for allowed in ("http://10.0.0.1/v1", "http://127.0.0.1:8000/v1", "http://[::1]/", "http://[fc00::1]/"):
        outbound.check_url(allowed)
    for refused in (
        "http://169.254.169.254/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[fe80::1]/",
    ):
        with pytest.raises(HostRefusedError):
            outbound.check_url(refused)
    settings.MEDES_ENDPOINT_HOSTS = ["169.254.0.0/16"]  # only a network the administrator names opens those
    outbound.check_url("http://169.254.169.254/")


def test_the_host_list_admits_only_its_names_wildcards_and_networks(settings: Any, dns: Any) -> None:
    settings.MEDES_ENDPOINT_HOSTS = ["llm.example.org", "*.corp.example", "203.0.113.0/24"]
    public = ["93.184.216.34"]
    dns(
        {
            "llm.example.org": public,
            "a.corp.example": public,
            "corp.example": public,
            "evil.example": public,
            "llm.example.org.evil.example": public,
            "other.example": ["203.0.113.9"],
        }
    )
    outbound.check_url("https://llm.example.org/v1")
    outbound.check_url("https://A.Corp.Example./v1")  # case and a trailing dot do not matter
    outbound.check_url("https://other.example/v1")  # not named, but every address it has is in a listed network
    outbound.check_url("https://203.0.113.7/v1")
    for refused in ("https://evil.example/v1", "https://corp.example/v1", "https://llm.example.org.evil.example/"):
        with pytest.raises(HostRefusedError):
            outbound.check_url(refused)


def test_a_name_off_a_list_of_names_is_refused_without_a_lookup(settings: Any, dns: Any) -> None:
    settings.MEDES_ENDPOINT_HOSTS = ["llm.example.org"]
    asked = dns({"evil.example": ["93.184.216.34"]})
    with pytest.raises(HostRefusedError):
        outbound.check_url("https://evil.example/v1")
    assert asked == []


def test_urls_with_credentials_other_schemes_or_control_characters_are_refused() -> None:
    for url in (
        "http://user:pass@93.184.216.34/v1",
        "http://93.184.216.34@127.0.0.1/",
        "file:///etc/passwd",
        "gopher://93.184.216.34/",
        "http://93.184.216.34/v1\r\nX-Injected: 1",
        "http:///v1",
        "http://93.184.216.34:99999/",
    ):
        with pytest.raises(HostRefusedError):
            outbound.check_url(url)


# --- DNS, and connecting to what was checked ---------------------------------------------------------------------


def test_a_name_that_resolves_to_a_private_address_is_refused_at_request_time(
    settings: Any, dns: Any, server: FakeEndpoint
) -> None:
    settings.MEDES_ENDPOINT_HOSTS, settings.MEDES_ENDPOINT_ALLOW_PRIVATE = [], False
    dns({"internal.example": ["127.0.0.1"], "mixed.example": ["93.184.216.34", "127.0.0.1"]})
    port = server.server.server_address[1]
    for host in ("internal.example", "mixed.example"):  # every address must be acceptable, not just one
        with pytest.raises(HostRefusedError):
            outbound.post_json(f"http://{host}:{port}/v1/chat/completions", BODY, HEADERS, timeout=2)
    assert server.requests == []


def test_a_name_that_does_not_resolve_at_registration_is_left_to_the_request_time_check(
    settings: Any, dns: Any
) -> None:
    settings.MEDES_ENDPOINT_HOSTS = []

    def no_such_name() -> list[str]:  # answered at once: a real lookup of a missing name may take long
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    asked = dns({"vllm.invalid": no_such_name})
    outbound.check_url("http://vllm.invalid:8000/v1")  # perhaps only the workers see it
    with translation.override("en"), pytest.raises(UnreachableError, match="cannot reach the endpoint"):
        outbound.post_json("http://vllm.invalid:8000/v1/chat/completions", BODY, HEADERS, timeout=2)
    assert asked == ["vllm.invalid", "vllm.invalid"]  # looked up at registration and again at the request


def test_the_connection_goes_to_the_address_that_was_checked_with_the_host_named(
    settings: Any, dns: Any, server: FakeEndpoint
) -> None:
    """DNS rebinding: the name answers an allowed address when it is checked and another one afterwards; the
    request still reaches the checked address (one lookup), and the Host header names the host."""
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])
    asked = dns({"llm.example.test": lambda: next(answers)})
    server.reply("答案")
    port = server.server.server_address[1]
    policy = Policy(hosts=("127.0.0.1/32",))
    reply = outbound.post_json(
        f"http://llm.example.test:{port}/v1/chat/completions", BODY, HEADERS, timeout=5, policy=policy
    )
    assert json.loads(reply)["choices"][0]["message"]["content"] == "答案"
    assert asked == ["llm.example.test"]
    assert server.requests[0]["host"] == f"llm.example.test:{port}"


def test_a_redirect_is_never_followed(server: FakeEndpoint) -> None:
    target = FakeEndpoint()  # where the redirect points: an internal host that must not be asked
    try:
        for location in ("http://169.254.169.254/latest/meta-data/", f"{target.url}/chat/completions"):
            server.reply({"moved": True}, status=302, headers={"Location": location})
            with translation.override("en"), pytest.raises(HTTPStatusError, match="HTTP 302 from the endpoint"):
                outbound.post_json(f"{server.url}/chat/completions", BODY, HEADERS, timeout=5, policy=LOCAL)
        assert target.requests == [] and len(server.requests) == 2
    finally:
        target.close()


# --- what a failure says --------------------------------------------------------------------------------------------


def test_an_error_reply_gives_its_status_and_nothing_it_said(server: FakeEndpoint) -> None:
    server.reply({"error": "SECRET-BODY postgres://admin:hunter2@db/medes"}, status=500)
    with translation.override("en"), pytest.raises(HTTPStatusError) as failed:
        outbound.post_json(f"{server.url}/chat/completions", BODY, HEADERS, timeout=5, policy=LOCAL)
    assert str(failed.value) == "HTTP 500 from the endpoint" and failed.value.transient


class _Once(socketserver.BaseRequestHandler):
    banner = b""

    def handle(self) -> None:
        if self.banner:
            self.request.sendall(self.banner)


@pytest.fixture
def tcp_server() -> Iterator[Callable[[bytes], int]]:
    """A TCP server that, to each connection, sends ``banner`` (maybe nothing) and closes it; returns its port."""
    servers: list[socketserver.TCPServer] = []

    def start(banner: bytes) -> int:
        handler = type("Handler", (_Once,), {"banner": banner})
        tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=tcp.serve_forever, daemon=True).start()
        servers.append(tcp)
        return int(tcp.server_address[1])

    yield start
    for tcp in servers:
        tcp.shutdown()
        tcp.server_close()


def test_refused_closed_and_non_http_ports_fail_with_the_same_words(tcp_server: Callable[[bytes], int]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    ports = {
        "refused": closed_port,
        "closed": tcp_server(b""),
        "ssh": tcp_server(b"SSH-2.0-OpenSSH_9.6\r\n"),
        "redis": tcp_server(b"-ERR unknown command 'POST'\r\n"),
    }
    messages = set()
    for port in ports.values():
        with translation.override("en"), pytest.raises(UnreachableError) as failed:
            outbound.post_json(f"http://127.0.0.1:{port}/v1/chat/completions", BODY, HEADERS, timeout=5, policy=LOCAL)
        messages.add(str(failed.value))
    assert messages == {"cannot reach the endpoint (no HTTP reply)"}


# --- key variables ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "MEDES_GENERATOR_API_KEY", "PATH", "VLLM_KEY", "HOME"],
)
def test_a_key_variable_off_the_allow_list_is_refused(name: str, settings: Any) -> None:
    settings.MEDES_MODEL_KEY_VARIABLES = ["MEDES_MODEL_KEY_*"]
    with translation.override("en"):
        assert "MEDES_MODEL_KEY_*" in (outbound.key_variable_refusal(name) or "")
    with pytest.raises(HostRefusedError):
        outbound.read_key(name)


def test_the_apps_own_secrets_are_refused_even_when_the_list_allows_everything(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MEDES_MODEL_KEY_VARIABLES = ["*"]
    for name in (
        "SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "MEDES_GENERATOR_API_KEY",
        "PGPASSWORD",
        "POSTGRES_PASSWORD",
        "DJANGO_SECRET_KEY",
        "MEDES_PROXY_COUNT",
        "EMAIL_HOST_PASSWORD",
    ):
        assert outbound.key_variable_refusal(name) is not None, name
    monkeypatch.setenv("OPENAI_API_KEY", "sk-allowed")
    monkeypatch.setenv("MEDES_MODEL_KEY_VLLM", "sk-vllm")
    assert (
        outbound.read_key("OPENAI_API_KEY") == "sk-allowed" and outbound.read_key("MEDES_MODEL_KEY_VLLM") == "sk-vllm"
    )
    for bad in ("A-B", "X;Y", "K=V", "SPACE NAME", "1ABC"):
        assert outbound.key_variable_refusal(bad) is not None


# --- settings ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable", "hint"),
    [
        ({"MEDES_ENDPOINT_HOSTS": "llm.example.org,not a host!"}, "MEDES_ENDPOINT_HOSTS", "not a host name"),
        ({"MEDES_ENDPOINT_HOSTS": "10.0.0.0/33"}, "MEDES_ENDPOINT_HOSTS", "not a host name"),
        ({"MEDES_ENDPOINT_ALLOW_PRIVATE": "sometimes"}, "MEDES_ENDPOINT_ALLOW_PRIVATE", "not a boolean"),
        ({"MEDES_MODEL_KEY_VARIABLES": "MEDES_MODEL_KEY_*,$(id)"}, "MEDES_MODEL_KEY_VARIABLES", "not a variable"),
        ({"MEDES_MODEL_KEY_VARIABLES": " , "}, "MEDES_MODEL_KEY_VARIABLES", "empty"),
        ({"MEDES_MODELS_ROOTS": "models"}, "MEDES_MODELS_ROOTS", "absolute path"),
    ],
)
def test_a_bad_outbound_setting_stops_start_up_naming_it(env: dict[str, str], variable: str, hint: str) -> None:
    result = manage("check", **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"Configuration error: {variable}"), result.stderr
    assert hint in result.stderr
