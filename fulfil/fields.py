"""Helpers for model fields: their limits, read from the models so no limit is written twice."""

from __future__ import annotations

from django.db.models import Field, Model


def max_length(model: type[Model], name: str) -> int | None:
    """The field's max_length, as the model declares it (reading it touches no database)."""
    field = model._meta.get_field(name)
    return field.max_length if isinstance(field, Field) else None


def fit(model: type[Model], name: str, value: str) -> str:
    """`value` cut to the field's max_length, for text that comes from outside (file names, reasons)."""
    limit = max_length(model, name)
    return value[:limit] if limit else value
