"""Text the database can store: no NUL character, no unpaired surrogate.

PostgreSQL refuses a NUL (``\\x00``) in a text column and ``\\u0000`` in a jsonb value, and a Python string
holding an unpaired surrogate (which a JSON ``\\ud800`` escape produces) cannot even be encoded to UTF-8 for it.
SQLite takes both, so tests on SQLite alone never see the 500 such text causes on a real deployment.

Django's form fields refuse a NUL (``ProhibitNullCharactersValidator``; form data cannot hold a surrogate) and
DRF's ``CharField`` refuses both; what reaches a column by any other road (a file's cells, a JSON key, a model's
output) goes through here:

- ``problem(value)``: input from a person (an imported file's cell, a JSON document): why it cannot be stored
  (``"nul"`` or ``"surrogate"``), or ``None``; the caller refuses the input, saying why (a per-row error, a 400);
- ``storable_text(text)``: text a program produced (a model's answer, a parsed PDF): NULs are dropped and
  unpaired surrogates replaced by U+FFFD, so the rest is kept; ``removed`` says how many characters changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

NUL = "\x00"
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """``"nul"`` or ``"surrogate"`` when ``text`` cannot be stored, else ``None``."""
    if NUL in text:
        return "nul"
    if _SURROGATE.search(text):
        return "surrogate"
    return None


def problem(value: Any) -> str | None:
    """What makes ``value`` (a string, or JSON-like data: its keys too) unstorable (``"nul"`` or
    ``"surrogate"``), or ``None``."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = problem(key) or problem(item)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for item in value:
            found = problem(item)
            if found:
                return found
    return None


def removed(text: str) -> int:
    """How many characters ``storable_text`` changes in ``text``."""
    return text.count(NUL) + len(_SURROGATE.findall(text))


def storable_text(text: str) -> str:
    """``text`` with NULs dropped and unpaired surrogates replaced by U+FFFD (for text no person typed)."""
    if NUL in text:
        text = text.replace(NUL, "")
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def storable_data(value: Any) -> Any:
    """JSON-like data a program produced (a critic's feedback), every string in it (keys too) made storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, Mapping):
        return {storable_data(key): storable_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_data(item) for item in value]
    return value
