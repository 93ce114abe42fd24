"""The suite refuses to run without its services instead of skipping tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_pytest(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "fulfil/tests/test_api_basics.py"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_missing_database_stops_the_run_and_says_how_to_start_it():
    result = run_pytest(DATABASE_URL="postgres://postgres@127.0.0.1:1/fulfil")
    assert result.returncode == 3
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in result.stdout + result.stderr
    assert "pg_ctlcluster" in result.stdout + result.stderr
    assert " passed" not in result.stdout and " skipped" not in result.stdout


def test_a_missing_broker_stops_the_run_and_says_how_to_start_it():
    result = run_pytest(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    assert result.returncode == 3
    assert "Redis is not reachable at 127.0.0.1:1" in result.stdout + result.stderr
    assert "redis-server" in result.stdout + result.stderr
