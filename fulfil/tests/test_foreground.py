"""`make run`'s launcher (fulfil/foreground.py): Ctrl-C on the terminal ends make cleanly."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLEEPER = f"{sys.executable} -m fulfil.tests.sleeper"


def run_in_terminal(argv: list[str], *, ready: int, timeout: float = 30) -> tuple[int, str]:
    """Run argv on a terminal of its own, press Ctrl-C once "ready" has been printed `ready`
    times; (exit status, everything printed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session whose terminal is the pty, as a shell's job would have
        os.chdir(ROOT)
        os.execvp(argv[0], argv)  # noqa: S606 - the test's own command
    out, pressed, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the terminal closed: everything exited
                break
            if not data:
                break
            out += data
        if not pressed and out.count(b"ready") >= ready:
            os.write(fd, b"\x03")
            pressed = True
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_ctrl_c_stops_the_commands_and_make_exits_0_without_an_error_line(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text(f"run:\n\t@{sys.executable} -m fulfil.foreground '{SLEEPER}' '{SLEEPER}'\n")
    status, printed = run_in_terminal(["make", "-s", "-f", str(makefile), "run"], ready=2)
    assert status == 0, printed
    assert "***" not in printed and "Error" not in printed and "Traceback" not in printed


def test_a_command_that_stops_by_itself_stops_the_others_with_its_exit_status():
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "fulfil.foreground", SLEEPER, "sh -c 'exit 3'"], cwd=ROOT, timeout=30
    )
    assert result.returncode == 3 and time.monotonic() - started < 10
