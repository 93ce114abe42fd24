"""Helpers for model fields: their limits, read from the models so no limit is written twice."""

from __future__ import annotations

from django.db.models import Field, Model


def max_length(model: type[Model], name: str) -> int:
    """The field's max_length, as the model declares it (reading it touches no database)."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.max_length is None:
        raise TypeError(f"{model.__name__}.{name} has no max_length")
    return field.max_length


def fit(model: type[Model], name: str, value: str) -> str:
    """`value` cut to the field's max_length, for text that comes from outside (file names, reasons)."""
    return value[: max_length(model, name)]
