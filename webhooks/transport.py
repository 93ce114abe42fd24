"""Outbound HTTP for webhooks. The only module in FulFil that makes HTTP requests.

Every request has one deadline for the whole attempt (connect, TLS, request, headers, body: a
receiver that trickles its answer a byte at a time is cut off when it passes), follows no
redirects, reads at most 16 KB of the answer, ignores proxy settings from the environment, and
goes through an SSRF guard: the host is resolved when the connection is opened (on every
attempt) and every address it resolves to is checked before any packet is sent; the socket then
connects to those vetted addresses only, so a DNS answer that changes between the check and the
connect (rebinding) cannot slip through. Cloud metadata services are refused by name and address
whatever WEBHOOK_ALLOW_PRIVATE_NETWORKS says.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

MAX_RESPONSE_BYTES = 16 * 1024
CONNECT_TIMEOUT = 5.0

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Cloud metadata and instance services, refused even where private networks are allowed. Most
# live at link-local 169.254.169.254 (refused as link-local anyway); these are not all link-local.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, IBM
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS VPC DNS
        "169.254.169.123",  # AWS time sync
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud (in shared 100.64/10)
        "192.0.0.192",  # Oracle Cloud (classic)
        "fd00:ec2::254",  # AWS IMDS over IPv6 (in private fc00::/7)
        "fd00:ec2::253",  # AWS VPC DNS over IPv6
        "fd00:ec2::123",  # AWS time sync over IPv6
        "fd20:ce::254",  # GCP metadata over IPv6
    )
)
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# What an HTTP/1.1 header can carry (RFC 9110 5.1 and 5.5), for fullmatch: a name is a token; a
# value is visible ASCII, with spaces or tabs only between characters. The validators check saved
# headers against these; post() names the culprit when a header saved before then cannot be sent.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x21-\x7e \t]*[\x21-\x7e])?)?")


class DestinationRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def refusal_reason(address: str, *, allow_private: bool) -> str | None:
    """Why webhooks may not connect to this IP address, or None when they may.

    With allow_private, loopback, private (RFC 1918, fc00::/7) and shared (carrier-grade NAT)
    addresses are allowed for self-hosted receivers; link-local (cloud metadata at
    169.254.169.254), multicast, unspecified and reserved addresses never are.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip in METADATA_ADDRESSES and not ip.is_link_local:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal_reason(str(embedded), allow_private=allow_private)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        kind = "a loopback address"
    elif ip in _SHARED:
        kind = "a shared (carrier-grade NAT) address"
    elif any(ip in network for network in _PRIVATE):
        kind = "a private address"
    elif ip.is_reserved or ip.is_private or not ip.is_global or getattr(ip, "is_site_local", False):
        return "a reserved address"
    else:
        return None
    return None if allow_private else f"{kind} (allowed only with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true)"


def host_refusal_reason(host: str) -> str | None:
    """Why webhooks may not call this host name whatever it resolves to, or None."""
    name = host.strip("[]").rstrip(".").lower()
    if name in METADATA_HOSTS:
        return "a cloud metadata service"
    return None


class _Deadline:
    """One attempt's wall-clock deadline. When it passes, the sockets it watches are shut down,
    which ends whatever read or write blocks on them (the timeouts of a socket bound each call,
    not the attempt: a byte a second keeps every call short)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> _Deadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _current.deadline = None


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected yet, or closed already
        sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()  # the deadline of the attempt this thread is making


class _GuardedConnection(HTTPConnection):
    """urllib3's HTTPConnection, resolving and vetting every address before connecting."""

    allow_private = False

    def _new_conn(self) -> socket.socket:
        """Connect to the first vetted address that answers; refuse if any address is refused."""
        host = self._dns_host.strip("[]")
        reason = host_refusal_reason(host)
        if reason:
            raise DestinationRefused(f"Refused: {host} is {reason}.")
        deadline: _Deadline | None = getattr(_current, "deadline", None)
        try:
            infos = socket.getaddrinfo(host, self.port, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        for *_, sockaddr in infos:
            reason = refusal_reason(str(sockaddr[0]), allow_private=self.allow_private)
            if reason:
                shown = host if host == sockaddr[0] else f"{host} resolves to {sockaddr[0]}, which"
                raise DestinationRefused(f"Refused: {shown} is {reason}.")
        error: OSError | None = None
        for family, socktype, proto, _, sockaddr in infos:
            sock = socket.socket(family, socktype, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                timeout = self.timeout
                if deadline is not None:
                    timeout = min(timeout, deadline.remaining()) if isinstance(timeout, float | int) else timeout
                    deadline.watch(sock)
                sock.settimeout(timeout)
                sock.connect(sockaddr)
                return sock
            except TimeoutError as exc:
                sock.close()
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
            except OSError as exc:
                sock.close()
                error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error


@functools.cache
def _adapter_class(allow_private: bool) -> type[HTTPAdapter]:
    attrs = {"allow_private": allow_private}
    http_conn = type("GuardedHTTPConnection", (_GuardedConnection,), attrs)
    https_conn = type("GuardedHTTPSConnection", (_GuardedConnection, HTTPSConnection), attrs)
    http_pool = type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn})
    https_pool = type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    return GuardedAdapter


@dataclass(frozen=True)
class HttpResult:
    """What came of one POST. `error` is empty when a response arrived, whatever its status."""

    status_code: int | None = None
    body: str = ""
    elapsed_ms: int = 0
    error: str = ""
    retry_after: str | None = None
    location: str | None = None
    # "response", "timeout", "connection" (could not connect or the connection broke), "refused",
    # "invalid" (the request could not be built, e.g. a header HTTP cannot carry; nothing was sent).
    outcome: str = "response"


def _read_capped(response: requests.Response, deadline: float) -> str:
    chunks, size = [], 0
    while size < MAX_RESPONSE_BYTES and time.monotonic() < deadline:
        try:
            chunk = response.raw.read(MAX_RESPONSE_BYTES - size, decode_content=True)
        except (HTTPError, OSError):
            break  # the status arrived; keep what came of the body
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    # PostgreSQL text cannot hold NUL.
    return b"".join(chunks).decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool) -> HttpResult:
    """POST body to url once: no redirects, no retries, the answer's first 16 KB, all within
    `timeout` seconds from start to end (see _Deadline)."""
    started = time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    def timed_out() -> HttpResult:
        return HttpResult(elapsed_ms=elapsed(), error=f"No response within {timeout:g} s.", outcome="timeout")

    with requests.Session() as session, _Deadline(timeout) as deadline:
        session.trust_env = False  # a proxy from the environment would bypass the guard
        session.headers.clear()
        adapter = _adapter_class(allow_private)(max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            response = session.post(
                url,
                data=body,
                headers=headers,
                timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
                allow_redirects=False,
                stream=True,
            )
            with response:
                text = _read_capped(response, started + timeout)
        except DestinationRefused as exc:
            return HttpResult(elapsed_ms=elapsed(), error=str(exc), outcome="refused")
        except requests.ConnectTimeout:
            if deadline.expired:
                return timed_out()
            message = f"Connection timed out after {min(CONNECT_TIMEOUT, timeout):g} s."
            return HttpResult(elapsed_ms=elapsed(), error=message, outcome="timeout")
        except requests.ConnectionError as exc:
            if deadline.expired:
                return timed_out()
            return HttpResult(elapsed_ms=elapsed(), error=f"Connection failed: {_reason(exc)}", outcome="connection")
        except requests.Timeout:
            return timed_out()
        except (requests.exceptions.InvalidHeader, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            if deadline.expired:
                return timed_out()
            return HttpResult(elapsed_ms=elapsed(), error=_unsendable(headers, exc), outcome="invalid")
        except requests.RequestException as exc:
            if deadline.expired:
                return timed_out()
            return HttpResult(elapsed_ms=elapsed(), error=f"Request failed: {_reason(exc)}", outcome="connection")
    return HttpResult(
        status_code=response.status_code,
        body=text,
        elapsed_ms=elapsed(),
        retry_after=response.headers.get("Retry-After"),
        location=response.headers.get("Location"),
    )


def _unsendable(headers: dict[str, str], exc: Exception) -> str:
    """Why the request could not be built. The exception's own text may quote a header's value
    (perhaps a secret), so it is left out; the header is named instead when one is at fault."""
    for name, value in headers.items():
        if not (isinstance(name, str) and HEADER_NAME.fullmatch(name)):
            return f"Not sent: {name!r} is not a valid header name."
        if not (isinstance(value, str) and HEADER_VALUE.fullmatch(value)):
            return (
                f"Not sent: the value of header {name} is not visible ASCII (or starts or ends with a space); "
                "edit the webhook's headers."
            )
    return f"Not sent: the request could not be built ({type(exc).__name__})."


def _reason(exc: BaseException) -> str:
    """The innermost message of a requests/urllib3 exception chain, e.g. "[Errno 111] Connection refused"."""
    while True:
        inner = exc.__cause__ or getattr(exc, "reason", None)
        if inner is None and exc.args and isinstance(exc.args[0], BaseException):
            inner = exc.args[0]
        if not isinstance(inner, BaseException):
            return str(exc).replace("\x00", "")[:500]
        exc = inner
