"""How the OpenAPI schema (drf-spectacular) describes the API beyond what it infers: every
operation's error answers, and paths documented without their optional trailing slash."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers


def strip_optional_slash(endpoints):
    """drf-spectacular hook: routes match with or without a trailing slash; document them without."""
    return [
        (path.rstrip("/") if path != "/" else path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


class ErrorSerializer(serializers.Serializer):
    """An error: `detail` (a message, or a list of them) and often a `code`; a 400 about the body
    or the query gives a list of messages per field instead (`{"sku": ["..."]}`)."""

    detail = serializers.JSONField(required=False, help_text="What went wrong.")
    code = serializers.CharField(required=False, help_text="A stable name for the error, e.g. duplicate_sku.")


# Answers any operation may give, and those of operations that take a body.
ERRORS = {
    "400": "Invalid input: messages per field, or `detail`.",
    "401": "No credentials, or wrong ones.",
    "403": "Signed in without the permission this needs.",
    "404": "Not found.",
    "405": "Method not allowed.",
    "429": "Too many requests: wait as many seconds as the Retry-After header says.",
    "503": "A dependency is down, or the query took too long.",
}
BODY_ERRORS = {
    "409": "Conflicts with the current state.",
    "413": "The request body is too large.",
    "415": "Unsupported media type.",
}


# Python's whitespace (str.isspace), which DRF trims from text fields: a value of nothing else is blank.
SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
NO_NUL = "^[^\\x00]*$"  # PostgreSQL text cannot hold NUL; DRF refuses it
NOT_BLANK = f"^[^\\x00]*[^\\x00{SPACE}][^\\x00]*$"


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema, plus the shared error answers on every operation, and request
    text fields whose pattern says what DRF refuses: NUL characters, and blank values where blank
    is not allowed. A field's `request_pattern` replaces that (for requests only)."""

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        """As drf-spectacular, which offers a blank field with a pattern "or an empty string"
        (oneOf): when the pattern takes the empty string itself, "" would match both and oneOf
        none, so the alternative is left out."""
        super()._insert_field_validators(field, schema)
        one_of = schema.get("oneOf")
        if one_of and len(one_of) == 2 and one_of[1] == {"type": "string", "maxLength": 0}:
            inner = one_of[0]
            if "format" not in inner and not inner.get("minLength") and re.search(inner.get("pattern", ""), ""):
                del schema["oneOf"]
                schema.update(inner)

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request" or not isinstance(field, serializers.CharField) or schema.get("type") != "string":
            return schema
        request_pattern = getattr(field, "request_pattern", None)
        if request_pattern:
            return {**schema, "pattern": request_pattern}
        if "pattern" not in schema and "format" not in schema:
            blank_refused = field.trim_whitespace and not field.allow_blank
            schema = {**schema, "pattern": NOT_BLANK if blank_refused else NO_NUL}
        return schema

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        errors = {**ERRORS, **(BODY_ERRORS if self.method in ("POST", "PUT", "PATCH") else {})}
        for code, description in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code]["description"] = description
        return responses


class SingleObjectSchema(AutoSchema):
    """For a viewset whose `list` answers one object (the health check), not a list."""

    def _is_list_view(self, serializer: Any = None) -> bool:
        return False
