"""Query filters of the delivery log, shared by the API."""

from __future__ import annotations

import django_filters

from fulfil.filters import AnyTextFilter, BooleanWordFilter


class WebhookDeliveryFilter(django_filters.FilterSet):
    """Filters a queryset of WebhookDelivery.

    No Meta.model: the log is an action of the webhook viewset, whose model is Webhook, and
    django-filter would refuse the FilterSet there (drf-spectacular asks with the view's model
    when it documents the parameters). Each filter names its field instead.
    """

    event = AnyTextFilter(field_name="event", help_text="Only this event.")
    success = BooleanWordFilter(field_name="success", help_text="Only successful (true) or failed attempts.")
