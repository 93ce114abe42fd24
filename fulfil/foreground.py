"""Run commands together in the terminal's foreground until Ctrl-C: `make run`'s gunicorn and worker.

    python -m fulfil.foreground "[NAME=value ...] COMMAND ..." "COMMAND ..."

Ctrl-C stops them all and exits 0. Run straight from make, Ctrl-C would also reach make, which
then reports "*** [run] Interrupt" or "Error 1" and dies of the signal, a non-zero exit. So this
process puts itself in a process group of its own and hands that group the terminal: Ctrl-C
reaches it and its commands, which shut down as they do on Ctrl-C (gunicorn at once, the
worker after its current tasks), and make only sees a command that succeeded. The terminal goes
back to make's group before this exits. When a command stops by itself, the others are stopped
and its exit status is this one's. SIGTERM is passed on to the commands.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

GRACE_SECONDS = 30  # for the commands to stop after Ctrl-C, before they are killed


@contextlib.contextmanager
def foreground() -> Iterator[bool]:
    """Make this process (and the commands it starts) the terminal's foreground process group;
    yields whether it did (not without a terminal, or when started in the background)."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        yield False
        return
    previous = os.getpgrp()
    try:
        if os.tcgetpgrp(tty) != previous:  # in the background (make run &): leave the terminal be
            yield False
            return
        os.setpgid(0, 0)
        _set_terminal_group(tty, os.getpgrp())
        try:
            yield True
        finally:
            _set_terminal_group(tty, previous)
    finally:
        os.close(tty)


def _set_terminal_group(tty: int, group: int) -> None:
    # A process outside the foreground group that changes it gets SIGTTOU, which would stop it.
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(OSError):  # the group is gone: the shell takes the terminal back
            os.tcsetpgrp(tty, group)
    finally:
        signal.signal(signal.SIGTTOU, old)


def command_line(text: str) -> tuple[list[str], dict[str, str]]:
    """A simple command line as a shell reads it: (its words, the NAME=value words before them)."""
    words, env = shlex.split(text), {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return words, env


def run(commands: list[str]) -> int:
    """Start the commands, wait until one stops or we are told to, stop the rest; the exit status."""
    asked: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: asked.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, frame: asked.append(signum))
    with foreground() as terminal:
        children = []
        for text in commands:
            command, env = command_line(text)
            children.append(subprocess.Popen(command, env={**os.environ, **env}))  # noqa: S603 - the caller's
        while not asked and not (stopped := [child for child in children if child.poll() is not None]):
            time.sleep(0.2)
        # Ctrl-C on the terminal reached every command already; anything else is passed on.
        if not (terminal and asked == [signal.SIGINT]):
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for child in children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return 0 if asked else stopped[0].returncode


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(run(sys.argv[1:]))
