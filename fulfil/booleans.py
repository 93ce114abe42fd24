"""The one reading of true/false words, for settings, CSV cells and query parameters.

Pure Python with no Django import, so settings can use it before Django is set up. What an empty
value means is the caller's to say (a setting left empty is false; an empty `active` cell is true).
"""

from __future__ import annotations

TRUE_WORDS = ("true", "1", "yes", "y", "t", "on")
FALSE_WORDS = ("false", "0", "no", "n", "f", "off")
WORDS_HELP = "true/false, yes/no, 1/0, y/n, t/f or on/off"

_MEANING = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}


def parse_bool(value: str, *, empty: bool | None = None) -> bool | None:
    """True or False for one of the words above in any case and with any surrounding spaces,
    `empty` for an empty value, None for anything else."""
    word = value.strip().lower()
    if not word:
        return empty
    return _MEANING.get(word)
