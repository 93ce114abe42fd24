"""manage.py import_csv: run a CSV import in this process, with no broker needed."""

from __future__ import annotations

import contextlib
import csv
import signal
import sys
import threading
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from fulfil.csvfiles import safe_row
from imports import services
from imports.models import ImportJob
from imports.run import import_job_run
from imports.selectors import REPORT_HEADER

SHOWN_ERRORS = 10


class Command(BaseCommand):
    help = "Import products from a CSV file (columns sku and name; optional description and active)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file.")
        parser.add_argument("--chunk-size", type=int, default=None, help="Rows per transaction.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and count; write nothing.")
        parser.add_argument("--errors-out", metavar="FILE", help="Write every rejected row to this CSV file.")

    def handle(self, *args, path: str, chunk_size: int | None, dry_run: bool, errors_out: str | None, **options):
        source = Path(path).expanduser().resolve()
        if not source.is_file():
            raise CommandError(f"{path}: no such file.")
        if chunk_size is not None and not 1 <= chunk_size <= 50_000:
            raise CommandError("--chunk-size must be between 1 and 50000.")
        job = services.import_job_create_from_path(path=source, chunk_size=chunk_size, dry_run=dry_run)
        shown: list = []
        with contextlib.ExitStack() as stack:
            writer = None
            if errors_out:
                writer = csv.writer(stack.enter_context(Path(errors_out).open("w", newline="", encoding="utf-8")))
                writer.writerow(REPORT_HEADER)
            job, seconds = self._run(job, shown, writer)
        self._summarise(job, shown, seconds, errors_out)
        if job.status == ImportJob.Status.FAILURE:
            raise CommandError(f"{source.name}: {job.error_message}")

    def _run(self, job: ImportJob, shown: list, writer) -> tuple[ImportJob, float]:
        def on_errors(errors) -> None:
            shown.extend(errors[: SHOWN_ERRORS - len(shown)])
            if writer:
                writer.writerows(safe_row((e.line, e.row, e.sku, e.column, e.reason)) for e in errors)

        progress = _Progress(self.stdout, interactive=self.stdout.isatty())
        started = time.monotonic()
        interrupted = threading.Event()

        def interrupt(signum, frame) -> None:
            # Ctrl-C or SIGTERM: stop after the chunk being written, as a cancel does (raising here
            # could break off a database call halfway). A second one stops at once.
            interrupted.set()
            signal.signal(signum, signal.SIG_DFL)

        previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            job = import_job_run(
                job=job, on_progress=progress.update, on_errors=on_errors, should_stop=interrupted.is_set
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            progress.close()
        if interrupted.is_set() and job.status == ImportJob.Status.REVOKED:
            raise CommandError(
                f"Interrupted after {job.processed_rows:,} rows; those are imported. "
                "Run the same file again to finish (rows already imported are updated, not duplicated).",
                returncode=130,
            )
        return job, time.monotonic() - started

    def _summarise(self, job: ImportJob, shown: list, seconds: float, errors_out: str | None) -> None:
        out = self.stdout
        verb = "Would import" if job.dry_run else "Imported"
        if job.status == ImportJob.Status.FAILURE:
            return
        rate = (job.processed_rows / seconds) if seconds else 0
        created = "would be created" if job.dry_run else "created"
        updated = "would be updated" if job.dry_run else "updated"
        out.write(
            f"{verb} {job.processed_rows:,} rows from {job.original_name} in {seconds:.1f}s ({rate:,.0f} rows/s): "
            f"{job.created_count:,} {created}, {job.updated_count:,} {updated}, {job.unchanged_count:,} unchanged, "
            f"{job.error_count:,} rejected."
        )
        self._sample(job)
        if job.pk:
            out.write(f"Recorded as import #{job.pk}.")
        for warning in job.warnings:
            out.write(self.style.WARNING(f"Warning: {warning}"))
        if shown:
            out.write(self.style.WARNING(f"First {len(shown)} of {job.error_count:,} rejected rows:"))
            for error in shown:
                where = f"line {error.line}" + (f", sku {error.sku!r}" if error.sku else "")
                where += f", column {error.column}" if error.column else ""
                out.write(f"  {where}: {error.reason}")
        if errors_out and job.error_count:
            out.write(f"Every rejected row is in {errors_out}.")

    def _sample(self, job: ImportJob) -> None:
        """A dry run's sample of what would change (the preview)."""
        changes = job.changes if job.dry_run else {}
        if changes.get("updated"):
            self.stdout.write(f"First {len(changes['updated'])} rows that would update:")
            for row in changes["updated"]:
                fields = "; ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in row["changes"].items())
                self.stdout.write(f"  {row['sku']}: {fields}")
        if changes.get("created"):
            self.stdout.write(
                f"First {len(changes['created'])} SKUs that would be created: {', '.join(changes['created'])}"
            )


class _Progress:
    """A tqdm bar with rows/s and ETA on a terminal; a plain line every few seconds otherwise."""

    EVERY = 5.0

    def __init__(self, stream, *, interactive: bool) -> None:
        self.stream = stream
        self.interactive = interactive
        self.bar: tqdm | None = None
        self.last_line = 0.0

    def update(self, job: ImportJob) -> None:
        if job.total_rows is None:
            return
        if self.interactive:
            if self.bar is None:
                self.bar = tqdm(total=job.total_rows, unit="rows", unit_scale=True, file=sys.stderr, desc="Importing")
            self.bar.update(job.processed_rows - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last_line >= self.EVERY or job.is_finished:
            self.last_line = now
            self.stream.write(
                f"{job.phase}: {job.processed_rows:,}/{job.total_rows:,} rows ({job.percent:.0f}%), "
                f"{job.created_count:,} created, {job.updated_count:,} updated, {job.unchanged_count:,} unchanged, "
                f"{job.error_count:,} rejected"
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
