"""The WSGI application the fuzz test serves: FulFil as it is, except that webhooks may call
loopback addresses only and resolve no names, so whatever URLs the fuzzer makes up, nothing
leaves this machine (not even a DNS query)."""

from __future__ import annotations

import ipaddress
import socket

from fulfil.wsgi import application
from webhooks import transport

__all__ = ["application"]

_resolve = socket.getaddrinfo


def _loopback_only(address: str, *, allow_private: bool) -> str | None:
    return None if ipaddress.ip_address(address.split("%", 1)[0]).is_loopback else "not loopback (fuzz server)"


def _literals_only(host, *args, **kwargs):
    try:
        ipaddress.ip_address(str(host).strip("[]"))
    except ValueError:
        if host != "localhost":
            raise socket.gaierror(socket.EAI_NONAME, "names are not resolved on the fuzz server") from None
    return _resolve(host, *args, **kwargs)


transport.refusal_reason = _loopback_only
socket.getaddrinfo = _literals_only
