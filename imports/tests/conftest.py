from __future__ import annotations

from pathlib import Path

import pytest

from imports.models import ImportJob
from imports.run import import_job_run


@pytest.fixture
def csv_file(tmp_path):
    """Write bytes (or text, UTF-8) to a CSV file and return its path."""

    def write(content: bytes | str, name: str = "products.csv") -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return write


@pytest.fixture
def run_import(db, csv_file):
    """Import content through the service as import_csv does; returns the finished job."""

    def run(content: bytes | str, *, chunk_size: int = 0, **job_fields) -> ImportJob:
        path = csv_file(content)
        job = ImportJob.objects.create(
            source=ImportJob.Source.COMMAND, source_path=str(path), original_name=path.name,
            chunk_size=chunk_size, **job_fields,
        )  # fmt: skip
        return import_job_run(job=job)

    return run
