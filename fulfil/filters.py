"""Query-parameter filters shared by the API's FilterSets."""

from __future__ import annotations

import re

import django_filters
from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

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


MAX_TEXT_LENGTH = 255


@extend_schema_field({"type": "string", "maxLength": MAX_TEXT_LENGTH, "pattern": "^[^\\x00]*$"})
class TextFilter(django_filters.CharFilter):
    """Text to look for: at most MAX_TEXT_LENGTH characters, no NUL (a 400 otherwise, as the schema says)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=MAX_TEXT_LENGTH, **kwargs)


class _AnyTextField(forms.CharField):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class AnyTextFilter(django_filters.CharFilter):
    """Equals any text the schema's plain string allows; one with a NUL (no stored value has one,
    and PostgreSQL cannot be asked about it) matches nothing."""

    field_class = _AnyTextField

    def filter(self, qs, value):
        if isinstance(value, str) and "\x00" in value:
            return qs.none()
        return super().filter(qs, value)


class StrictOrderingFilter(OrderingFilter):
    """`ordering`: field names, each with an optional `-` for descending, between commas (as its
    schema's pattern says); an unknown field or anything else is a 400 instead of being ignored."""

    def _names(self, view, request=None) -> list[str]:
        queryset = view.get_queryset()
        return sorted(name for name, _ in self.get_valid_fields(queryset, view, {"request": request}))

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw:
            names = self._names(view, request)
            if not re.fullmatch(_ordering_pattern(names), raw):
                message = f"Order by one of: {', '.join(names)} (prefix - for descending)."
                raise ValidationError({self.ordering_param: [message]})
        return super().get_ordering(request, queryset, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"] = {"type": "string", "pattern": f"^({_ordering_pattern(self._names(view))})?$"}
        return parameters


def _ordering_pattern(names: list[str]) -> str:
    name = "|".join(re.escape(name) for name in names)
    return f"-?({name})(,-?({name}))*"
