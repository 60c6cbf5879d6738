"""Outbound HTTP and the secrets it may carry: the one way the workbench calls a host someone configured
(DESIGN.md §9: a string a user chooses never becomes an outbound URL target or an environment-variable name
without an allow-list; secrets never leave the server).

    check_url(url)               at registration: http(s), no credentials in the URL, the host on
                                 MEDES_ENDPOINT_HOSTS when that is set, and every address the name resolves to
                                 now acceptable (a name that does not resolve here is checked at each request)
    post_json(url, body, …)      at each request: resolve once, refuse unless every address is acceptable, connect
                                 to that very address (the Host header and TLS's SNI name the host: no DNS-rebinding
                                 window between the check and the connection), never follow a redirect, read at
                                 most MAX_REPLY_BYTES, and fail with words that carry nothing from the remote side
    key_variable_refusal(name)   why an endpoint's key may not be read from that variable (None: it may)

Acceptable addresses: public ones. Private (RFC 1918, unique-local), loopback and shared (CGNAT) addresses are
refused unless MEDES_ENDPOINT_ALLOW_PRIVATE is on or the address lies in a network listed in
MEDES_ENDPOINT_HOSTS; link-local (169.254.169.254, the cloud metadata service, among them), unspecified,
multicast and reserved addresses only in a listed network: the switch does not open them. An IPv6 address that
carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by that IPv4 address too.

A failure shows a status ("HTTP 502 from the endpoint") or "cannot reach the endpoint", the same words whether
the connection was refused, reset, timed out or answered by something that is not HTTP (so the messages do not
map which ports are open); the details go to the server log at WARNING, never with the request's headers.

The operator's own generator (MEDES_GENERATOR_BASE_URL, set in the environment beside DATABASE_URL) is trusted
for its host: ``Policy.operator(url)``. Models registered on the site use ``Policy.from_settings()``. Requests go
straight to the checked address: an HTTP(S)_PROXY in the environment is not used (a proxy would resolve the name
again, out of our sight).
"""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import logging
import os
import re
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

MAX_REPLY_BYTES = 32 * 1024 * 1024
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddrInfo = tuple[Any, ...]  # (family, type, proto, canonname, sockaddr), as socket.getaddrinfo gives them

SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: not reachable from the internet
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# the kinds of address MEDES_ENDPOINT_ALLOW_PRIVATE opens; the others only a listed network does
OPENED_BY_SWITCH = frozenset({"private", "loopback", "shared"})

# An endpoint key comes only from a variable the administrator allowed (MEDES_MODEL_KEY_VARIABLES), and never from
# one of these, whatever that setting says: the app's own secrets and connection strings, the settings it reads
# (MEDES_*, except the model keys' own prefix), and the usual homes of other services' passwords.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
DENIED_VARIABLES = frozenset(
    {
        "SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        "REDIS_URL",
        "MEDES_GENERATOR_API_KEY",
        "DJANGO_SECRET_KEY",
        "EMAIL_HOST_PASSWORD",
    }
)
DENIED_PATTERNS = ("MEDES_*", "DJANGO_*", "CELERY_*", "PG*", "POSTGRES*", "REDIS*", "AWS_*", "*PASSWORD*")
MODEL_KEY_PREFIX = "MEDES_MODEL_KEY_"


class OutboundError(Exception):
    """A request that was refused or failed. The message is safe to show: nothing in it came from the remote side."""

    transient = False


class HostRefusedError(OutboundError):
    """The URL or its host is not allowed; nothing was sent."""


class UnreachableError(OutboundError):
    """No HTTP reply: the name did not resolve, or the connection failed, timed out or was not answered in HTTP."""

    transient = True


class HTTPStatusError(OutboundError):
    def __init__(self, status: int) -> None:
        super().__init__(_("HTTP %(status)d from the endpoint") % {"status": status})
        self.status = status
        self.transient = status == 429 or status >= 500


# --- key variables ---------------------------------------------------------------------------------------------


def key_variable_refusal(name: str) -> str | None:
    """Why an endpoint's key may not be read from the variable ``name``; None when it may."""
    allowed = list(settings.MEDES_MODEL_KEY_VARIABLES)
    if not VARIABLE_NAME.fullmatch(name):
        return _("“%(name)s” is not an environment variable's name (letters, digits and _).") % {"name": name}
    denied = name in DENIED_VARIABLES or (
        any(fnmatchcase(name, pattern) for pattern in DENIED_PATTERNS) and not name.startswith(MODEL_KEY_PREFIX)
    )
    if denied or not any(fnmatchcase(name, pattern) for pattern in allowed):
        return _(
            "An endpoint's key can only be read from a variable named like %(allowed)s (an administrator sets the "
            "list in MEDES_MODEL_KEY_VARIABLES); %(name)s is not one."
        ) % {"allowed": ", ".join(allowed), "name": name}
    return None


def read_key(name: str) -> str:
    """The key in the variable ``name`` ("" for no variable); OutboundError if the variable is not allowed."""
    if not name:
        return ""
    refusal = key_variable_refusal(name)
    if refusal is not None:
        raise HostRefusedError(refusal)
    return os.environ.get(name, "")


# --- hosts and addresses ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """Which hosts a request may go to: ``hosts`` (names, ``*.suffix``, IPs, networks; empty: any public host),
    ``allow_private`` (private and loopback addresses too), ``trusted_host`` (a host the operator configured in the
    environment: any of its addresses)."""

    hosts: tuple[str, ...] = ()
    allow_private: bool = False
    trusted_host: str = ""

    @classmethod
    def from_settings(cls) -> Policy:
        return cls(
            hosts=tuple(settings.MEDES_ENDPOINT_HOSTS), allow_private=bool(settings.MEDES_ENDPOINT_ALLOW_PRIVATE)
        )

    @classmethod
    def operator(cls, url: str) -> Policy:
        """The rules for a URL the operator set in the environment (MEDES_GENERATOR_BASE_URL): its host is trusted."""
        return dataclasses.replace(cls.from_settings(), trusted_host=(urlsplit(url).hostname or "").rstrip("."))

    def networks(self) -> list[IPNetwork]:
        found = []
        for entry in self.hosts:
            try:
                found.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
        return found

    def names_host(self, host: str) -> bool:
        for entry in self.hosts:
            if entry.startswith("*."):
                if host.endswith(entry[1:]):
                    return True
            elif host == entry:
                return True
        return False


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in found if address is not None]


def address_problem(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is ("loopback", "link-local"…); None for a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(ip):
            problem = address_problem(inner)
            if problem is not None:
                return problem
    checks = {
        "unspecified": ip.is_unspecified,
        "loopback": ip.is_loopback,
        "link-local": ip.is_link_local,
        "multicast": ip.is_multicast,
        "reserved": ip.is_reserved,
        "shared": isinstance(ip, ipaddress.IPv4Address) and ip in SHARED,
        "private": ip.is_private or not ip.is_global,
    }
    return next((name for name, hit in checks.items() if hit), None)


def _in_networks(ip: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(candidate in network for candidate in candidates for network in networks)


def _address(sockaddr: tuple[Any, ...]) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # an IPv6 scope (fe80::1%eth0) is no part of it


def _refused(host: str) -> HostRefusedError:
    return HostRefusedError(
        _(
            "The endpoint's host %(host)s is not allowed: it is not on the endpoint allow-list (MEDES_ENDPOINT_HOSTS), "
            "or it resolves to an address that is not public (private, loopback, link-local…), which an administrator "
            "must allow first."
        )
        % {"host": host}
    )


def vet_addresses(host: str, addresses: Sequence[IPAddress], policy: Policy) -> None:
    """Refuse unless the host may be called at every one of ``addresses`` (what its name resolves to)."""
    if policy.trusted_host and host == policy.trusted_host:
        return
    networks = policy.networks()
    if policy.hosts and not policy.names_host(host) and not all(_in_networks(a, networks) for a in addresses):
        logger.warning("outbound request to %s refused: not on MEDES_ENDPOINT_HOSTS", host)
        raise _refused(host)
    for address in addresses:
        if _in_networks(address, networks):
            continue
        problem = address_problem(address)
        if problem is None or (policy.allow_private and problem in OPENED_BY_SWITCH):
            continue
        logger.warning("outbound request to %s refused: it resolves to %s, a %s address", host, address, problem)
        raise _refused(host)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower case, without brackets or a trailing dot
    port: int
    path: str  # with the query

    def __str__(self) -> str:  # for the server log
        return f"{self.scheme}://{self.host}:{self.port}{self.path}"


def parse_url(url: str) -> Target:
    """The parts of an http(s) URL a request is made from; HostRefusedError for anything else."""
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise HostRefusedError(_("The URL contains spaces or control characters."))
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise HostRefusedError(_("The base URL starts with http:// or https:// and names a host."))
    if "@" in parts.netloc:
        raise HostRefusedError(_("Put no user name or password in the URL: a key is read from its key variable."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise HostRefusedError(_("The URL's port is not a number from 1 to 65535.")) from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise HostRefusedError(_("The base URL starts with http:// or https:// and names a host."))
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise HostRefusedError(_("The URL's host is not a valid host name.")) from None
    path = parts.path or "/"
    return Target(parts.scheme, host, port, f"{path}?{parts.query}" if parts.query else path)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(target: Target) -> list[AddrInfo]:
    """The TCP addresses of the target's host; Unreachable when it has none."""
    try:
        found = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as error:
        logger.warning("outbound request: %s does not resolve: %s", target.host, error)
        raise UnreachableError(_("cannot reach the endpoint (no HTTP reply)")) from None
    if not found:
        raise UnreachableError(_("cannot reach the endpoint (no HTTP reply)"))
    return list(found)


def check_url(url: str, policy: Policy | None = None) -> None:
    """At registration: refuse a URL the workers may not call. A name that does not resolve from here is left to
    the check at each request (the workers may see other names than the web server)."""
    policy = policy or Policy.from_settings()
    target = parse_url(url)
    literal = _literal(target.host)
    if literal is not None:
        vet_addresses(target.host, [literal], policy)
        return
    if policy.hosts and not policy.names_host(target.host) and not policy.networks():
        raise _refused(target.host)
    try:
        found = resolve(target)
    except UnreachableError:
        return
    vet_addresses(target.host, [_address(info[4]) for info in found], policy)


# --- requests --------------------------------------------------------------------------------------------------


def _connect(addresses: Sequence[AddrInfo], timeout: float) -> socket.socket:
    """A TCP connection to the first of the checked addresses that answers (never a new lookup)."""
    last: OSError | None = None
    for family, kind, proto, _canonical, sockaddr in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as error:
            sock.close()
            last = error
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last or OSError("no address to connect to")


class PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to addresses checked beforehand; the Host header still names the host."""

    def __init__(self, host: str, port: int, *, addresses: Sequence[AddrInfo], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses = list(addresses)

    def connect(self) -> None:
        self.sock = _connect(self.addresses, float(self.timeout or 30))


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """The same over TLS: the certificate is verified for the host name, sent as SNI."""

    def __init__(self, host: str, port: int, *, addresses: Sequence[AddrInfo], timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.addresses = list(addresses)

    def connect(self) -> None:
        sock = _connect(self.addresses, float(self.timeout or 30))
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def post_json(
    url: str, body: bytes, headers: Mapping[str, str], *, timeout: float, policy: Policy | None = None
) -> bytes:
    """POST ``body`` to ``url`` under ``policy`` (the site's rules by default) and return a 2xx reply's body.

    HostRefusedError: nothing was sent. UnreachableError: no HTTP reply. HTTPStatusError: any other status, a redirect
    included (redirects are never followed). None of their messages carries anything the remote side sent."""
    policy = policy or Policy.from_settings()
    target = parse_url(url)
    found = resolve(target)
    vet_addresses(target.host, [_address(info[4]) for info in found], policy)
    kind = PinnedHTTPSConnection if target.scheme == "https" else PinnedHTTPConnection
    connection = kind(target.host, target.port, addresses=found, timeout=timeout)
    try:
        connection.request("POST", target.path, body=body, headers=dict(headers))
        response = connection.getresponse()
        status, data = response.status, response.read(MAX_REPLY_BYTES + 1)
    except (OSError, http.client.HTTPException, ValueError) as error:  # ValueError: a malformed status line
        logger.warning("outbound POST to %s: no HTTP reply: %r", target, error)
        raise UnreachableError(_("cannot reach the endpoint (no HTTP reply)")) from None
    finally:
        connection.close()
    if len(data) > MAX_REPLY_BYTES:
        raise OutboundError(_("The endpoint's reply is larger than %(n)d MB.") % {"n": MAX_REPLY_BYTES // 2**20})
    if not 200 <= status < 300:
        logger.warning("outbound POST to %s: HTTP %s: %r", target, status, data[:500])
        raise HTTPStatusError(status)
    return data
