"""`make run`'s web server (gunicorn.conf.py: threaded workers) is not pinned by a slow upload."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests
from rest_framework.authtoken.models import Token

from fulfil.processes import Gunicorn

UPLOAD_BYTES = 12 * 1024 * 1024
RATE = 2 * 1024 * 1024  # bytes a second
CHUNK = 64 * 1024


def multipart(boundary: str) -> tuple[bytes, bytes, int]:
    """The parts around a CSV of UPLOAD_BYTES: head, tail, and the rows' line."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.csv"\r\n'
        "Content-Type: text/csv\r\n\r\nsku,name\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, UPLOAD_BYTES - len(head) - len(tail)


def slow_upload(port: int, token: str, outcome: dict) -> None:
    boundary = "fulfil-slow-upload"
    head, tail, rows_size = multipart(boundary)
    row = b"SLOW-%08d,a product sent slowly\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    request = (
        "POST /api/v1/products/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Token {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {UPLOAD_BYTES}\r\nConnection: close\r\n\r\n"
    ).encode()
    started = time.monotonic()
    sock.sendall(request + head)
    sent, number, buffer = 0, 0, bytearray()
    while sent < rows_size:
        while len(buffer) < CHUNK:
            buffer += row % number
            number += 1
        piece = bytes(buffer[: min(CHUNK, rows_size - sent)])
        del buffer[: len(piece)]
        if sent + len(piece) == rows_size and not piece.endswith(b"\n"):
            piece = piece[:-1] + b"\n"
        sock.sendall(piece)
        sent += len(piece)
        time.sleep(max(0.0, started + sent / RATE - time.monotonic()))  # hold the rate
    sock.sendall(tail)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    outcome["status"] = answer.split(b" ", 2)[1].decode()
    outcome["seconds"] = time.monotonic() - started


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_slow_upload_holds_one_thread_while_other_requests_keep_answering(admin_user, services_env):
    token = Token.objects.create(user=admin_user).key
    web = Gunicorn(env=services_env, args=["--workers", "1"])  # one process: a sync worker would be pinned
    try:
        outcome: dict = {}
        uploader = threading.Thread(target=slow_upload, args=(web.port, token, outcome))
        latencies = []
        with requests.Session() as other:
            other.headers["Authorization"] = f"Token {token}"
            assert other.get(f"{web.url}/api/v1/products", timeout=10).status_code == 200  # warm: connections, caches
            uploader.start()
            time.sleep(0.5)
            while uploader.is_alive():
                started = time.monotonic()
                assert other.get(f"{web.url}/api/v1/products", timeout=5).status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.1)
        uploader.join()
        assert outcome["status"] == "202", web.output()
        assert outcome["seconds"] >= UPLOAD_BYTES / RATE * 0.9  # it really was slow
        assert len(latencies) > 20 and max(latencies) < 1.0, latencies
    finally:
        web.stop()
