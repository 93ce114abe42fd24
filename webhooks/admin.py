from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import truncatechars
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import ngettext

from fulfil.errors import ServiceError
from fulfil.fields import max_length
from webhooks import admin_fields, services
from webhooks.delivery import webhook_send_test
from webhooks.events import EVENTS, TEST_EVENT
from webhooks.headers import MASK, credentials_to_reenter, mask_headers, reentry_errors, unmask_headers
from webhooks.models import Webhook, WebhookDelivery

FORM_FIELDS = ("url", "description", "events", "is_active", "headers", "retry_count", "timeout_seconds")


class WebhookForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=max_length(Webhook, "url"),
        assume_scheme="https",
        widget=forms.URLInput(attrs={"size": 80}),
    )
    all_events = forms.BooleanField(required=False, label="All events", help_text="Every event below.")
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in EVENTS], widget=admin_fields.EventsWidget, required=False
    )
    # A typed secret is shown again (as dots) when the form comes back with an error; the stored
    # one never is (see __init__).
    secret = forms.CharField(
        required=False,
        strip=False,
        max_length=max_length(Webhook, "secret"),
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}),
        help_text="Optional. Signs every request (see the README for how receivers check it).",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the secret")
    field_order = ("url", "description", "all_events", "events")  # all_events is cleaned before events
    headers = admin_fields.HeaderRowsField(
        required=False,
        label="Extra headers",
        help_text="Sent with every request, one header a row; an empty row is skipped.",
    )

    class Meta:
        model = Webhook
        fields = (*FORM_FIELDS, "secret")
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial["secret"] = ""
        self.initial["all_events"] = set(self.initial.get("events") or ()) == set(EVENTS)
        if self.instance.pk and self.instance.secret:
            self.fields["secret"].help_text = "A secret is set. Leave empty to keep it, or type a new one."
        if self.instance.pk and "headers" in self.fields:  # not on a read-only page (see get_fieldsets)
            self.initial["headers"] = mask_headers(self.instance.headers)
            self.fields["headers"].help_text += f" Values shown as {MASK} are kept when saved."

    def clean_events(self) -> list[str]:
        events = list(EVENTS) if self.cleaned_data.get("all_events") else self.cleaned_data["events"]
        if not events:
            raise ValidationError("Choose at least one event, or All events.")
        return events

    def clean_headers(self) -> object:
        stored = self.instance.headers if self.instance.pk else {}
        self.headers_as_given = self.cleaned_data["headers"]
        try:
            return unmask_headers(self.cleaned_data["headers"], stored=stored)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["headers"]) from None

    def clean(self) -> dict:
        """A URL moving to another origin needs the stored credentials entered again (as the API does)."""
        cleaned = super().clean() or {}
        if self.instance.pk and "url" in cleaned and hasattr(self, "headers_as_given"):
            missing = credentials_to_reenter(
                stored_url=self.instance.url,
                stored_secret=self.instance.secret,
                stored_headers=self.instance.headers,
                url=cleaned["url"],
                secret_given=bool(cleaned.get("secret") or cleaned.get("clear_secret")),
                headers=self.headers_as_given,
            )
            for field, errors in reentry_errors(missing).items():
                self.add_error(field, errors)
        return cleaned

    def changes(self) -> dict:
        """The values to hand to the service; the secret only when it is replaced or removed."""
        values = {field: self.cleaned_data[field] for field in FORM_FIELDS}
        if self.cleaned_data.get("clear_secret"):
            values["secret"] = ""
        elif self.cleaned_data.get("secret"):
            values["secret"] = self.cleaned_data["secret"]
        return values


class OptionalJSONField(forms.JSONField):
    """A JSON box that starts empty rather than showing "null" when there is no value."""

    def to_python(self, value):
        if isinstance(value, str) and value.strip():
            try:
                json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValidationError(admin_fields.json_error(exc), code="invalid") from None
        return super().to_python(value)

    def prepare_value(self, value):
        return "" if value is None else super().prepare_value(value)


class ResendForm(forms.Form):
    since = forms.DateTimeField(
        help_text="Events from this time on (in the site's time zone, e.g. 2026-01-31 14:00) are sent again."
    )


class SendTestForm(forms.Form):
    event = forms.ChoiceField(choices=[(event, event) for event in (TEST_EVENT, *EVENTS)], initial=TEST_EVENT)
    payload = OptionalJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="The event's data as a JSON object; empty sends a short test message.",
    )

    def clean_payload(self):
        payload = self.cleaned_data["payload"]
        if payload is not None and not isinstance(payload, dict):
            raise ValidationError("Give a JSON object.")
        return payload


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    change_form_template = "admin/webhooks/webhook/change_form.html"
    list_display = ("url", "events_display", "is_active", "success_rate_display", "last_triggered_at", "error_display")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    actions = ("enable", "disable")
    readonly_fields = (
        "last_triggered_at",
        "last_error",
        "success_count",
        "failure_count",
        "consecutive_failures",
        "failing_since",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("url", "description", "all_events", "events", "is_active")}),
        ("Signing and headers", {"fields": ("secret", "clear_secret", "headers")}),
        ("Delivery", {"fields": ("retry_count", "timeout_seconds")}),
        (
            "Status",
            {
                "fields": (
                    "last_triggered_at",
                    "last_error",
                    "failing_since",
                    ("success_count", "failure_count", "consecutive_failures"),
                    ("created_at", "updated_at"),
                )
            },
        ),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not obj.secret:  # "Remove the secret" only when there is one
            fieldsets = [
                (name, {**options, "fields": [f for f in options["fields"] if f != "clear_secret"]})
                for name, options in fieldsets
            ]
        if obj is None:  # a new webhook has no status yet
            fieldsets = [(name, options) for name, options in fieldsets if name != "Status"]
        elif not self.has_change_permission(request, obj):
            # Read-only fields show what is stored: show whether a secret is set, never the secret,
            # and the headers masked, as the form and the API do.
            signing = ("Signing and headers", {"fields": ("has_secret", "masked_headers")})
            fieldsets = [signing if name == signing[0] else (name, options) for name, options in fieldsets]  # type: ignore[misc]  # a literal fieldset beside the stubs' precise type
        return fieldsets

    @admin.display(description="secret set", boolean=True)
    def has_secret(self, webhook: Webhook) -> bool:
        return bool(webhook.secret)

    @admin.display(description="extra headers")
    def masked_headers(self, webhook: Webhook) -> str:
        return "\n".join(f"{name}: {value}" for name, value in mask_headers(webhook.headers).items()) or "–"

    @admin.display(description="events")
    def events_display(self, webhook: Webhook) -> str:
        return ", ".join(webhook.events)

    @admin.display(description="success rate")
    def success_rate_display(self, webhook: Webhook) -> str:
        rate = webhook.success_rate
        if rate is None:
            return "–"
        return f"{rate:.0%} of {webhook.success_count + webhook.failure_count}"

    @admin.display(description="last error")
    def error_display(self, webhook: Webhook) -> str:
        return truncatechars(webhook.last_error, 80)

    def save_model(self, request, obj, form, change):
        if change:
            before = Webhook.objects.get(pk=obj.pk)
            saved = services.webhook_update(webhook=before, **form.changes())
            if saved.is_active and not before.is_active:
                self._offer_resend(request, saved)
        else:
            saved = services.webhook_create(**form.changes())
        obj.pk = saved.pk

    def change_view(self, request, object_id, form_url="", extra_context=None):
        webhook = self.get_object(request, unquote(object_id))
        if request.method == "GET" and webhook is not None and not webhook.is_active and webhook.last_error:
            self.message_user(request, f"This webhook is disabled. {webhook.last_error}", messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def _offer_resend(self, request: HttpRequest, webhook: Webhook) -> None:
        url = reverse("admin:webhooks_webhook_resend", args=[webhook.pk])
        message = format_html('{} is enabled again. <a href="{}">Resend what it missed…</a>', webhook, url)
        self.message_user(request, message, messages.INFO)

    def delete_model(self, request, obj):
        services.webhook_delete(webhook=obj)

    def delete_queryset(self, request, queryset):
        for webhook in queryset:
            services.webhook_delete(webhook=webhook)

    @admin.action(description="Enable selected webhooks", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description="Disable selected webhooks", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        self._set_active(request, queryset, False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[Webhook], active: bool) -> None:
        enabling = [webhook for webhook in queryset if active and not webhook.is_active]
        changed = services.webhook_set_active(webhooks=queryset, active=active)
        for webhook in enabling:
            self._offer_resend(request, webhook)
        state = "enabled" if active else "disabled"
        message = ngettext("%(count)d webhook %(state)s.", "%(count)d webhooks %(state)s.", changed)
        self.message_user(request, message % {"count": changed, "state": state}, messages.SUCCESS)

    def get_urls(self):
        send_test = self.admin_site.admin_view(self.send_test_view)
        resend = self.admin_site.admin_view(self.resend_view)
        return [
            path("<path:object_id>/send-test/", send_test, name="webhooks_webhook_send_test"),
            path("<path:object_id>/resend/", resend, name="webhooks_webhook_resend"),
            *super().get_urls(),
        ]

    def _changeable(self, request: HttpRequest, object_id: str) -> Webhook | HttpResponse:
        """The webhook a page acts on, or the admin's own "no such object" answer (a message and a
        redirect to the list); PermissionDenied without the change permission."""
        webhook = self.get_object(request, unquote(object_id))
        if webhook is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        if not self.has_change_permission(request, webhook):
            raise PermissionDenied
        return webhook

    def _page(self, request: HttpRequest, webhook: Webhook, template: str, **context: object) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "opts": self.opts, "original": webhook, **context}
        return TemplateResponse(request, f"admin/webhooks/webhook/{template}", context)

    def resend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: a form for the time to resend from. POST: queue what the webhook never received."""
        webhook = self._changeable(request, object_id)
        if isinstance(webhook, HttpResponse):
            return webhook
        since = webhook.failing_since or timezone.now() - timedelta(days=1)
        form = ResendForm(request.POST or None, initial={"since": timezone.localtime(since).replace(microsecond=0)})
        if request.method == "POST" and form.is_valid():
            try:
                queued = services.webhook_recover(webhook=webhook, since=form.cleaned_data["since"])
            except ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                message = ngettext(
                    "%(count)d event queued to be sent again.", "%(count)d events queued to be sent again.", queued
                )
                self.message_user(request, message % {"count": queued}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:webhooks_webhook_change", args=[webhook.pk]))
        return self._page(
            request,
            webhook,
            "resend.html",
            title=f"Resend failed deliveries to {webhook.url}",
            page_name="Resend failed since…",
            form=form,
            submit_label="Resend",
            submit_name="_resend",
        )

    def send_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: a form to pick the event and data. POST: send it now and show what came back."""
        webhook = self._changeable(request, object_id)
        if isinstance(webhook, HttpResponse):
            return webhook
        form = SendTestForm(request.POST or None)
        result = None
        if request.method == "POST" and form.is_valid():
            try:
                result = webhook_send_test(
                    webhook=webhook, event=form.cleaned_data["event"], data=form.cleaned_data["payload"]
                )
            except ServiceError as exc:
                form.add_error(None, str(exc))
        return self._page(
            request,
            webhook,
            "send_test.html",
            title=f"Send a test to {webhook.url}",
            page_name="Send test",
            form=form,
            result=result,
            submit_label="Send test",
            submit_name="_send",
            log_url=reverse("admin:webhooks_webhookdelivery_changelist") + f"?webhook__id__exact={webhook.pk}",
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only, one row per attempt; failed ones can be sent again."""

    # What answered first: on a laptop-width screen the columns past these scroll out of view.
    list_display = (
        "created_at",
        "webhook",
        "event",
        "success",
        "status_code",
        "response_time_ms",
        "attempt",
        "trigger",
        "error_display",
    )
    list_filter = ("success", "trigger", "event", "webhook")
    list_select_related = ("webhook",)
    search_fields = ("=delivery_id",)
    search_help_text = "Search by delivery id (the webhook-id header)."
    actions = ("redeliver",)
    fields = (
        "webhook",
        "event",
        "delivery_id",
        "attempt",
        "trigger",
        "url",
        "success",
        "status_code",
        "response_time_ms",
        "error",
        "next_attempt_at",
        "created_at",
        "request_headers_display",
        "payload_display",
        "response_body",
    )
    readonly_fields = fields
    list_per_page = 50

    @admin.display(description="error")
    def error_display(self, delivery: WebhookDelivery) -> str:
        return truncatechars(delivery.error, 60)

    @admin.display(description="request headers")
    def request_headers_display(self, delivery: WebhookDelivery) -> str:
        return json.dumps(delivery.request_headers, indent=2)

    @admin.display(description="payload")
    def payload_display(self, delivery: WebhookDelivery) -> str:
        return json.dumps(delivery.payload, indent=2, ensure_ascii=False)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("webhooks.view_webhook") or super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.change_webhook")

    @admin.action(description="Redeliver selected deliveries", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        queued, refused = 0, []
        for delivery in queryset.select_related("webhook"):
            try:
                services.webhook_redeliver(delivery=delivery)
                queued += 1
            except ServiceError as exc:
                refused.append(f"{delivery.webhook}: {exc}")
        if queued:
            message = ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", queued)
            self.message_user(request, message % {"count": queued}, messages.SUCCESS)
        for reason in dict.fromkeys(refused):
            self.message_user(request, reason, messages.ERROR)
