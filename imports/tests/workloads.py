"""Files and checks shared by the tests that import through real workers."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from imports.models import ImportJob
from imports.run import import_job_run
from products.models import Product


def big_csv(rows: int) -> bytes:
    """Multi-line quoted descriptions, SKUs repeated later in another case, one row without a SKU."""
    lines = ["name,sku,description"]
    for i in range(rows):
        sku = f"K-{i % (rows * 9 // 10)}"  # the last tenth repeats earlier SKUs
        if i % 3 == 0:
            sku = sku.lower()
        lines.append(f'Item {i},{sku},"first line\nsecond, line {i}"')
    lines.insert(rows // 2, "Broken,,no sku")
    return ("\n".join(lines) + "\n").encode()


def snapshot() -> dict:
    return {p.sku: (p.name, p.description, p.active) for p in Product.objects.all()}


def upload(api, content: bytes, *, dry_run: bool = False) -> ImportJob:
    """Upload a file through the API (a preview with `dry_run`); its job, queued."""
    data = {"file": SimpleUploadedFile("big.csv", content), "dry_run": dry_run}
    response = api.post("/api/v1/products/upload", data, format="multipart")
    assert response.status_code == 202, response.content
    return ImportJob.objects.get(pk=response.json()["job_id"])


def reference(content: bytes, tmp_path) -> tuple[dict, tuple]:
    """What an uninterrupted run of the same file produces (in-process), then a clean catalogue."""
    path = tmp_path / "reference.csv"
    path.write_bytes(content)
    job = ImportJob.objects.create(source="command", source_path=str(path), original_name="r.csv", chunk_size=500)
    job = import_job_run(job=job)
    result = snapshot(), counts(job)
    Product.objects.all().delete()
    return result


def counts(job: ImportJob) -> tuple:
    return job.total_rows, job.created_count, job.updated_count, job.error_count
