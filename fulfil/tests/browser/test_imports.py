"""Importing products in the admin, as a member of staff sees it, with a real Celery worker."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from fulfil.processes import wait_until
from fulfil.tests.browser.conftest import bar_drawn_full, fits_the_width, job_page_finished, same_look
from imports.models import ImportJob
from products.models import Product

pytestmark = [pytest.mark.browser, pytest.mark.worker]

ROWS = 100_000  # the issue asks for at least 50,000; twice that keeps the bar on screen for several polls
EXISTING = 200  # products already in the catalogue; the file updates them in another case
WORKER_ENV = {"IMPORT_CHUNK_SIZE": "1000", "IMPORT_WRITERS": "1"}


@dataclass
class Expected:
    created: int = 0
    updated: int = 0
    errors: int = 0


def write_catalogue(path: Path) -> Expected:
    """A 100,000-row file with bad rows and case-variant repeats; returns the counts it must give.

    The counts follow the documented rule, computed here independently of the importer: a bad
    row is an error; a good row updates when its SKU (ASCII letters folded) is already in the
    catalogue or earlier in the file, and creates otherwise.
    """
    expected = Expected()
    seen = {f"e2e-{i:06d}" for i in range(EXISTING)}
    lines = ["SKU,Name,Description,Active"]
    for i in range(ROWS):
        sku, name, active = f"E2E-{i:06d}", f"Product {i}", "yes"
        if i % 100 == 50:
            sku = f"e2e-{i - 50:06d}"  # a lower-case repeat of the row 50 lines up
        if i < EXISTING:
            sku = sku.lower()  # the catalogue has these in upper case
        bad = i % 1000 in (333, 666, 999)
        if i % 1000 == 333:
            sku = ""
        elif i % 1000 == 666:
            name = ""
        elif i % 1000 == 999:
            active = "maybe"
        lines.append(f'{sku},{name},"Row {i}, with a comma",{active}')
        if bad:
            expected.errors += 1
        elif sku.lower() in seen:
            expected.updated += 1
        else:
            expected.created += 1
            seen.add(sku.lower())
    path.write_text("\n".join(lines) + "\n")
    return expected


def shown(number: int) -> str:
    return f"{number:,}"


def test_a_100000_row_upload_shows_progress_and_exact_counts_then_is_found_by_a_case_variant_sku(
    page, shot, staff, celery_worker_process, tmp_path
):
    Product.objects.bulk_create(Product(sku=f"E2E-{i:06d}", name=f"Old {i}") for i in range(EXISTING))
    expected = write_catalogue(tmp_path / "catalogue.csv")
    assert expected.created + expected.updated + expected.errors == ROWS
    assert expected.errors == 300 and expected.updated > EXISTING
    worker = celery_worker_process("imports", env=WORKER_ENV)

    page.locator("#content-main a[href$='/admin/products/product/']").first.click()
    page.wait_for_selector("#result_list")
    shot("products-before-import")
    page.click(".object-tools >> text=Import products")
    page.wait_for_selector("#upload-form")
    shot("upload-form")
    page.set_input_files("#id_file", tmp_path / "catalogue.csv")
    page.click("input[name=_upload]")
    page.wait_for_url(re.compile(r"/admin/imports/importjob/\d+/progress/$"))

    # What a person sees: the percentage under the bar, read every 100 ms until the end; and,
    # while it runs, how long it has taken and how long it should still take.
    seen: list[str] = []
    timing: list[tuple[str, str, str]] = []
    finished = ("Import complete", "Import failed", "Import cancelled")

    read = """() => ["#percent", "#phase", "#elapsed", "#time-left"].map(id => document.querySelector(id).innerText)
        .concat([document.querySelector("#import-progress").className])"""

    def done() -> bool:
        try:
            percent, phase, elapsed, left, classes = page.evaluate(read)  # one moment's page
        except PlaywrightError:  # the page is loading again: the import finished
            return True
        if 0 < float(percent.rstrip("%")) < 100:
            timing.append((elapsed, left, classes))
        if not seen or seen[-1] != percent:
            seen.append(percent)
            if len(seen) == 4:
                shot("progress-midway")
        return phase.startswith(finished)

    wait_until(done, timeout=60, what="the import to finish", worker=worker)
    job_page_finished(page, worker=worker)
    shot("job-page-complete")
    values = [float(v.rstrip("%")) for v in seen]
    intermediate = sorted({v for v in values if 0 < v < 100})
    assert len(intermediate) >= 3, f"the bar should move through several values, saw {seen}"
    assert values == sorted(values), f"the bar went backwards: {seen}"
    duration = re.compile(r"\d+\.\d s|\d+ min \d\d s")
    assert timing and all(duration.fullmatch(elapsed) for elapsed, _, _ in timing), timing
    assert any(duration.fullmatch(left) for _, left, _ in timing), timing  # estimated once it has a pace
    assert all("tone-running" in classes for _, _, classes in timing)

    # The job page: how it went (amber: rows were rejected), the counts, the file, the downloads.
    assert page.inner_text("#outcome") == "Completed with 300 errors"
    assert "tone-warning" in page.get_attribute("#import-progress", "class")
    assert page.eval_on_selector(".fill", "el => getComputedStyle(el).backgroundColor") == "rgb(179, 92, 0)"
    assert page.inner_text("#phase") == "Import complete"
    assert page.inner_text("#percent") == "100%"
    assert page.get_attribute(".bar", "aria-valuenow") == "100"
    assert duration.fullmatch(page.inner_text("#elapsed")) and page.locator("#time-left").is_hidden()
    assert page.inner_text("#current") == page.inner_text("#total") == shown(ROWS)
    assert page.inner_text("#created") == shown(expected.created)
    assert page.inner_text("#updated") == shown(expected.updated)
    assert page.inner_text("#errors") == shown(expected.errors)
    # The first rejected rows are listed with line and row, and both downloads are offered.
    first = page.locator("#error-table tbody tr").first.inner_text()
    assert first.split("\t")[:4] == ["335", "334", "", "sku"], first  # the 334th data row, on line 335
    assert page.locator("#report-link").is_visible() and page.locator("#rejected-link").is_visible()
    assert page.locator("#retry-form").is_hidden() and page.locator("#cancel-form").is_hidden()
    assert re.fullmatch(r"\d\.\d\xa0MB", page.inner_text("#file-size"))
    assert page.inner_text("#file-layout") == "UTF-8, comma-separated"
    assert page.inner_text("#file-columns") == "sku, name, description, active"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", page.inner_text("#finished"))
    job = ImportJob.objects.get()
    assert (job.created_count, job.updated_count, job.error_count) == (
        expected.created,
        expected.updated,
        expected.errors,
    )
    assert Product.objects.count() == EXISTING + expected.created

    # The list of imports says the same, and fits the screen without scrolling sideways.
    page.click(".breadcrumbs >> text=Imports")
    page.wait_for_selector("#result_list")
    shot("import-list")
    assert fits_the_width(page, "#changelist .results") and fits_the_width(page, "html")
    badge = page.locator("#result_list .outcome-badge").first
    assert badge.inner_text() == "Completed with 300 errors" and fits_the_width(page, ".outcome-badge")
    row = page.locator("#result_list tbody tr").first.inner_text().split("\t")
    assert row[0] == "catalogue.csv" and row[1] == "staff" and row[4:8] == [
        shown(expected.created), shown(expected.updated), "0", "300"
    ]  # fmt: skip

    # Found by a case-variant of its SKU; the later, lower-case row of the same SKU won.
    page.goto("/admin/products/product/")
    page.fill("#searchbar", "e2e-012300")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=e2e-012300**")
    shot("search-case-variant")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert rows.first.locator("th a").inner_text() == "E2E-012300"
    assert rows.first.locator("td.field-name").inner_text() == "Product 12350"
    assert page.inner_text(".paginator").strip() == "1 product"


def test_a_broken_file_is_refused_with_its_reason_and_a_failed_import_shows_why_and_retries(
    page, shot, staff, celery_worker_process, tmp_path
):
    page.goto("/admin/imports/importjob/upload/")
    no_sku = tmp_path / "no-sku.csv"
    no_sku.write_text("Name,Description\nWidget,Blue\n")
    page.set_input_files("#id_file", no_sku)
    page.click("input[name=_upload]")
    page.wait_for_selector("#upload-form .errorlist")
    shot("upload-refused")
    assert page.inner_text("#upload-form .errorlist").startswith("Missing required column(s): sku.")
    assert page.url.endswith("/admin/imports/importjob/upload/")
    assert not ImportJob.objects.exists()

    # A file that passes the upload checks, whose stored copy is then replaced by something that
    # is not a CSV before any worker reads it: the worker fails the import and says why.
    good = "sku,name\n" + "".join(f"R-{i:02d},Retry {i}\n" for i in range(40)) + ",a row without a SKU\n"
    (tmp_path / "retry-me.csv").write_text(good)
    page.set_input_files("#id_file", tmp_path / "retry-me.csv")
    page.click("input[name=_upload]")
    page.wait_for_url(re.compile(r"/admin/imports/importjob/\d+/progress/$"))
    assert page.inner_text("#phase") == "Queued" and page.inner_text("#outcome") == "Queued"
    shot("queued")
    job = ImportJob.objects.get()
    with job.file.open("wb") as stored:
        stored.write(b"\x89PNG\r\n\x1a\n" + bytes(4096))
    worker = celery_worker_process("imports")

    reason = "The file is binary, not a CSV text file."
    job_page_finished(page, timeout=30, worker=worker)
    shot("failed")
    assert page.inner_text("#phase") == f"Import failed: {reason}"
    assert page.inner_text("#outcome") == f"Failed: {reason}"
    assert "tone-error" in page.get_attribute("#import-progress", "class")
    assert page.eval_on_selector("#outcome", "el => getComputedStyle(el).color") == "rgb(186, 33, 33)"
    assert page.locator("#retry-form input[type=submit]").is_visible()
    assert page.locator("#cancel-form").is_hidden()
    # Retry, Start over and Import another file: an input, a button and a link that look alike.
    assert len(same_look(page, ".job-actions .button")) == 1, same_look(page, ".job-actions .button")

    with job.file.open("wb") as stored:  # the stored copy is put right
        stored.write(good.encode())
    page.click("#retry-form input[type=submit]")
    queued_again = "The import was queued again; it resumes where it stopped."
    page.wait_for_selector(".messagelist .success")
    assert page.inner_text(".messagelist .success") == queued_again
    job_page_finished(page, timeout=30, worker=worker)
    # The page showed the finished job in place: the message is still there to be read.
    assert page.inner_text(".messagelist .success") == queued_again
    bar_drawn_full(page)
    shot("retried-complete")
    assert page.inner_text("#phase") == "Import complete"
    assert page.inner_text("#outcome") == "Completed with 1 error"
    assert (page.inner_text("#created"), page.inner_text("#updated"), page.inner_text("#errors")) == ("40", "0", "1")
    assert page.locator("#retry-form").is_hidden()
    assert Product.objects.count() == 40
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ImportJob.Status.SUCCESS, 2)


def test_cancel_asks_first_and_the_page_says_cancelled_once_the_import_has_stopped(
    page, shot, staff, celery_worker_process, tmp_path
):
    rows = 30_000
    path = tmp_path / "long.csv"
    path.write_text("sku,name\n" + "".join(f"C-{i:05d},Cancel me {i}\n" for i in range(rows)))
    worker = celery_worker_process("imports", env={"IMPORT_CHUNK_SIZE": "100", "IMPORT_WRITERS": "1"})
    page.goto("/admin/imports/importjob/upload/")
    page.set_input_files("#id_file", path)
    page.click("input[name=_upload]")
    page.wait_for_url(re.compile(r"/admin/imports/importjob/\d+/progress/$"))
    wait_until(lambda: page.inner_text("#outcome").startswith("Running"), timeout=30, what="the run", worker=worker)
    shot("running")

    questions: list[str] = []

    def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.click("#cancel-form input[type=submit]")
    assert questions == [
        "Cancel this import? It stops after the chunk being written; rows already imported stay."
    ]  # fmt: skip
    assert not ImportJob.objects.get().cancel_requested  # "no": nothing happened

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.click("#cancel-form input[type=submit]")
    job_page_finished(page, timeout=30, worker=worker)
    shot("cancelled")
    assert page.inner_text("#outcome") == "Cancelled"
    assert "Cancelling" not in page.inner_text("#content")
    assert "tone-neutral" in page.get_attribute("#import-progress", "class")
    assert page.locator("#retry-form").is_visible() and page.locator("#cancel-form").is_hidden()
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.REVOKED and 0 < job.processed_rows < rows
    assert Product.objects.count() == job.created_count


def test_a_preview_shows_what_the_file_would_do_writes_nothing_then_imports_the_same_file(
    page, shot, staff, celery_worker_process, tmp_path
):
    Product.objects.bulk_create(
        Product(sku=f"PV-{i:03d}", name=f"Name {i}", description=f"About {i}") for i in range(30)
    )
    before = dict(Product.objects.values_list("sku", "name"))
    lines = ["sku,name,description"]
    lines += [f"PV-{i:03d},Renamed {i},About {i}" for i in range(10)]  # the name changes
    lines += [f"pv-{i:03d},Name {i},About {i}" for i in range(10, 20)]  # as stored, in another case
    lines += [f"PV-{i:03d},Name {i},About {i} and more" for i in range(20, 25)]  # the description changes
    lines += [f"NEW-{i:03d},New {i},Fresh" for i in range(40)]
    lines += [",No SKU,x", "BAD-1,,no name"]
    (tmp_path / "preview.csv").write_text("\n".join(lines) + "\n")
    counts = {"created": "40", "updated": "15", "unchanged": "10", "errors": "2"}
    worker = celery_worker_process("imports")

    page.goto("/admin/imports/importjob/upload/")
    page.set_input_files("#id_file", tmp_path / "preview.csv")
    shot("upload-form")
    page.click("#preview-button")
    page.wait_for_url(re.compile(r"/admin/imports/importjob/\d+/progress/$"))
    preview_url = page.url
    # The page loads itself again when the preview has finished, with the sample of the changes.
    wait_until(lambda: page.locator("#confirm-form").is_visible(), timeout=30, what="the preview", worker=worker)
    bar_drawn_full(page)
    shot("preview-complete")
    assert page.inner_text("#phase") == "Preview complete"
    assert page.inner_text("#preview-note").startswith("A preview: nothing has been written.")
    assert {field: page.inner_text(f"#{field}") for field in counts} == counts
    assert page.locator("#import-progress .counts dt").all_inner_texts()[1:3] == ["WOULD CREATE", "WOULD UPDATE"]
    assert page.inner_text("#outcome") == "Preview with 2 errors"

    assert page.locator("#preview-changes h2").all_inner_texts() == ["Would update", "Would create"]  # all of them
    updates = page.locator("#would-update tbody tr")
    assert updates.count() == 15
    first = updates.first
    assert first.locator("td").nth(0).inner_text() == "PV-000" and first.locator("td").nth(1).inner_text() == "name"
    assert first.locator("del").inner_text() == "Name 0" and first.locator("ins").inner_text() == "Renamed 0"
    described = page.locator("#would-update tbody tr", has=page.locator("td", has_text="PV-020"))
    assert described.locator("td").nth(1).inner_text() == "description"
    assert (described.locator("del").inner_text(), described.locator("ins").inner_text()) == (
        "About 20",
        "About 20 and more",
    )
    assert page.inner_text("#would-create").startswith("NEW-000, NEW-001, ")
    assert dict(Product.objects.values_list("sku", "name")) == before, "a preview writes nothing"

    page.click("#confirm-form input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/imports/importjob/\d+/progress/$"))
    assert page.url != preview_url
    job_page_finished(page, timeout=30, worker=worker)
    bar_drawn_full(page)
    shot("import-complete")
    assert page.inner_text("#phase") == "Import complete"
    assert {field: page.inner_text(f"#{field}") for field in counts} == counts
    assert page.locator("#confirm-form").count() == 0 and page.locator("#preview-note").count() == 0
    assert page.inner_text("#confirms") == f"Imports the file of preview #{preview_url.split('/')[-3]}."
    job = ImportJob.objects.get(dry_run=False)
    assert (job.created_count, job.updated_count, job.unchanged_count, job.error_count) == (40, 15, 10, 2)
    assert job.confirms_id is not None and job.confirms.dry_run
    assert Product.objects.get(sku="PV-000").name == "Renamed 0"
    assert Product.objects.get(sku="PV-020").description == "About 20 and more"
    assert Product.objects.count() == 70

    page.goto(preview_url)  # the preview now says what became of it
    shot("preview-after-import")
    assert page.inner_text("#confirmed-by") == f"Imported as import #{job.pk}."
    assert page.locator("#confirm-form").count() == 0

    page.goto("/admin/imports/importjob/upload/")  # both are listed, the preview as one
    shot("recent-imports")
    recent = [row.split("\t") for row in page.locator("#content-main .module table tbody tr").all_inner_texts()]
    assert [row[2:] for row in recent] == [
        ["Completed with 2 errors", "40", "15", "10", "2"],
        ["Preview with 2 errors", "40", "15", "10", "2"],
    ]
