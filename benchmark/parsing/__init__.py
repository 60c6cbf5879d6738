"""Split the text of a Chinese legal or ethical source into its structure: 编 / 分编 / 章 / 节 and 条.

Pure Python with no Django imports, so it can be tested and benchmarked alone; the workbench runs it as a
child process per file (``python -m benchmark.parsing FILE``, see ``main``). A reader turns a file into
lines and ``parse_lines`` does the rest. The modules:

* ``structure``: numerals, look-alike characters (``normalise``), the parse of lines into divisions and
  articles, and what it drops and why;
* ``readers``: Markdown, HTML and DOCX files, and the title rule every format shares;
* ``pdf``: PDF files, their page headers and footers found by position, lines rejoined into paragraphs;
* ``forked``: parses in processes forked from a server that has the parser loaded (``import_sources``);
* here: ``parse_file`` (``extract``, which picks the reader by the file's suffix, then ``parse_extracted``),
  ``to_json``, ``main`` and ``limit``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path, PurePath
from typing import Any

from benchmark.parsing.pdf import pdf_lines
from benchmark.parsing.readers import Extracted, decode, docx_lines, html_lines, markdown_lines
from benchmark.parsing.structure import (
    FURNITURE,
    LOOKALIKE,
    NO_ARTICLE,
    PAGE_FOOTER,
    PAGE_HEADER,
    PAGE_NUMBER_LINE,
    REPEATED_HEADING,
    TITLE_LINE,
    TOC_LINE,
    Article,
    Division,
    ParsedDocument,
    ParseError,
    chinese_numeral,
    normalise,
    numeral,
    parse_lines,
)

__all__ = [
    "FURNITURE",
    "LOOKALIKE",
    "NO_ARTICLE",
    "PAGE_FOOTER",
    "PAGE_HEADER",
    "PAGE_NUMBER_LINE",
    "REPEATED_HEADING",
    "TITLE_LINE",
    "TOC_LINE",
    "Article",
    "Division",
    "Extracted",
    "ParseError",
    "ParsedDocument",
    "chinese_numeral",
    "decode",
    "docx_lines",
    "extract",
    "html_lines",
    "limit",
    "main",
    "markdown_lines",
    "normalise",
    "numeral",
    "parse_extracted",
    "parse_file",
    "parse_lines",
    "pdf_lines",
    "to_json",
]


def parse_file(data: bytes, name: str, *, title: str = "") -> ParsedDocument:
    """Parse a source file by its type: Markdown, HTML, plain text, DOCX or PDF. The title is the caller's,
    else the document's own by the title rule (see ``readers``)."""
    return parse_extracted(extract(data, name), title=title)


def extract(data: bytes, name: str) -> Extracted:
    """The text lines of a file, read by the reader its suffix picks, with what the reader left out."""
    suffix = PurePath(name).suffix.lower()
    if suffix in {".md", ".markdown"}:
        heading, lines = markdown_lines(decode(data))
        return Extracted(lines, heading=heading)
    if suffix in {".html", ".htm"}:
        return html_lines(decode(data))
    if suffix == ".txt":
        return Extracted(decode(data).splitlines())
    if suffix == ".docx":
        return docx_lines(data)
    if suffix == ".pdf":
        return pdf_lines(data)
    raise ParseError(f"Parsing {suffix or 'this'} files is not supported; use PDF, DOCX, HTML, Markdown or text.")


def parse_extracted(found: Extracted, *, title: str = "") -> ParsedDocument:
    """The parse of a reader's lines; what the reader dropped, joined and replaced is reported with it."""
    doc = parse_lines(found.lines, title=title or found.title(), join_headings=not found.layout)
    doc.dropped[:0] = found.dropped
    doc.joined[:0] = found.joined
    doc.replaced += found.replaced
    return doc


def to_json(doc: ParsedDocument) -> dict[str, Any]:
    """The parse as plain data, as the isolated parser process hands it back."""

    def heading(division: Division | None) -> str:
        return division.heading if division else ""

    return {
        "title": doc.title,
        "chapters": doc.count("chapter"),  # numbered ones: the official count
        "unnumbered": doc.unnumbered,  # a bare 附则…
        "warnings": doc.warnings,
        "dropped": [list(item) for item in doc.dropped],
        "notes": doc.notes,
        "articles": [
            {
                "number": a.number,
                "suffix": a.suffix,
                "label": a.label,
                "text": a.text,
                "book": heading(a.book),
                "part": heading(a.part),
                "chapter": heading(a.chapter),
                "section": heading(a.section),
            }
            for a in doc.articles
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmark.parsing FILE [--name N] [--title T]``: the parse as JSON on stdout; on a
    file that cannot be parsed, the reason on stderr and exit status 3."""
    parser = argparse.ArgumentParser(prog="python -m benchmark.parsing", description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--name", help="the original file name (its suffix picks the reader)")
    parser.add_argument("--title", default="")
    parser.add_argument("--cpu-seconds", type=int, default=0, help="limit this process's CPU time")
    parser.add_argument("--memory-mb", type=int, default=0, help="limit this process's address space")
    args = parser.parse_args(argv)
    limit(args.cpu_seconds, args.memory_mb)
    try:
        doc = parse_file(args.file.read_bytes(), args.name or args.file.name, title=args.title)
    except ParseError as error:
        sys.stderr.write(f"{error}\n")
        return 3
    json.dump(to_json(doc), sys.stdout, ensure_ascii=False)
    return 0


def limit(cpu_seconds: int, memory_mb: int) -> None:
    """Limit this process's CPU time and address space (0: no limit). Applied in the parser's process itself
    (``main``, ``forked``), rather than in a preexec_fn of a threaded parent."""
    import resource

    if cpu_seconds:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    if memory_mb:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
