"""The periodic clean-up removes exactly what is older than the retention periods."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from fulfil.tasks import cleanup_old_imports
from imports.models import ImportJob, ImportRowError
from products.models import ProductDeletion
from webhooks import services as webhook_services
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


def aged(model, obj, days: float):
    model.objects.filter(pk=obj.pk).update(created_at=timezone.now() - timedelta(days=days))
    return obj


def import_job(days: float, status: str = "SUCCESS") -> ImportJob:
    job = ImportJob(original_name="f.csv", status=status)
    job.file.save("f.csv", ContentFile(b"sku,name\n"), save=False)
    job.save()
    ImportRowError.objects.create(job=job, line=2, reason="x")
    return aged(ImportJob, job, days)


@pytest.fixture
def aged_records(settings):
    settings.IMPORT_RETENTION_DAYS = 30
    settings.WEBHOOK_LOG_RETENTION_DAYS = 7
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    webhook = webhook_services.webhook_create(url="http://127.0.0.1:9/hook", events=["product.created"])

    def log(days):
        entry = WebhookDelivery.objects.create(webhook=webhook, event="product.created", url=webhook.url, payload={})
        return aged(WebhookDelivery, entry, days)

    return {
        "old_imports": [import_job(31), import_job(400, "FAILURE"), import_job(45, "REVOKED")],
        "kept_imports": [import_job(29), import_job(31, "PROGRESS"), import_job(90, "PENDING")],
        "old_deletions": [aged(ProductDeletion, ProductDeletion.objects.create(status="SUCCESS"), 31)],
        "kept_deletions": [aged(ProductDeletion, ProductDeletion.objects.create(status="SUCCESS"), 1)],
        "old_logs": [log(8), log(100)],
        "kept_logs": [log(6.9), log(0)],
    }


def test_cleanup_removes_exactly_what_is_past_retention(aged_records):
    old_files = [job.file.path for job in aged_records["old_imports"]]
    kept_files = [job.file.path for job in aged_records["kept_imports"]]
    assert cleanup_old_imports() == {
        "stale_jobs_failed": 0,
        "imports": 3,
        "product_deletions": 1,
        "webhook_deliveries": 2,
        "webhook_events": 0,
    }
    assert set(ImportJob.objects.values_list("pk", flat=True)) == {j.pk for j in aged_records["kept_imports"]}
    assert ImportRowError.objects.count() == 3
    assert set(ProductDeletion.objects.values_list("pk", flat=True)) == {aged_records["kept_deletions"][0].pk}
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {e.pk for e in aged_records["kept_logs"]}
    from pathlib import Path

    assert not any(Path(p).exists() for p in old_files)
    assert all(Path(p).exists() for p in kept_files)
    assert cleanup_old_imports() == {
        "stale_jobs_failed": 0,
        "imports": 0,
        "product_deletions": 0,
        "webhook_deliveries": 0,
        "webhook_events": 0,
    }


def test_cleanup_in_batches(aged_records, monkeypatch):
    import imports.services

    real = imports.services.import_jobs_prune
    monkeypatch.setattr("fulfil.housekeeping.import_jobs_prune", lambda **kw: real(batch_size=1, **kw))
    assert cleanup_old_imports()["imports"] == 3


def test_the_command_runs_the_same_cleanup(aged_records):
    out = io.StringIO()
    call_command("cleanup", stdout=out)
    assert out.getvalue().strip() == (
        "Removed 3 imports, 1 delete-all records, 2 webhook delivery log entries and 0 webhook events."
    )


def test_beat_runs_it_hourly_on_the_default_queue(settings):
    from fulfil.celery import app

    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == cleanup_old_imports.name]
    assert entry["schedule"].minute == {15}
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "default"
