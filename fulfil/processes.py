"""Processes the tests and the benchmarks start and wait for: real Celery workers, gunicorn, an
S3 API server.

Nothing happens at import and nothing here needs pytest, so the benchmarks use it as the test
suite does (fulfil/testing.py, the pytest plugin, sets up the environment when imported).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from celery import Celery

ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")


class ChildProcess:
    """A command run from the project root in a process group of its own (its children stop with
    it), with the caller's environment plus `env`, output to `log` (a temporary file if not given)."""

    def __init__(
        self, command: Sequence[str], *, env: Mapping[str, str] | None = None, log: Path | None = None
    ) -> None:
        self.own_log = log is None
        if log is None:
            with tempfile.NamedTemporaryFile(prefix="fulfil-process-", suffix=".log", delete=False) as f:
                log = Path(f.name)
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own command line
                command,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def output(self) -> str:
        """The end of the log."""
        return self.log.read_text(errors="replace")[-4000:]

    def children(self) -> list[int]:
        """Its live child processes (not those that died and wait to be reaped)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
        return pids

    def peak_rss_mb(self) -> float:
        """The most memory the process (not its children) has held so far: VmHWM, read while it runs."""
        return peak_rss_mb(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL the whole group, children included: nothing gets to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the group and wait, then SIGKILL it; a temporary log goes too."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.own_log:
            self.log.unlink(missing_ok=True)


class CeleryWorker(ChildProcess):
    """A real Celery worker (`celery -A fulfil worker`) on the database and broker its environment
    names, listening on `queues`, named `<name>-<random>@<host>` (in `.name`); `.broker_url` is the
    broker `env` gives it, if any (else the caller's)."""

    def __init__(
        self,
        queues: str,
        *,
        pool: str = "prefork",
        concurrency: int = 1,
        name: str = "worker",
        loglevel: str = "INFO",
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        beat: bool = False,
    ) -> None:
        self.name = f"{name}-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.broker_url = (env or {}).get("CELERY_BROKER_URL")
        command = [sys.executable, "-m", "celery", "-A", "fulfil", "worker", "--queues", queues, "--pool", pool]
        command += ["--concurrency", str(concurrency), "--hostname", self.name, "--loglevel", loglevel]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        if beat:  # the beat schedule inside this worker, its state in a scratch file
            command += ["--beat", "--schedule", str(Path(tempfile.mkdtemp(prefix="fulfil-beat-")) / "schedule")]
        super().__init__(command, env=env, log=log)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the worker answers a ping (over its own broker), which it does once it consumes
        its queues, at any log level."""
        with celery_app_on(self.broker_url) as app:

            def answers() -> bool:
                return bool(app.control.ping(destination=[self.name], timeout=0.25))

            wait_until(answers, timeout, f"the Celery worker {self.name} to start", self)


@contextlib.contextmanager
def celery_app_on(broker_url: str | None) -> Iterator[Celery]:
    """The project's Celery app, or one configured as it is but on another broker, to queue tasks
    for and ping a worker there (control commands publish through their app's own producer pool,
    whatever connection they are given)."""
    from fulfil.celery import app

    if broker_url is None or broker_url == app.conf.broker_write_url:
        yield app
        return
    other = Celery(app.main, set_as_current=False)
    other.config_from_object("django.conf:settings", namespace="CELERY")
    # Not broker_url: Celery reads that from CELERY_BROKER_URL whenever it is set, as here.
    other.conf.update(broker_read_url=broker_url, broker_write_url=broker_url)
    try:
        yield other
    finally:
        other.close()


def peak_rss_mb(pid: int) -> float:
    """The most memory process `pid` has held so far, in MB: its VmHWM, read while it runs."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class S3Server(ChildProcess):
    """An S3-compatible API server on loopback, at `.endpoint_url`: moto in server mode, which keeps
    buckets in its memory and accepts any credentials."""

    def __init__(self, *, log: Path | None = None) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        super().__init__([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], log=log)

    def wait_ready(self, timeout: float = 30) -> None:
        def answers() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
            return False

        wait_until(answers, timeout, "the S3 server to listen", self)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer(ChildProcess):
    """A redis-server of the caller's own on a free port of loopback, keeping nothing on disk, that
    a test may stop (`stop()`) and start again (`start()`) on the same port: a broker outage."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._start()

    def _start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        super().__init__(command)
        wait_until(self._answers, 10, f"redis-server on port {self.port}", self)

    def start(self) -> None:
        self._start()

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class Gunicorn(ChildProcess):
    """`make run`'s web server (gunicorn with gunicorn.conf.py) on a free port of loopback."""

    def __init__(
        self, *, env: Mapping[str, str] | None = None, args: Sequence[str] = (), app: str = "fulfil.wsgi"
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), app]
        super().__init__([*command, "--bind", f"127.0.0.1:{self.port}", *args], env=env)
        wait_until(self._answers, 30, f"gunicorn on port {self.port}", self)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    worker: ChildProcess | None = None,
    *,
    interval: float = 0.05,
) -> T:
    """Poll until predicate() is truthy and return it; fail saying what did not happen on timeout,
    or as soon as `worker` (a process the wait depends on) has exited, with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker is not None and worker.exited():
            raise AssertionError(f"gave up waiting for {what}: the process exited\n{worker.output()}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f"\n{worker.output()}" if worker else ""))
