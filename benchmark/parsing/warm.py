"""Imported once in the server that ``forked`` parses are forked from, so that every fork starts warm: the
readers' libraries (pdfminer, python-docx), the character maps of Chinese PDFs (Adobe-GB1 to Unicode, the
Unicode encodings of GB fonts), which pdfminer otherwise loads in every process that reads such a PDF, and what
a first parse compiles (the readers' regular expressions, by a parse of a short law as Markdown and HTML).
Nothing here is needed for a parse to be right, only for it to start warm."""

from __future__ import annotations

import contextlib
import gc

import docx
import docx.oxml.ns
import pdfminer.converter
import pdfminer.layout
import pdfminer.pdfdocument
import pdfminer.pdfinterp
import pdfminer.pdfpage
import pdfminer.pdfparser
import pdfminer.utils
from pdfminer.cmapdb import CMapDB

from benchmark.parsing import forked, parse_file, to_json

__all__ = ["docx", "forked", "pdfminer"]

SAMPLE = "\n\n".join(
    [
        "# 测试法",
        "## 第一章 总则",
        "第一条 为了测试，制定本法。",
        "第二条 本法自公布之日起施行：",
        "（一）甲；",
        "（二）乙。",
    ]
)

for cmap in ("UniGB-UCS2-H", "UniGB-UTF16-H"):
    with contextlib.suppress(CMapDB.CMapNotFound):
        CMapDB.get_cmap(cmap)
with contextlib.suppress(CMapDB.CMapNotFound):
    CMapDB.get_unicode_map("Adobe-GB1")
for name, text in (
    ("sample.md", SAMPLE),
    ("sample.txt", SAMPLE.replace("# ", "").replace("#", "")),
    ("sample.html", "<h1>测试法</h1>" + "".join(f"<p>{line}</p>" for line in SAMPLE.splitlines()[2:] if line)),
):
    to_json(parse_file(text.encode(), name))

# What is loaded by now stays for the server's life: out of the collector's sight, so that a fork's collections
# do not touch (and copy) the pages it shares with the server.
gc.freeze()
