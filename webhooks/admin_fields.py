"""Form fields of the webhook admin (webhooks/admin.py): extra headers as rows of name and value, the events with an
"All events" box, and JSON that says where it is wrong."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from webhooks.headers import MAX_HEADERS

BLANK_HEADER_ROWS = 2  # empty rows below the headers already set (a script adds more)


class HeaderRowsWidget(forms.Widget):
    """A table of name and value inputs (posted as repeated `<name>-name` and `<name>-value`).

    A post with a JSON object in `<name>` itself, as the JSON box that came before took, is still
    read, so scripts written against that keep working."""

    class Media:
        js = ("webhooks/webhook-form.js",)

    def value_from_datadict(self, data, files, name) -> Any:
        if f"{name}-name" not in data and name in data:
            return data[name]  # a JSON object, checked by HeaderRowsField
        return list(zip(data.getlist(f"{name}-name"), data.getlist(f"{name}-value"), strict=False))

    def value_omitted_from_data(self, data, files, name) -> bool:
        return f"{name}-name" not in data and name not in data

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        given = self.rows(value)
        rows = [*given, *[("", "")] * BLANK_HEADER_ROWS][: max(MAX_HEADERS, len(given))]
        body = format_html_join(
            "",
            '<tr><td><input type="text" name="{}-name" value="{}" aria-label="Header name" maxlength="100" '
            'placeholder="Name" autocomplete="off"></td><td><input type="text" name="{}-value" value="{}" '
            'aria-label="Header value" placeholder="Value" size="50" autocomplete="off"></td></tr>',
            ((name, header, name, text) for header, text in rows),
        )
        return format_html(
            '<div><table class="header-rows" id="{}"><thead><tr><th>Name</th><th>Value</th></tr></thead>'
            "<tbody>{}</tbody></table>"
            '<p><button type="button" class="button add-header-row" data-table="{}">Add a header</button></p></div>',
            (attrs or {}).get("id", f"id_{name}"),
            body,
            (attrs or {}).get("id", f"id_{name}"),
        )

    def rows(self, value: Any) -> list[tuple[str, str]]:
        """The (name, value) rows to show for a stored dict, a posted list or posted JSON."""
        if isinstance(value, dict):
            return [(str(header), str(text)) for header, text in value.items()]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return []
            return self.rows(value) if isinstance(value, dict) else []
        return [(header, text) for header, text in value or [] if header.strip() or text.strip()]


class HeaderRowsField(forms.Field):
    """Extra headers from rows of name and value: a dict (empty rows are skipped); the header
    policy (webhooks.headers.validate_headers, on the model) says what may be sent."""

    widget = HeaderRowsWidget

    def to_python(self, value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            return value
        if isinstance(value, str):
            return _json_object(value) if value.strip() else {}
        headers: dict[str, str] = {}
        for name, text in value or []:
            name, text = name.strip(), text.strip()
            if not name and not text:
                continue
            if not name:
                raise ValidationError(f"The value {text!r} has no header name.", code="name")
            if name in headers:
                raise ValidationError(f"{name} is given twice.", code="duplicate")
            headers[name] = text
        return headers

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != (initial or {})
        except ValidationError:
            return True


class EventsWidget(forms.CheckboxSelectMultiple):
    """The event checkboxes; webhook-form.js ticks them all when "All events" is ticked."""

    class Media:
        js = ("webhooks/webhook-form.js",)


def _json_object(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(json_error(exc), code="invalid") from None


def json_error(exc: json.JSONDecodeError) -> str:
    """Where JSON is wrong, as a person finds it: "Not valid JSON: line 2, column 14: Expecting ','
    delimiter." """
    return f"Not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}."
