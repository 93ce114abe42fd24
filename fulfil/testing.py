"""pytest plugin (loaded with `-p fulfil.testing` from pytest.ini, before Django's settings).

It points the suite at the real services, PostgreSQL and Redis on this machine unless
DATABASE_URL and CELERY_BROKER_URL say otherwise, and stops the run at once with a message
saying how to start them when they are down: a missing service never turns into skipped tests.
Real Celery workers and `wait_until` live in fulfil/processes.py, which the benchmarks use too.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fulfil")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# Uploaded files go to a scratch folder, shared with any worker the tests start.
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="fulfil-test-media-"))
# A developer's .env must not redirect the suite to another database.
os.environ["FULFIL_ENV_FILE"] = os.devnull

HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    "   (or: docker compose up -d postgres)",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
    "   (or: docker compose up -d redis)",
}


def _reachable(url: str, default_port: int) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            return host, port, True
    except OSError:
        return host, port, False


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = []
    checks = (
        ("PostgreSQL", os.environ["DATABASE_URL"], ("postgres", "postgresql", "pgsql", "psql"), 5432),
        ("Redis", os.environ["CELERY_BROKER_URL"], ("redis", "rediss"), 6379),
    )
    for name, url, schemes, port in checks:
        if urlsplit(url).scheme not in schemes:
            continue
        host, port, ok = _reachable(url, port)
        if not ok:
            missing.append(f"  {name} is not reachable at {host}:{port}. Start it with:\n    {HOW_TO_START[name]}")
    if missing:
        pytest.exit("The test suite needs its services:\n" + "\n".join(missing), returncode=3)


# --- A recording HTTP receiver on loopback (webhook tests, browser tests) ---------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), None)

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


class Receiver:
    """Answers each request with the next queued Reply (then 200 "ok") and records it."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: deque[Reply] = deque()
        self.stopping = threading.Event()
        self.port = 0

    def reply(self, status: int = 200, body: bytes = b"ok", headers: dict | None = None, delay: float = 0.0) -> None:
        self.replies.append(Reply(status, body, tuple((headers or {}).items()), delay))

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.requests


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.requests.append(Received(self.command, self.path, dict(self.headers.items()), body))
            reply = receiver.replies.popleft() if receiver.replies else Reply()
            if reply.delay and receiver.stopping.wait(reply.delay):
                return
            try:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up (a timeout test)

        do_GET = do_PUT = do_POST

        def log_message(self, format, *args) -> None:
            pass

    return Handler


@contextlib.contextmanager
def running_receiver(host: str = "127.0.0.1") -> Iterator[Receiver]:
    """A Receiver listening on a free port of `host` until the block ends."""
    receiver = Receiver()
    server = ThreadingHTTPServer((host, 0), _handler(receiver))
    server.daemon_threads = True
    server.block_on_close = False
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stopping.set()
        server.shutdown()
        server.server_close()
