from __future__ import annotations

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from fulfil import permissions
from fulfil.booleans import parse_bool
from fulfil.errors import ServiceError
from fulfil.jobs import background_job_status
from imports import services
from imports.models import ImportJob


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns sku and name (any order, any case); optional description and active. "
        "UTF-8 or Excel's Windows-1252; comma, semicolon or tab separated.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "original_name",
        "uploaded_by",
        "created_at",
        "status_badge",
        "preview",
        "total_rows",
        "created_count",
        "updated_count",
        "unchanged_count",
        "error_count",
        "duration",
    )
    list_display_links = ("id", "original_name")
    list_filter = ("status", "source", "created_at")
    search_fields = ("original_name", "task_id")
    list_select_related = ("uploaded_by",)
    ordering = ("-created_at", "-id")
    fields = (
        "original_name",
        "source",
        "status",
        "phase",
        "preview",
        "confirms",
        "uploaded_by",
        "size_bytes",
        "encoding",
        "delimiter",
        "columns",
        "warnings",
        "total_rows",
        "processed_rows",
        "created_count",
        "updated_count",
        "unchanged_count",
        "error_count",
        "error_message",
        "task_id",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields
    change_form_template = "admin/imports/importjob/change_form.html"
    change_list_template = "admin/imports/importjob/change_list.html"

    def has_add_permission(self, request):
        return False  # jobs are made by uploading a file

    def has_change_permission(self, request, obj=None):
        return False  # a job is a record of what happened

    def has_delete_permission(self, request, obj=None):
        return False  # housekeeping removes finished jobs with their files (manage.py cleanup)

    @admin.display(description="status", ordering="status")
    def status_badge(self, job: ImportJob):
        css, label = job.status.lower(), job.get_status_display()
        return format_html('<span class="import-status import-status-{}">{}</span>', css, label)

    @admin.display(description="preview", boolean=True, ordering="dry_run")
    def preview(self, job: ImportJob) -> bool:
        """A dry run: it counted what the import would do and wrote no product."""
        return job.dry_run

    @admin.display(description="duration")
    def duration(self, job: ImportJob) -> str:
        seconds = job.duration_seconds
        return "" if seconds is None else f"{seconds:.1f}s"

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
            "status": background_job_status(job),
            "status_url": reverse("admin:imports_importjob_status", args=[job.pk]),
            "errors_url": reverse("v1:import-errors", args=[job.pk]),
            "rejected_url": reverse("v1:import-rejected", args=[job.pk]),
            "may_import": self._may_import(request),
        }
        return TemplateResponse(request, "admin/imports/importjob/progress.html", context)

    def status_view(self, request: HttpRequest, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse(background_job_status(get_object_or_404(ImportJob, pk=pk)))

    def cancel_view(self, request: HttpRequest, pk: int):
        return self._act(request, pk, services.import_job_cancel, "Cancelling: the import stops after this chunk.")

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

    def _act(self, request: HttpRequest, pk: int, action, done: str):
        if request.method != "POST" or not self._may_import(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=pk)
        try:
            action(job=job)
        except ServiceError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return redirect("admin:imports_importjob_progress", job.pk)
