#!/usr/bin/env python3
"""A recording webhook receiver for the smoke scripts, the tests and the webhook benchmark.

As a program (the smoke scripts) it appends each request to --out as one JSON line, {"method",
"path", "headers", "body"} with the body as text, and answers 200 {"received": true}. Once
listening it writes its port to --port-file, so a script can start it on port 0 (any free port)
and wait for that file. It runs until killed.

    python3 scripts/receiver.py --out requests.jsonl --port-file port [--host 127.0.0.1] [--port 0]

Imported: `running_receiver()` serves a `Receiver` on a thread of the caller (the tests queue
replies and read what arrived); `ReceiverProcess` serves in a process of its own and only counts
requests (the benchmark). Standard library only: the smoke scripts run it with plain python3.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


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


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    trickle: float = 0.0  # seconds between the bytes of the answer (status line, headers and body)


class Receiver:
    """Answers each request with the next queued Reply (then `default`) and records it in `requests`."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.requests: list[Received] = []
        self.replies: deque[Reply] = deque()
        self.stopping = threading.Event()
        self.port = 0

    def reply(
        self,
        status: int = 200,
        body: bytes = b"ok",
        headers: dict | None = None,
        delay: float = 0.0,
        trickle: float = 0.0,
    ) -> None:
        self.replies.append(Reply(status, body, tuple((headers or {}).items()), delay, trickle))

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.requests

    def record(self, request: Received) -> None:
        """Keep the request; the program and the benchmark's receiver send it elsewhere instead."""
        self.requests.append(request)

    def answer(self, request: Received) -> Reply:
        self.record(request)
        try:
            return self.replies.popleft()
        except IndexError:
            return self.default


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reply = receiver.answer(Received(self.command, self.path, dict(self.headers.items()), body))
            if reply.delay and receiver.stopping.wait(reply.delay):
                return
            wfile = self.wfile
            if reply.trickle:
                self.wfile = _Trickle(wfile, reply.trickle, receiver.stopping)  # type: ignore[assignment]
            try:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                if reply.status != HTTPStatus.NO_CONTENT:  # a 204 has no body and may not say a length
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                self.close_connection = True  # the client gave up (a timeout test)
            finally:
                self.wfile = wfile

        do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

        def log_message(self, format, *args) -> None:
            pass  # what the receiver records is its log

    return Handler


class _Trickle:
    """A writer that sends one byte at a time, `pause` seconds apart (a receiver that trickles)."""

    def __init__(self, raw, pause: float, stopping: threading.Event) -> None:
        self.raw, self.pause, self.stopping = raw, pause, stopping

    def write(self, data: bytes) -> int:
        for index in range(len(data)):
            if self.stopping.wait(self.pause):
                raise OSError("the receiver is stopping")
            self.raw.write(data[index : index + 1])
            self.raw.flush()
        return len(data)

    def flush(self) -> None:
        self.raw.flush()


def make_server(receiver: Receiver, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server for `receiver`, bound (port 0: a free one, then in `receiver.port`) but not yet serving."""
    server = ThreadingHTTPServer((host, port), _handler(receiver))
    server.daemon_threads = True
    server.block_on_close = False
    receiver.port = server.server_address[1]
    return server


@contextlib.contextmanager
def running_receiver(host: str = "127.0.0.1") -> Iterator[Receiver]:
    """A Receiver listening on a free port of `host` until the block ends."""
    receiver = Receiver()
    server = make_server(receiver, host)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stopping.set()
        server.shutdown()
        server.server_close()


# --- The benchmark's receiver: another process, counting -------------------------------------


class CountingReceiver(Receiver):
    """Counts requests in a number other processes read (a multiprocessing.Value) and keeps none."""

    def __init__(self, count, default: Reply | None = None) -> None:
        super().__init__(default)
        self.count = count

    def record(self, request: Received) -> None:
        with self.count.get_lock():
            self.count.value += 1


def _serve_counting(host: str, default: Reply, count, port, ready) -> None:
    server = make_server(CountingReceiver(count, default), host)
    port.value = server.server_address[1]
    ready.set()
    server.serve_forever()


class ReceiverProcess:
    """A receiver in a process of its own that answers every request with `default` at once and
    counts them (`count`), so serving a load takes no CPU time (or GIL) from the caller's process."""

    def __init__(self, default: Reply | None = None, host: str = "127.0.0.1") -> None:
        context = multiprocessing.get_context("spawn")
        self._count, port, ready = context.Value("q", 0), context.Value("i", 0), context.Event()
        args = (host, default or Reply(HTTPStatus.NO_CONTENT, b""), self._count, port, ready)
        self.process = context.Process(target=_serve_counting, args=args, daemon=True)
        self.process.start()
        deadline = time.monotonic() + 30
        while not ready.wait(0.1):
            if not self.process.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the receiver process did not start listening (exit code {self.process.exitcode})")
        self.port = port.value

    @property
    def count(self) -> int:
        return self._count.value

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


# --- The program -------------------------------------------------------------------------------


class JsonLinesReceiver(Receiver):
    """Appends each request to a file as one JSON line instead of keeping it."""

    def __init__(self, out: Path) -> None:
        super().__init__(Reply(200, b'{"received": true}', (("Content-Type", "application/json"),)))
        self.out = out
        self.lock = threading.Lock()

    def record(self, request: Received) -> None:
        line = json.dumps(
            {
                "method": request.method,
                "path": request.path,
                "headers": request.headers,
                "body": request.body.decode("utf-8", errors="replace"),
            }
        )
        with self.lock, self.out.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for containers)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    parser.add_argument("--out", type=Path, required=True, help="file that gets one JSON line per request")
    parser.add_argument("--port-file", type=Path, required=True, help="file that gets the port once listening")
    args = parser.parse_args()

    receiver = JsonLinesReceiver(args.out)
    server = make_server(receiver, args.host, args.port)
    args.out.touch()
    tmp = args.port_file.with_name(args.port_file.name + ".tmp")
    tmp.write_text(f"{receiver.port}\n")
    tmp.replace(args.port_file)  # appears whole
    server.serve_forever()


if __name__ == "__main__":
    main()
