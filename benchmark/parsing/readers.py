"""Readers that turn a Markdown, HTML or DOCX file into text lines for ``parse_lines``, and the title rule.

The title, the same rule for every format: the document's first marked heading that is not a structural
heading (Markdown's first ``#`` heading, which is the LawRefBook title line; HTML's first ``<h1>``; DOCX's
first paragraph styled Title or Heading 1); else its metadata title (HTML ``<title>``, DOCX core-properties
title, PDF ``/Title``) unless that is a placeholder (``untitled``, a file name, ``Microsoft Word - …``); else
the first line of the text (of a PDF, the first line of its first page that is not page furniture) when it
reads as a title: short, no sentence punctuation, not an article or heading. A title given by the caller
(the curator's) overrides all three. ``Extracted.title`` applies it.

DOCX numbering: the labels Word draws before numbered paragraphs (第一条, （一）, 1.) are not in their text;
``_DocxNumbering`` writes them back, so an article numbered by a list style keeps its number.
"""

from __future__ import annotations

import html.parser
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from benchmark.parsing.structure import (
    ARTICLE,
    PAGE_NUMBER,
    TOC,
    ParseError,
    _heading,
    _squash,
    chinese_numeral,
    normalise,
)


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030, which covers GBK and GB2312 files."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ParseError("The text is neither UTF-8 nor GB18030 (GBK); save it as UTF-8 and upload it again.")


@dataclass
class Extracted:
    """What a reader found in a file: the text lines, and the title candidates of the title rule (see the
    module docstring): the first marked heading, the metadata title; the lines it left out, with reasons; the
    wrapped headings it joined back."""

    lines: list[str]
    heading: str = ""
    metadata: str = ""
    dropped: list[tuple[str, str]] = field(default_factory=list)
    replaced: int = 0
    joined: list[tuple[str, str]] = field(default_factory=list)  # (line, heading): a wrapped heading rejoined
    layout: bool = False  # the reader rejoined wrapped headings from the layout (PDF): the parse does not
    rows: list[str] = field(default_factory=list)  # PDF: every line of the pages as laid out, furniture included

    def title(self) -> str:
        for candidate in (self.heading, self.metadata):
            if _reads_as_title(candidate) and not PLACEHOLDER_TITLE.search(candidate):
                return _squash(candidate)
        first = next((line.strip() for line in self.lines if line.strip()), "")
        return _squash(first) if _reads_as_title(first) else ""


PLACEHOLDER_TITLE = re.compile(r"^(?:untitled|无标题|microsoft word\b)|\.\w{2,4}$", re.IGNORECASE)


def _reads_as_title(text: str) -> bool:
    line = normalise(text.replace("\u3000", " ").strip())[0]
    return (
        0 < len(line) <= 60
        and not re.search(r"[。；;，,：:]", line)
        and not ARTICLE.match(line)
        and _heading(line) is None
        and not TOC.match(line)
        and not PAGE_NUMBER.match(line)
    )


def markdown_lines(text: str) -> tuple[str, list[str]]:
    """LawRefBook layout: '# title', a promulgation note, ``<!-- INFO END -->``, then '## 第一章 …' and
    one article per paragraph. The note before INFO END is kept as preamble. Returns the first ``#``
    heading (when it is not a structural one such as ``# 第一章 总则``) and the lines."""
    title = ""
    lines: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("<!--"):
            continue
        if stripped.startswith("#"):
            heading = stripped.lstrip("#").strip()
            if not title and stripped.startswith("# ") and _reads_as_title(heading):
                title = heading
                continue
            lines.append(heading)
            continue
        lines.append(re.sub(r"^\s*(?:[-*+]|\d+\.)\s+", "", stripped.replace("**", "")))
    return title, lines


class _HTMLText(html.parser.HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "title"}
    SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.title = ""  # <title>
        self.heading = ""  # the first <h1> that reads as a title
        self._skip = 0
        self._in_title = False
        self._h1: list[str] | None = None  # the text of the first <h1>, while inside it

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP and tag != "head":
            self._skip += 1
        self._in_title |= tag == "title"
        if tag == "h1" and not self.heading and self._h1 is None and not self._skip:
            self._h1 = []
        if tag in self.BLOCKS:
            self.lines.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and tag != "head" and self._skip:
            self._skip -= 1
        if tag == "title":
            self._in_title = False
        if tag == "h1" and self._h1 is not None:
            text = " ".join("".join(self._h1).split())
            if _reads_as_title(text):
                self.heading = text
            else:
                self.lines[-1] += text  # 第一章 总则 as <h1>: a heading of the body, not the title
            self._h1 = None
        if tag in self.BLOCKS:
            self.lines.append("")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = self.title or data.strip()
            return
        if self._skip:
            return
        if self._h1 is not None:
            self._h1.append(data)
            return
        self.lines[-1] += data


def html_lines(text: str) -> Extracted:
    """Text of the block elements, with scripts and styles dropped. Entities are plain character
    references here (html.parser never fetches or expands external entities)."""
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    lines = [part for block in parser.lines for part in block.splitlines()]
    return Extracted(lines, heading=parser.heading, metadata=parser.title)


DOCX_MAX_ENTRIES = 2000
DOCX_MAX_UNPACKED = 200 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_TITLE_STYLES = {"title", "heading 1"}


def docx_lines(data: bytes) -> Extracted:
    """Paragraphs and table cells in document order. The archive is checked before it is opened: too
    many entries, too much unpacked data or an absurd compression ratio is refused as a zip bomb."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            unpacked = sum(entry.file_size for entry in entries)
            if len(entries) > DOCX_MAX_ENTRIES or unpacked > DOCX_MAX_UNPACKED or unpacked > DOCX_MAX_RATIO * len(data):
                raise ParseError("The DOCX file unpacks to far more than its size (a zip bomb?); it was not opened.")
    except zipfile.BadZipFile:
        raise ParseError("The file is not a valid DOCX document (it is not a ZIP archive).") from None
    import docx  # python-docx parses with resolve_entities=False: no XML entity expansion
    from docx.oxml.ns import qn

    try:
        document = docx.Document(io.BytesIO(data))
        style_names = {style.style_id: str(style.name or "").lower() for style in document.styles}
    except Exception as error:  # python-docx raises KeyError, ValueError, lxml errors… for a broken file
        raise ParseError(f"The DOCX document cannot be read: {type(error).__name__}.") from None
    found = Extracted([], metadata=str(document.core_properties.title or ""))
    label = _DocxNumbering(document)
    text_of = {qn("w:t"): None, qn("w:tab"): "\t", qn("w:br"): "\n", qn("w:cr"): "\n"}

    def runs(element: Any) -> str:
        return "".join(
            (node.text or "") if text_of[node.tag] is None else str(text_of[node.tag])
            for node in element.iter(*text_of)
        )

    for block in document.element.body.iterchildren():
        if block.tag == qn("w:p"):
            text = label(block, runs(block))
            marked = style_names.get(str(block.style or ""), "") in DOCX_TITLE_STYLES
            if marked and not found.heading and _reads_as_title(text) and not any(map(ARTICLE.match, found.lines)):
                found.heading = text.strip()
            found.lines.extend(text.split("\n"))
        elif block.tag == qn("w:tbl"):
            for cell in block.iter(qn("w:tc")):
                found.lines.extend(runs(cell).split("\n"))
    return found


def _roman(number: int) -> str:
    out = ""
    for value, letters in (
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ):
        count, number = divmod(number, value)
        out += letters * count
    return out


class _DocxNumbering:
    """The labels Word draws before numbered paragraphs and which are not in their text: 第一条, （一）, 1.
    (an article numbered by a list style would otherwise lose its number, and the parse its articles).
    Numbering comes from the paragraph or its style; counters run per list and level, a level restarts
    after a higher one, and bullets are no text."""

    FORMATS: ClassVar[dict[str, Callable[[int], str]]] = {
        "decimal": str,
        "decimalZero": lambda n: f"{n:02d}",
        "decimalFullWidth": lambda n: str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        "chineseCounting": chinese_numeral,
        "chineseCountingThousand": chinese_numeral,
        "chineseLegalSimplified": lambda n: chinese_numeral(n).translate(
            str.maketrans("一二三四五六七八九十百千", "壹贰叁肆伍陆柒捌玖拾佰仟")
        ),
        "ideographTraditional": lambda n: "甲乙丙丁戊己庚辛壬癸"[(n - 1) % 10],
        "decimalEnclosedCircle": lambda n: chr(0x2460 + n - 1) if 1 <= n <= 20 else str(n),
        "lowerLetter": lambda n: chr(ord("a") + (n - 1) % 26),
        "upperLetter": lambda n: chr(ord("A") + (n - 1) % 26),
        "lowerRoman": lambda n: _roman(n).lower(),
        "upperRoman": _roman,
    }

    def __init__(self, document: Any) -> None:
        from docx.oxml.ns import qn

        self.qn = qn
        self.levels: dict[str, dict[int, tuple[int, str, str, str]]] = {}  # numId → ilvl → start, fmt, text, suffix
        self.counters: dict[str, dict[int, int]] = {}
        self.style_numbering: dict[str, tuple[str, int]] = {}
        try:
            numbering = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            return
        val = qn("w:val")
        abstract: dict[str, dict[int, tuple[int, str, str, str]]] = {}
        for definition in numbering.iter(qn("w:abstractNum")):
            levels = abstract.setdefault(str(definition.get(qn("w:abstractNumId"))), {})
            for level in definition.iter(qn("w:lvl")):
                start, fmt, text, suffix = (
                    level.find(qn("w:start")),
                    level.find(qn("w:numFmt")),
                    level.find(qn("w:lvlText")),
                    level.find(qn("w:suff")),
                )
                levels[int(level.get(qn("w:ilvl"), "0"))] = (
                    int(start.get(val, "1")) if start is not None else 1,
                    str(fmt.get(val, "decimal")) if fmt is not None else "decimal",
                    str(text.get(val, "")) if text is not None else "",
                    str(suffix.get(val, "tab")) if suffix is not None else "tab",
                )
        for num in numbering.iter(qn("w:num")):
            base = num.find(qn("w:abstractNumId"))
            levels = dict(abstract.get(str(base.get(val)) if base is not None else "", {}))
            for override in num.iter(qn("w:lvlOverride")):
                start = override.find(qn("w:startOverride"))
                ilvl = int(override.get(qn("w:ilvl"), "0"))
                if start is not None and ilvl in levels:
                    levels[ilvl] = (int(start.get(val, "1")), *levels[ilvl][1:])
            self.levels[str(num.get(qn("w:numId")))] = levels
        for style in document.styles:
            num_pr = style.element.find(f"{qn('w:pPr')}/{qn('w:numPr')}")
            if num_pr is not None:
                self.style_numbering[str(style.style_id)] = self._num_pr(num_pr) or ("", 0)

    def _num_pr(self, num_pr: Any) -> tuple[str, int] | None:
        qn, val = self.qn, self.qn("w:val")
        num_id, ilvl = num_pr.find(qn("w:numId")), num_pr.find(qn("w:ilvl"))
        if num_id is None:
            return None
        return str(num_id.get(val)), int(ilvl.get(val, "0")) if ilvl is not None else 0

    def __call__(self, paragraph: Any, text: str) -> str:
        num_pr = paragraph.find(f"{self.qn('w:pPr')}/{self.qn('w:numPr')}")
        where = self._num_pr(num_pr) if num_pr is not None else self.style_numbering.get(str(paragraph.style or ""))
        if where is None or where[0] not in self.levels or where[1] not in self.levels[where[0]] or not text.strip():
            return text  # numId 0 switches numbering off; an empty paragraph draws no number
        num_id, ilvl = where
        levels, counters = self.levels[num_id], self.counters.setdefault(num_id, {})
        start, fmt, pattern, suffix = levels[ilvl]
        counters[ilvl] = counters.get(ilvl, start - 1) + 1
        for deeper in [level for level in counters if level > ilvl]:
            del counters[deeper]
        if fmt not in self.FORMATS:
            return text  # a bullet, or a format that writes no text
        label = re.sub(
            r"%([1-9])",
            lambda m: self._format(levels, counters, int(m.group(1)) - 1),
            pattern,
        )
        separator = "" if suffix == "nothing" or label.endswith(tuple("）)、.．")) else " "
        return f"{label}{separator}{text}" if label else text

    def _format(self, levels: dict[int, tuple[int, str, str, str]], counters: dict[int, int], level: int) -> str:
        start, fmt = levels.get(level, (1, "decimal", "", ""))[:2]
        return self.FORMATS.get(fmt, str)(counters.get(level, start))
