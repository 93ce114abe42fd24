from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fulfil.processes import S3Server
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


@pytest.fixture(scope="session")
def s3_server():
    """An S3 API server on loopback (moto, a process of its own), for the whole run once started."""
    server = S3Server()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@dataclass
class ObjectStorage:
    bucket: str
    client: Any  # boto3's S3 client, to look in the bucket
    aws: dict[str, str]  # the settings (environment) that point a process at the bucket

    def keys(self) -> list[str]:
        return [item["Key"] for item in self.client.list_objects_v2(Bucket=self.bucket).get("Contents", [])]

    def worker_env(self, home: Path) -> dict[str, str]:
        """The environment of a worker on another host: the bucket, and a MEDIA_ROOT and a work
        folder of its own (home/media, home/work) that nothing else uses."""
        for folder in ("media", "work"):
            (home / folder).mkdir(parents=True, exist_ok=True)
        return {**self.aws, "MEDIA_ROOT": str(home / "media"), "IMPORT_WORK_DIR": str(home / "work")}


@pytest.fixture
def object_storage(s3_server, settings, tmp_path) -> ObjectStorage:
    """Uploads go to a fresh bucket on the S3 server: this process's through `settings`, workers'
    through `worker_env()`. This process gets a MEDIA_ROOT of its own too (tmp_path/web/media),
    so a path on the local disk cannot be used by accident."""
    import boto3

    bucket = f"fulfil-test-{uuid.uuid4().hex[:12]}"
    aws = {
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": "fulfil-test",
        "AWS_SECRET_ACCESS_KEY": "fulfil-test-secret",
        "AWS_S3_REGION_NAME": "us-east-1",
    }
    client = boto3.client(
        "s3",
        endpoint_url=aws["AWS_S3_ENDPOINT_URL"],
        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
        region_name=aws["AWS_S3_REGION_NAME"],
    )
    client.create_bucket(Bucket=bucket)
    storage = ObjectStorage(bucket, client, aws)
    web = storage.worker_env(tmp_path / "web")
    for name, value in {**aws, "AWS_S3_ADDRESSING_STYLE": "path"}.items():
        setattr(settings, name, value)
    settings.MEDIA_ROOT, settings.IMPORT_WORK_DIR = Path(web["MEDIA_ROOT"]), Path(web["IMPORT_WORK_DIR"])
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
    return storage
