"""Fixtures for webhook tests: a real HTTP receiver on loopback that records what it gets and
answers as told, eager Celery, and independent signature verifiers (plain hmac, not signing.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webhooks import services


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


@pytest.fixture
def receiver():
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
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


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    """Tests' receivers live on loopback; retries come due at once."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOK_RETRY_BACKOFF_MAX = 0
    settings.WEBHOOK_REQUIRE_HTTPS = False
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 10
    return settings


@pytest.fixture
def make_webhook(db, receiver):
    def make(**values):
        values.setdefault("url", receiver.url())
        values.setdefault("events", ["product.created", "product.updated", "product.deleted"])
        return services.webhook_create(**values)

    return make


# --- An independent verifier, written from the two specs -------------------------------


def legacy_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


def standard_signature_ok(secret: str, received: Received, *, tolerance: int = 300) -> bool:
    msg_id, timestamp = received.header("webhook-id"), received.header("webhook-timestamp")
    signatures = received.header("webhook-signature")
    if not (msg_id and timestamp and signatures) or abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + received.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures.split(" "))


@pytest.fixture
def emit(eager_celery, django_capture_on_commit_callbacks):
    """Emit an event and run what it queues, as a committed transaction would, in this process."""
    from webhooks.events import event_emit

    def emit(event: str = "product.created", data: dict | None = None) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            event_emit(event=event, data=data if data is not None else {"id": "p-1", "sku": "SKU-1"})

    return emit
