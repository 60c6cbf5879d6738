"""Imported once in the server that ``forked`` parses are forked from: pdfminer, and the character maps of
Chinese PDFs (Adobe-GB1 to Unicode, the Unicode encodings of GB fonts), which pdfminer otherwise loads in every
process that reads such a PDF. Nothing here is needed for a parse to be right, only for it to start warm."""

from __future__ import annotations

import contextlib

import pdfminer.converter
import pdfminer.layout
import pdfminer.pdfdocument
import pdfminer.pdfinterp
import pdfminer.pdfpage
import pdfminer.pdfparser
import pdfminer.utils
from pdfminer.cmapdb import CMapDB

import benchmark.parsing  # noqa: F401 - the parser itself

__all__ = ["pdfminer"]

for cmap in ("UniGB-UCS2-H", "UniGB-UTF16-H"):
    with contextlib.suppress(CMapDB.CMapNotFound):
        CMapDB.get_cmap(cmap)
with contextlib.suppress(CMapDB.CMapNotFound):
    CMapDB.get_unicode_map("Adobe-GB1")
