from __future__ import annotations

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from imports.models import ImportJob
from products import services as product_services
from products.models import Product

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("import_csv", *map(str, args), stdout=out)
    return out.getvalue()


@pytest.mark.quickstart
def test_imports_in_process_records_a_job_and_prints_a_summary(csv_file):
    path = csv_file("sku,name\nA,a\nB,b\n,missing\n")
    output = run(path)
    assert "Imported 3 rows from products.csv" in output
    assert "2 created, 0 updated, 0 unchanged, 1 rejected." in output
    assert "line 4, column sku: SKU is empty." in output
    job = ImportJob.objects.get()
    assert (job.source, job.status, job.created_count) == ("command", "SUCCESS", 2)
    assert f"Recorded as import #{job.pk}." in output
    assert Product.objects.count() == 2


def test_plain_progress_lines_when_not_a_terminal(csv_file):
    output = run(csv_file("sku,name\n" + "".join(f"P{i},p\n" for i in range(30))), "--chunk-size", "7")
    assert "Import complete: 30/30 rows (100%), 30 created, 0 updated, 0 unchanged, 0 rejected" in output


def test_dry_run_counts_what_would_happen_and_writes_nothing(csv_file):
    product_services.product_create(sku="OLD", name="o")
    product_services.product_create(sku="SAME", name="s")
    path = csv_file("sku,name\nold,changed\nNEW,n\nnew,again\nsame,s\n,bad\n")
    output = run(path, "--dry-run", "--chunk-size", "2")
    assert "Would import 5 rows" in output
    assert "1 would be created, 2 would be updated, 1 unchanged, 1 rejected." in output
    assert "First 1 rows that would update:\n  old: name 'o' -> 'changed'" in output
    assert "First 1 SKUs that would be created: NEW" in output
    assert sorted(Product.objects.values_list("sku", "name")) == [("OLD", "o"), ("SAME", "s")]
    assert not ImportJob.objects.exists()


def test_errors_out_gets_every_rejected_row(csv_file, tmp_path):
    path = csv_file("sku,name\n" + "".join(f",bad {i}\n" for i in range(15)) + "OK,fine\n")
    report = tmp_path / "rejected.csv"
    output = run(path, "--errors-out", report)
    rows = list(csv.reader(report.open()))
    assert rows[0] == ["line", "row", "sku", "column", "reason"]
    assert len(rows) == 16 and rows[1] == ["2", "1", "", "sku", "SKU is empty."]
    assert "First 10 of 15 rejected rows:" in output
    assert f"Every rejected row is in {report}." in output


@pytest.mark.parametrize(
    "content, message",
    [(b"", "The file is empty."), (b"title\nx\n", "Missing required column(s): sku, name.")],
)
def test_a_file_that_cannot_be_imported_exits_non_zero_and_records_the_failure(csv_file, content, message):
    with pytest.raises(CommandError) as caught:
        run(csv_file(content))
    assert message in str(caught.value)
    job = ImportJob.objects.get()
    assert job.status == "FAILURE" and message in job.error_message
    assert not Product.objects.exists()


def test_a_missing_file_exits_non_zero(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "nope.csv")


@pytest.mark.django_db(transaction=True)  # the subprocess commits to the test database
def test_command_exit_code_from_the_shell(csv_file):
    """The real process: 0 on success, 1 when the file cannot be imported."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    env = {**os.environ, "DATABASE_URL": _database_url(settings)}
    good = subprocess.run([sys.executable, "manage.py", "import_csv", str(csv_file("sku,name\nZ,z\n", "g.csv"))],
                          env=env, capture_output=True, text=True, cwd=settings.BASE_DIR)  # fmt: skip
    bad = subprocess.run([sys.executable, "manage.py", "import_csv", str(csv_file("nothing\n", "b.csv"))],
                         env=env, capture_output=True, text=True, cwd=settings.BASE_DIR)  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert bad.returncode == 1 and "Missing required column(s)" in bad.stderr


def _database_url(settings) -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_command_records_what_it_did_and_exits_130(csv_file):
    """SIGTERM mid-import (as Ctrl-C or a stopping container would): committed rows stay, the job says so."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from django.conf import settings

    path = csv_file("sku,name\n" + "".join(f"I-{i},n\n" for i in range(60_000)), "big.csv")
    env = {**os.environ, "DATABASE_URL": _database_url(settings), "IMPORT_CHUNK_SIZE": "200"}
    process = subprocess.Popen([sys.executable, "manage.py", "import_csv", str(path)], env=env, cwd=settings.BASE_DIR,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not Product.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    job = ImportJob.objects.get()
    assert job.status == "REVOKED" and job.phase.startswith("Import interrupted after")
    assert 0 < job.processed_rows < 60_000
    assert Product.objects.count() == job.created_count == job.processed_rows
    assert "those are imported" in stderr
