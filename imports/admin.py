from __future__ import annotations

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from fulfil import permissions
from fulfil.booleans import parse_bool
from fulfil.errors import ServiceError
from fulfil.jobs import background_job_status
from fulfil.templatetags.fulfil_jobs import duration, moment, outcome_badge
from imports import services
from imports.models import ImportJob
from imports.serializers import STATUS_ROW_ERRORS


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns sku and name (any order, any case); optional description and active. "
        "UTF-8 or Excel's Windows-1252; comma, semicolon or tab separated.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )


ENCODINGS = {"utf-8": "UTF-8", "cp1252": "Windows-1252"}
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


def file_layout(job: ImportJob) -> str:
    """The file's encoding and delimiter as a person says them: "UTF-8, comma-separated"."""
    parts = []
    if job.encoding:
        parts.append(ENCODINGS.get(job.encoding, job.encoding))
    if job.delimiter:
        parts.append(f"{DELIMITERS.get(job.delimiter, repr(job.delimiter))}-separated")
    return ", ".join(parts)


def uploader(job: ImportJob) -> str:
    if job.uploaded_by is not None:
        return job.uploaded_by.get_username()
    return "import_csv" if job.source == ImportJob.Source.COMMAND else "–"


def _count(field: str, label: str):
    """A list column showing a counter with thousands separators."""

    @admin.display(description=label, ordering=field)
    def show(self, job: ImportJob) -> str:
        return f"{getattr(job, field):,}"

    return show


class OutcomeFilter(admin.SimpleListFilter):
    """The list's filter by the words of its outcome badges."""

    title = "outcome"
    parameter_name = "outcome"
    CHOICES = {
        "completed": ("Completed", Q(status=ImportJob.Status.SUCCESS, error_count=0, dry_run=False)),
        "errors": ("Completed with errors", Q(status=ImportJob.Status.SUCCESS, error_count__gt=0)),
        "failed": ("Failed", Q(status=ImportJob.Status.FAILURE)),
        "cancelled": ("Cancelled", Q(status=ImportJob.Status.REVOKED)),
        "running": ("Running or queued", Q(status__in=(ImportJob.Status.PENDING, *ImportJob.RUNNING))),
        "preview": ("Preview", Q(dry_run=True)),
    }

    def lookups(self, request, model_admin):
        return [(value, label) for value, (label, _) in self.CHOICES.items()]

    def queryset(self, request, queryset):
        chosen = self.CHOICES.get(self.value() or "")
        return queryset.filter(chosen[1]) if chosen else queryset


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Imports: the list (file, who, when, how it went, counts) and each import's page, which is
    its progress page (progress_view): a record of what happened, never a form."""

    list_display = (
        "file_name",
        "who",
        "when",
        "outcome_display",
        "created",
        "updated",
        "unchanged",
        "errors",
        "rows",
        "duration",
    )
    list_display_links = ("file_name",)
    list_filter = (OutcomeFilter, "source", "created_at")
    search_fields = ("original_name", "task_id", "uploaded_by__username")
    search_help_text = "Search by file name, task id or who uploaded it."
    list_select_related = ("uploaded_by",)
    ordering = ("-created_at", "-id")
    change_list_template = "admin/imports/importjob/change_list.html"

    def has_add_permission(self, request):
        return False  # jobs are made by uploading a file

    def has_change_permission(self, request, obj=None):
        return False  # a job is a record of what happened

    def has_delete_permission(self, request, obj=None):
        return False  # housekeeping removes finished jobs with their files (manage.py cleanup)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """An import's page is its job page (progress_view), not a dump of its fields."""
        return redirect("admin:imports_importjob_progress", unquote(object_id))

    @admin.display(description="file", ordering="original_name")
    def file_name(self, job: ImportJob) -> str:
        return format_html('<span class="file-name" title="{}">{}</span>', job.original_name, job.original_name)

    created = _count("created_count", "created")
    updated = _count("updated_count", "updated")
    unchanged = _count("unchanged_count", "unchanged")
    errors = _count("error_count", "errors")

    @admin.display(description="by", ordering="uploaded_by__username")
    def who(self, job: ImportJob) -> str:
        name = uploader(job)
        return format_html('<span class="user-name" title="{}">{}</span>', name, name)

    @admin.display(description="when", ordering="created_at")
    def when(self, job: ImportJob) -> str:
        local = timezone.localtime(job.created_at)
        return format_html('<span title="{}">{}</span>', moment(job.created_at), date_format(local, "j M H:i:s"))

    @admin.display(description="outcome", ordering="status")
    def outcome_display(self, job: ImportJob) -> str:
        return outcome_badge(job)

    @admin.display(description="rows", ordering="total_rows")
    def rows(self, job: ImportJob) -> str:
        if job.total_rows is None or job.processed_rows == job.total_rows:
            return f"{job.processed_rows:,}" if job.processed_rows or job.is_finished else "–"
        return format_html("{}<br><small>of {}</small>", f"{job.processed_rows:,}", f"{job.total_rows:,}")

    @admin.display(description="duration")
    def duration(self, job: ImportJob) -> str:
        return duration(job.duration_seconds) or "–"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name="imports_importjob_upload"),
            path("<int:pk>/progress/", wrap(self.progress_view), name="imports_importjob_progress"),
            path("<int:pk>/status/", wrap(self.status_view), name="imports_importjob_status"),
            path("<int:pk>/cancel/", wrap(self.cancel_view), name="imports_importjob_cancel"),
            path("<int:pk>/retry/", wrap(self.retry_view), name="imports_importjob_retry"),
            path("<int:pk>/confirm/", wrap(self.confirm_view), name="imports_importjob_confirm"),
            *super().get_urls(),
        ]

    def _may_import(self, request: HttpRequest) -> bool:
        return request.user.has_perms(permissions.IMPORT)

    def upload_view(self, request: HttpRequest):
        if not self._may_import(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST":
            if getattr(request, "upload_too_large", False):
                form.add_error("file", "The file is larger than the upload limit.")
            elif form.is_valid():
                try:
                    preview = "_preview" in request.POST
                    upload = form.cleaned_data["file"]
                    job = services.import_job_create(upload=upload, user=request.user, dry_run=preview)
                except ServiceError as exc:
                    form.add_error("file", str(exc))
                else:
                    return redirect("admin:imports_importjob_progress", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import products",
            "form": form,
            "opts": self.model._meta,
            "recent": ImportJob.objects.select_related("uploaded_by")[:5],
        }
        return TemplateResponse(request, "admin/imports/importjob/upload.html", context)

    def progress_view(self, request: HttpRequest, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Preview' if job.dry_run else 'Import'} #{job.pk}: {job.original_name}",
            "job": job,
            "confirmed_by": job.confirmations.first() if job.dry_run else None,
            "opts": self.model._meta,
            "status": background_job_status(job, request=request),
            "status_url": reverse("admin:imports_importjob_status", args=[job.pk]),
            "errors_url": reverse("v1:import-errors", args=[job.pk]),
            "rejected_url": reverse("v1:import-rejected", args=[job.pk]),
            "may_import": self._may_import(request),
            "row_error_limit": STATUS_ROW_ERRORS,
            "layout": file_layout(job),
            "uploader": uploader(job),
        }
        return TemplateResponse(request, "admin/imports/importjob/progress.html", context)

    def status_view(self, request: HttpRequest, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse(background_job_status(get_object_or_404(ImportJob, pk=pk), request=request))

    def cancel_view(self, request: HttpRequest, pk: int):
        # The page says "Cancelling" while the import winds down and "Cancelled" once it has stopped.
        return self._act(request, pk, services.import_job_cancel)

    def retry_view(self, request: HttpRequest, pk: int):
        """Retry: resume where it stopped; "Start over" (start_over=true): from the first row."""
        if parse_bool(request.POST.get("start_over", ""), empty=False):
            retry = partial(services.import_job_retry, start_over=True)
            return self._act(request, pk, retry, "The import was queued again, to run from its first row.")
        return self._act(
            request, pk, services.import_job_retry, "The import was queued again; it resumes where it stopped."
        )

    def confirm_view(self, request: HttpRequest, pk: int):
        """ "Import this file" on a finished preview: the import starts, and its page opens."""
        if request.method != "POST" or not self._may_import(request):
            raise PermissionDenied
        preview = get_object_or_404(ImportJob, pk=pk)
        try:
            job = services.import_job_confirm(preview=preview, user=request.user)
        except ServiceError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect("admin:imports_importjob_progress", preview.pk)
        return redirect("admin:imports_importjob_progress", job.pk)

    def _act(self, request: HttpRequest, pk: int, action, done: str = ""):
        if request.method != "POST" or not self._may_import(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=pk)
        try:
            action(job=job)
        except ServiceError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            if done:
                self.message_user(request, done, messages.SUCCESS)
        return redirect("admin:imports_importjob_progress", job.pk)
