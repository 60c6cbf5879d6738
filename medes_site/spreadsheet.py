"""Cells of CSV files meant for spreadsheet programs, safe to open (DESIGN.md §9: spreadsheet cells are escaped).

A spreadsheet program runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and a leading tab
or carriage return hides such a start): a rationale or a scenario written as ``=HYPERLINK("http://…", "…")``
would become a live link, or worse, on a reviewer's machine. Following OWASP ("CSV injection"), such a text cell
is written with a single quote in front, which the program shows as text and does not store.

Numbers are not text: a score of ``-1`` stays a number (ints and floats pass untouched, and so does a string
that is a plain number such as ``"-1"`` or ``"+0.5"``, which no program reads as a formula).

Use ``safe_cell`` on every cell (header cells too) of every CSV written for people to open; formats other tools
read byte for byte (the MedES CSV of a release) stay as they are and offer an escaped variant beside them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet should receive it: a text that a spreadsheet would run as a formula gets a
    leading single quote; numbers, plain-number strings, empty cells and everything else are returned as they are."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS) or PLAIN_NUMBER.match(value):
        return value
    return "'" + value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in values]
