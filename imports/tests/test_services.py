"""Imports end to end through the service, against PostgreSQL (the database decides upserts)."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from fulfil.processes import wait_until
from imports import services
from imports.models import ImportJob, ImportRowError
from imports.run import ImportRun, import_job_run
from products import services as product_services
from products.batches import product_batch_build, product_batch_upsert
from products.models import Product

pytestmark = pytest.mark.django_db


def catalogue() -> dict[str, tuple]:
    return {p.sku: (p.name, p.description, p.active) for p in Product.objects.all()}


def assert_counts_add_up(job: ImportJob, products_before: int) -> None:
    assert job.status == ImportJob.Status.SUCCESS, job.phase
    assert job.created_count + job.updated_count + job.unchanged_count + job.error_count == job.total_rows
    assert job.total_rows == job.processed_rows
    assert Product.objects.count() - products_before == job.created_count


@pytest.mark.quickstart
def test_the_original_files_shape_imports(run_import):
    data = 'name,sku,description\nBlue shirt,S-1,"Soft cotton,\nmachine ""washable"""\nMug,M-1,\n'
    job = run_import(data)
    assert_counts_add_up(job, 0)
    assert catalogue() == {
        "S-1": ("Blue shirt", 'Soft cotton,\nmachine "washable"', True),
        "M-1": ("Mug", "", True),
    }
    assert (job.created_count, job.phase, job.columns) == (2, "Import complete", ["sku", "name", "description"])


def test_a_file_without_active_never_changes_the_active_flag(run_import):
    product_services.product_create(sku="S-1", name="Old", active=False)
    job = run_import("sku,name\nS-1,New\nS-2,Fresh\n")
    assert_counts_add_up(job, 1)
    assert catalogue() == {"S-1": ("New", "", False), "S-2": ("Fresh", "", True)}


def test_a_file_without_description_keeps_existing_descriptions(run_import):
    product_services.product_create(sku="S-1", name="Old", description="Keep me")
    run_import("sku,name,active\nS-1,New,no\n")
    assert catalogue() == {"S-1": ("New", "Keep me", False)}


def test_an_empty_description_in_the_file_clears_it(run_import):
    product_services.product_create(sku="S-1", name="Old", description="Remove me")
    run_import("sku,name,description\nS-1,New,\n")
    assert catalogue()["S-1"] == ("New", "", True)


def test_update_keeps_the_stored_sku_spelling(run_import):
    product_services.product_create(sku="Abc-1", name="Old")
    job = run_import("sku,name\nABC-1,New\n")
    assert (job.created_count, job.updated_count) == (0, 1)
    assert catalogue() == {"Abc-1": ("New", "", True)}


@pytest.mark.parametrize("chunk_size", [1, 2, 1000])
def test_later_row_wins_when_sku_differs_only_in_case_within_or_across_chunks(run_import, chunk_size):
    job = run_import("sku,name,active\nabc-1,first,yes\nOTHER,x,yes\nABC-1,second,no\nAbC-1,third,no\n",
                     chunk_size=chunk_size)  # fmt: skip
    assert_counts_add_up(job, 0)
    assert (job.created_count, job.updated_count) == (2, 2)
    assert catalogue() == {"abc-1": ("third", "", False), "OTHER": ("x", "", True)}


def test_non_ascii_skus_that_differ_in_case_are_different_products(run_import):
    job = run_import("sku,name\nÄBC,upper\näbc,lower\nÄBC,upper again\n")
    assert (job.created_count, job.updated_count) == (2, 1)
    assert catalogue() == {"ÄBC": ("upper again", "", True), "äbc": ("lower", "", True)}


def test_bad_rows_are_skipped_and_recorded_and_the_rest_imports(run_import):
    data = (
        "sku,name,active\nOK-1,Fine,yes\n,no sku,yes\nOK-2,,yes\nOK-3,Fine,perhaps\n"
        "OK-4,too,many,fields\nOK-5,Fine,no\n"
    )
    job = run_import(data)
    assert_counts_add_up(job, 0)
    assert (job.created_count, job.error_count) == (2, 4)
    recorded = list(ImportRowError.objects.filter(job=job).values_list("line", "sku", "column"))
    assert recorded == [(3, "", "sku"), (4, "OK-2", "name"), (5, "OK-3", "active"), (6, "OK-4", "")]
    assert set(catalogue()) == {"OK-1", "OK-5"}


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01", "binary"),
        (b"name,description\nx,y\n", "Missing required column(s): sku"),
    ],
)
def test_a_file_that_cannot_be_imported_fails_with_one_message_and_writes_nothing(run_import, content, reason):
    job = run_import(content)
    assert job.status == ImportJob.Status.FAILURE
    assert reason in job.error_message and job.phase.startswith("Import failed: ")
    assert not Product.objects.exists()


def test_counts_are_exact_against_a_mixed_catalogue(run_import):
    """Created and updated come from the upsert's returned created_at; check them against the database."""
    rng = random.Random(3)
    existing = [f"E-{i}" for i in range(300)]
    Product.objects.bulk_create(Product(sku=sku, name="old") for sku in existing)
    lines = ["sku,name"]
    expected_new: set[str] = set()
    for i in range(1500):
        if rng.random() < 0.4:
            sku = rng.choice(existing)
        else:
            sku = f"N-{rng.randrange(600)}"
            expected_new.add(sku.lower())
        lines.append(f"{rng.choice([sku, sku.lower(), sku.upper()])},name {i}")
    job = run_import("\n".join(lines) + "\n", chunk_size=97)
    assert_counts_add_up(job, 300)
    assert job.created_count == len(expected_new)
    assert job.updated_count == 1500 - len(expected_new)


def test_the_returned_created_at_tells_created_from_updated():
    """The mechanism itself: bulk_create returns each row's created_at, unchanged for existing rows."""
    old = product_services.product_create(sku="OLD", name="o")

    class Row:
        def __init__(self, sku):
            self.sku, self.name, self.description, self.active = sku, "n", None, None

    stamp = timezone.now()
    batch = product_batch_build(rows=[Row("old"), Row("NEW")], columns=("sku", "name"), stamp=stamp)
    result = product_batch_upsert(batch=batch, skip_unchanged=False)  # no comparison: the database alone says
    assert (result.created, result.updated) == (1, 1)
    assert dict(Product.objects.values_list("sku", "created_at")) == {"OLD": old.created_at, "NEW": stamp}


def test_a_reimport_of_the_same_file_changes_nothing_and_writes_nothing(run_import):
    data = "sku,name\n" + "".join(f"P-{i},Name {i}\n" for i in range(250))
    first = run_import(data, chunk_size=60)
    written = dict(Product.objects.values_list("sku", "updated_at"))
    second = run_import(data, chunk_size=60)
    assert (first.created_count, first.updated_count, first.unchanged_count) == (250, 0, 0)
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 250)
    assert dict(Product.objects.values_list("sku", "updated_at")) == written


def test_with_skip_unchanged_off_a_reimport_writes_and_updates_everything(run_import, settings):
    settings.IMPORT_SKIP_UNCHANGED = False
    data = "sku,name\n" + "".join(f"P-{i},Name {i}\n" for i in range(250))
    run_import(data, chunk_size=60)
    second = run_import(data, chunk_size=60)
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 250, 0)


def test_unknown_columns_and_cp1252_are_noted_on_the_job(run_import):
    job = run_import("sku,name,colour\nS-1,Café,red\n".encode("cp1252"))
    assert job.encoding == "cp1252"
    assert any("Windows-1252" in w for w in job.warnings)
    assert "Ignored unknown column(s): colour." in job.warnings
    assert catalogue() == {"S-1": ("Café", "", True)}


def test_semicolon_bom_mixed_case_headers_and_crlf(run_import):
    job = run_import(b"\xef\xbb\xbf Active ;NAME;Sku\r\nno;Widget;W-1\r\n\r\nyes;Gadget;G-1\r\n")
    assert job.delimiter == ";"
    assert catalogue() == {"W-1": ("Widget", "", False), "G-1": ("Gadget", "", True)}


# --- Resume, cancel, retry ------------------------------------------------------------------------


def test_a_resumed_import_ends_exactly_as_an_uninterrupted_one(run_import, csv_file, monkeypatch):
    rng = random.Random(11)
    lines = ["sku,name"] + [f"{rng.choice(['K', 'k'])}-{rng.randrange(120)},n{i}" for i in range(400)]
    lines.insert(50, ",broken")
    data = "\n".join(lines) + "\n"

    reference = run_import(data, chunk_size=37)
    expected = catalogue()
    Product.objects.all().delete()

    path = csv_file(data, "resumed.csv")
    job = ImportJob.objects.create(source="command", source_path=str(path), original_name="resumed.csv", chunk_size=37)
    real_after = ImportRun.after

    def killed_after_four_commits(self, chunk):
        if chunk.seq == 3:
            raise SystemExit("worker killed")  # like a SIGKILL: nothing after the 4th commit runs
        return real_after(self, chunk)

    monkeypatch.setattr(ImportRun, "after", killed_after_four_commits)
    with pytest.raises(SystemExit):
        import_job_run(job=job)
    job.refresh_from_db()
    assert job.processed_rows == job.chunks.count() * 37 == 4 * 37 and job.status == ImportJob.Status.PROGRESS
    monkeypatch.setattr(ImportRun, "after", real_after)

    resumed = import_job_run(job=job)
    assert resumed.status == ImportJob.Status.SUCCESS
    assert catalogue() == expected
    counts = ("created_count", "updated_count", "error_count", "total_rows", "processed_rows")
    assert [getattr(resumed, c) for c in counts] == [getattr(reference, c) for c in counts]
    assert resumed.attempts == 2


def test_cancel_stops_after_the_current_chunk_and_keeps_what_was_committed(run_import, csv_file, monkeypatch):
    path = csv_file("sku,name\n" + "".join(f"C-{i},n\n" for i in range(100)))
    job = ImportJob.objects.create(source="command", source_path=str(path), original_name="c.csv", chunk_size=10)
    chunks = {"n": 0}

    def progress(current: ImportJob) -> None:
        if current.processed_rows == 30 and chunks["n"] == 0:
            chunks["n"] += 1
            services.import_job_cancel(job=current)

    job = import_job_run(job=job, on_progress=progress)
    assert job.status == ImportJob.Status.REVOKED and job.phase == "Import cancelled"
    assert Product.objects.count() == 30 == job.processed_rows


def test_a_queued_import_cancelled_before_it_starts_never_runs():
    job = ImportJob.objects.create(source="upload", original_name="q.csv", task_id="t-1")
    services.import_job_cancel(job=job)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.REVOKED
    assert import_job_run(job=job).status == ImportJob.Status.REVOKED


def test_a_finished_import_cannot_be_cancelled(run_import):
    job = run_import("sku,name\nA,a\n")
    with pytest.raises(services.Conflict):
        services.import_job_cancel(job=job)


def test_retry_runs_a_failed_import_again_from_its_stored_file(run_import, csv_file, eager_celery,
                                                                django_capture_on_commit_callbacks):  # fmt: skip
    job = run_import("name,description\nx,y\n")
    assert job.status == ImportJob.Status.FAILURE
    csv_file("sku,name\nR-1,fixed\n")  # the stored file is corrected in place
    with django_capture_on_commit_callbacks(execute=True):
        services.import_job_retry(job=job)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCESS and job.created_count == 1
    assert catalogue() == {"R-1": ("fixed", "", True)}


def test_only_failed_or_cancelled_imports_can_be_retried(run_import):
    job = run_import("sku,name\nA,a\n")
    with pytest.raises(services.Conflict):
        services.import_job_retry(job=job)


def test_running_a_finished_job_again_does_nothing(run_import):
    job = run_import("sku,name\nA,a\n")
    Product.objects.all().delete()
    assert import_job_run(job=job).status == ImportJob.Status.SUCCESS
    assert not Product.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_writers_end_exactly_as_one_writer(csv_file, settings):
    """Several connections write at once, yet rows apply in file order and counts match a sequential run."""
    rng = random.Random(5)
    lines = ["sku,name,active"]
    for i in range(3000):
        sku = f"D-{rng.randrange(400)}"  # many repeats, often in neighbouring chunks
        lines.append(f"{rng.choice([sku, sku.lower()])},name {i},{rng.choice(['yes', 'no', 'maybe'])}")
    path = csv_file("\n".join(lines) + "\n")
    results = []
    for writers in (1, 2, 3):
        settings.IMPORT_WRITERS = writers
        Product.objects.bulk_create(Product(sku=f"D-{n}", name="existing") for n in range(0, 400, 7))
        job = ImportJob.objects.create(source="command", source_path=str(path), original_name="d.csv", chunk_size=13)
        job = import_job_run(job=job)
        results.append((catalogue(), job.created_count, job.updated_count, job.error_count, job.processed_rows))
        Product.objects.all().delete()
    assert results[0] == results[1] == results[2]
    assert results[0][4] == 3000


@pytest.mark.django_db(transaction=True)
def test_a_resumed_import_fills_the_chunks_that_did_not_commit_when_later_ones_did(csv_file, settings):
    """With two writers, chunk 2 can commit while chunk 1 fails; the resumed run writes chunk 1 and
    every later chunk once, and ends as an uninterrupted run."""
    settings.IMPORT_WRITERS = 2
    data = "sku,name\n" + "".join(f"H-{i % 90},n{i}\n" for i in range(300))
    reference = import_job_run(job=ImportJob.objects.create(
        source="command", source_path=str(csv_file(data, "ref.csv")), original_name="ref.csv", chunk_size=20
    ))  # fmt: skip
    expected = catalogue()
    Product.objects.all().delete()

    job = ImportJob.objects.create(
        source="command", source_path=str(csv_file(data, "holes.csv")), original_name="holes.csv", chunk_size=20
    )
    real_write = ImportRun._write

    def chunk_one_dies_after_chunk_two_commits(self, chunk, overlap):
        if chunk.seq == 1:
            wait_until(lambda: job.chunks.filter(seq=2).exists(), timeout=10, what="chunk 2 to commit")
            raise SystemExit("worker killed while writing chunk 1")
        return real_write(self, chunk, overlap)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ImportRun, "_write", chunk_one_dies_after_chunk_two_commits)
        with pytest.raises(SystemExit):
            import_job_run(job=job)
    committed = set(job.chunks.values_list("seq", flat=True))
    assert 1 not in committed and {0, 2} <= committed

    resumed = import_job_run(job=job)
    assert resumed.status == ImportJob.Status.SUCCESS
    assert catalogue() == expected
    counts = ("created_count", "updated_count", "error_count", "total_rows", "processed_rows")
    assert [getattr(resumed, c) for c in counts] == [getattr(reference, c) for c in counts]
    assert sorted(resumed.chunks.values_list("seq", flat=True)) == list(range(15))
