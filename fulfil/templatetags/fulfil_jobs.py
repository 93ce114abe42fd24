"""How the back-office writes a background job's outcome and times (job-progress.js writes them the
same way when it updates a page)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

from fulfil.jobs import BackgroundJob

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """12.3 s, 4 min 05 s, 1 h 02 min; empty for None."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@register.filter
def number(value: int | None) -> str:
    """A count with thousands separators, as the progress script writes it; "…" while unknown."""
    return "…" if value is None else f"{value:,}"


@register.filter
def moment(value: datetime | None) -> str:
    """A time to the second, in the site's time zone; empty for None."""
    return date_format(timezone.localtime(value), "Y-m-d H:i:s") if value else ""


@register.filter
def outcome_badge(job: BackgroundJob) -> SafeString:
    """The job's outcome as a coloured badge ("Completed with 20 errors" in amber, ...)."""
    label, tone = job.outcome
    return format_html('<span class="outcome-badge tone-{}" title="{}">{}</span>', tone, label, label)
