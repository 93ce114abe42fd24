"""The one rule that makes two SKUs "the same": they are equal once ASCII letters A-Z are
folded to a-z. Every other character is compared exactly.

Why ASCII only: full Unicode case folding has no single answer. Python's `str.lower()`,
PostgreSQL's `lower()` under the database's LC_CTYPE (which differs between `C`, `C.UTF-8`
and `en_US.UTF-8` clusters), ICU and SQLite's built-in `lower()` disagree on characters such
as the Kelvin sign, the Turkish dotted I, `ß` or Greek final sigma. If the import's in-file
duplicate check and the database's unique key disagreed, a row could be dropped as a
duplicate of a SKU the database considers different, or an upsert could hit a unique
violation the import never saw coming. Folding ASCII alone is computed identically by
`sku_key()` below, by PostgreSQL's `lower(... COLLATE "C")` (whatever the database's
ctype) and by SQLite's `lower()`, and SKUs are in practice ASCII codes.
"""

from __future__ import annotations

import string

from django.db.models import CharField, Func

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def sku_key(sku: str) -> str:
    """The case-insensitive identity of a SKU, exactly as the database computes it."""
    return sku.translate(_ASCII_LOWER)


class SkuKey(Func):
    """SQL for sku_key(): lower() restricted to ASCII on every supported database."""

    function = "LOWER"
    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        # Under the "C" collation PostgreSQL folds only A-Z, independent of the database's ctype;
        # with an explicit collation the expression is immutable, as a generated column requires.
        return self.as_sql(compiler, connection, template='%(function)s(%(expressions)s COLLATE "C")', **extra_context)
