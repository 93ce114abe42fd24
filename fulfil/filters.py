"""Query-parameter filters shared by the API's FilterSets."""

from __future__ import annotations

import django_filters
from django import forms

from fulfil.booleans import WORDS_HELP, parse_bool


class _BooleanWordField(forms.Field):
    def to_python(self, value: str | None) -> bool | None:
        if value is None or value == "":
            return None
        parsed = parse_bool(value)
        if parsed is None:
            raise forms.ValidationError(f"Must be true or false ({WORDS_HELP}), got {value!r}.", code="invalid")
        return parsed


class BooleanWordFilter(django_filters.BooleanFilter):
    """`true` or `false` (and the other words of fulfil.booleans); anything else is a 400."""

    field_class = _BooleanWordField
