"""Split the text of a Chinese legal or ethical source into its structure: 编 / 分编 / 章 / 节 and 条.

Pure Python with no Django imports, so it can be tested and benchmarked alone. The readers turn a file
into lines; ``parse_lines`` does the rest:

* article numbers as integers, in Chinese or Arabic numerals, with 第N条之一 as a suffix;
* multi-paragraph articles (every line until the next article or heading belongs to the article);
* codes whose books start mid-way (民法典's 第四编 starts at 第九百八十九条): numbers are taken as written;
* 附则 standing alone as a chapter heading without 第N章;
* a table of contents (目录) is skipped, and PDF running headers and page numbers are dropped;
* numbering gaps or reversals become warnings for the curator, not errors;
* NUL characters (a damaged text layer or a binary file named .txt) are dropped and unpaired surrogates
  replaced, with a warning: the database stores neither.
"""

from __future__ import annotations

import argparse
import html.parser
import io
import json
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

NUMERAL = r"[零〇一二两三四五六七八九十百千万\d]+"
SPACE = r"[\s\u3000]"
HEADING = re.compile(rf"^第{SPACE}*({NUMERAL}){SPACE}*(分编|编|章|节)({SPACE}+|$)?(.*)$")
ARTICLE = re.compile(rf"^第{SPACE}*({NUMERAL}){SPACE}*条(?:之({NUMERAL}))?({SPACE}+|$)?(.*)$", re.DOTALL)
# How a sentence that merely cites 第N条/第N章 goes on: 第三章规定的… 第十条的规定… 第二条、第三条…
CITATION_TAIL = re.compile(r"^(?:规定|的|、|和|或|第|款|项|中|所|至|以及|及|之外|以外|外|当|条|章|节)")
TOC_LEADER = re.compile(r"[\s\u3000.．·…_\-—]*\d*$")
SUPPLEMENTARY = re.compile(rf"^附{SPACE}*则$")
TOC = re.compile(rf"^目{SPACE}*录$")
LIST_ITEM = re.compile(r"^(?:[（(][一二三四五六七八九十]+[)）]|[一二三四五六七八九十]+、|\d+[.、．])")
PAGE_NUMBER = re.compile(
    rf"^(?:[-—–]{SPACE}*\d+{SPACE}*[-—–]|\d+|第{SPACE}*\d+{SPACE}*页(?:{SPACE}*[,，/]?{SPACE}*共{SPACE}*\d+{SPACE}*页)?|\d+{SPACE}*/{SPACE}*\d+)$"
)
PARAGRAPH_END = "。：:！!？?"
LEVELS = {"编": "book", "分编": "part", "章": "chapter", "节": "section"}
# A heading of one level closes the divisions below it.
BELOW = {"book": ("part", "chapter", "section"), "part": ("chapter", "section"), "chapter": ("section",), "section": ()}


class ParseError(ValueError):
    """The text has no recognisable articles or cannot be read; the message says which."""


DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
UNITS = {"十": 10, "百": 100, "千": 1000}


def numeral(text: str) -> int:
    """二十三 → 23, 一百零五 → 105, 十 → 10, 12 → 12. Raises ValueError for a malformed numeral such as 千千.

    Written out rather than taken from cn2an: the parser runs in a fresh child process per file, and importing
    cn2an costs about 0.2 s there. The tests check both directions against cn2an for 1..20000."""
    if text.isdigit():
        return int(text)
    total = section = 0
    pending: int | None = None  # a digit waiting for its unit
    last_unit = 10_000  # units fall within a section: 千 before 百 before 十
    for char in text:
        if char in DIGITS:
            if pending is not None and pending != 0 and DIGITS[char] != 0:
                raise ValueError(f"not a numeral: {text}")  # 二三
            pending = DIGITS[char] if DIGITS[char] or pending is None else pending
        elif char in UNITS:
            unit = UNITS[char]
            if unit >= last_unit or pending == 0 or (pending is None and unit != 10):
                raise ValueError(f"not a numeral: {text}")  # 千千, 零十, 百
            section += (1 if pending is None else pending) * unit
            pending, last_unit = None, unit
        elif char == "万" and total == 0 and (section or pending):
            total, section, pending, last_unit = (section + (pending or 0)) * 10_000, 0, None, 10_000
        else:
            raise ValueError(f"not a numeral: {text}")
    value = total + section + (pending or 0)
    if value == 0 and text not in {"零", "〇"}:
        raise ValueError(f"not a numeral: {text}")
    return value


def chinese_numeral(number: int) -> str:
    """23 → 二十三, 10 → 十, 105 → 一百零五, 1010 → 一千零一十, 10010 → 一万零一十 (as cn2an.an2cn writes them)."""
    if number < 0 or number >= 100_000_000:
        raise ValueError(f"out of range: {number}")
    if number == 0:
        return "零"
    names = "零一二三四五六七八九"

    def below_10000(n: int) -> str:
        out, zero = "", False
        for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
            digit = n // unit % 10
            if digit == 0:
                zero = bool(out)
                continue
            out += ("零" if zero else "") + names[digit] + name
            zero = False
        return out

    high, low = divmod(number, 10_000)
    if not high:
        text = below_10000(low)
        return text[1:] if 10 <= low < 20 else text  # 十三, not 一十三
    return below_10000(high) + "万" + ("零" if 0 < low < 1000 else "") + (below_10000(low) if low else "")


@dataclass
class Division:
    level: str  # book | part | chapter | section
    number: int | None  # None for a bare 附则
    label: str  # 第一章
    title: str  # 总则

    @property
    def heading(self) -> str:
        return f"{self.label} {self.title}".strip()


@dataclass
class Article:
    number: int
    suffix: int  # 1 for 第十条之一, 0 otherwise
    paragraphs: list[str]
    book: Division | None = None
    part: Division | None = None
    chapter: Division | None = None
    section: Division | None = None

    @property
    def label(self) -> str:
        base = f"第{chinese_numeral(self.number)}条"
        return f"{base}之{chinese_numeral(self.suffix)}" if self.suffix else base

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass
class ParsedDocument:
    title: str
    preamble: list[str] = field(default_factory=list)
    divisions: list[Division] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, level: str) -> int:
        return sum(1 for division in self.divisions if division.level == level)


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(lines: list[str], title: str) -> tuple[list[str], str, int]:
    """Lines and title without NULs (PostgreSQL stores none) and with unpaired surrogates replaced (they cannot
    be encoded); the count of characters changed. (The same rule as ``medes_site.storable``, written out here:
    this module imports no Django.)"""
    changed = sum(len(UNSTORABLE.findall(line)) for line in lines) + len(UNSTORABLE.findall(title))
    if not changed:
        return lines, title, 0

    def fix(text: str) -> str:
        return UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)

    return [fix(line) for line in lines], fix(title), changed


def parse_lines(lines: Iterable[str], *, title: str = "", join_wrapped: bool = False) -> ParsedDocument:
    """Parse text lines. ``join_wrapped`` (for PDF text) joins a line to the previous one when the
    previous one does not end a sentence, undoing the layout's line breaks."""
    lines, title, unstorable = _storable(list(lines), title)
    if join_wrapped:
        headers = _running_headers(lines)
        title = title or (headers[0] if headers else "")
        lines = [line for line in lines if _squash(line.strip()) not in headers]
    cleaned = list(_clean(lines, title))
    if join_wrapped:
        cleaned = list(_join_wrapped(cleaned))
    doc = ParsedDocument(title=title)
    current: dict[str, Division | None] = {"book": None, "part": None, "chapter": None, "section": None}
    article: Article | None = None
    in_toc = False
    toc_first: str | None = None
    for line in cleaned:
        if TOC.match(line):
            in_toc, toc_first = True, None
            continue
        if in_toc:
            heading = _heading(TOC_LEADER.sub("", line))
            if ARTICLE.match(line) and _heading(line) is None:
                in_toc = False  # an article: the body has started (its first heading was not repeated)
            elif heading is None:
                continue
            elif toc_first is None:
                toc_first = heading.heading
                continue
            elif heading.heading != toc_first or TOC_LEADER.sub("", line) != line:
                continue
            else:
                in_toc = False  # the first heading again, without leaders: the body starts here
        heading = _heading(line)
        if heading is not None:
            article = None  # the lines after a heading belong to no article until the next one starts
            current[heading.level] = heading
            for lower in BELOW[heading.level]:
                current[lower] = None
            if heading.number is None:  # a bare 附则 closes the books and parts above it too
                current["book"] = current["part"] = None
            doc.divisions.append(heading)
            continue
        match = ARTICLE.match(line)
        last = doc.articles[-1] if doc.articles else None
        if match and _is_article_start(match, last):
            number = numeral(match.group(1))
            suffix = numeral(match.group(2)) if match.group(2) else 0
            _check_order(doc, last, number, suffix)
            body = match.group(4).strip()
            article = Article(number=number, suffix=suffix, paragraphs=[body] if body else [], **current)
            doc.articles.append(article)
            continue
        if article is None:
            doc.preamble.append(line)
        else:
            article.paragraphs.append(line)
    if not doc.articles:
        raise ParseError("No articles (第N条) were found in the text.")
    if unstorable:
        doc.warnings.insert(
            0,
            f"{unstorable} NUL or broken characters were removed from the text (a damaged text "
            "layer?); compare the articles with the original.",
        )
    return doc


def _heading(line: str) -> Division | None:
    match = HEADING.match(line)
    if match:
        title = match.group(4)
        spaced = match.group(3) is not None
        # A heading is short and has no sentence punctuation; without a space after 章 it must also not
        # read as a citation (第三章规定的…), which a PDF line wrap can put at the start of a line.
        if len(title) > 40 or re.search(r"[，。；;]", title) or (not spaced and CITATION_TAIL.match(title)):
            return None
        try:
            number = numeral(match.group(1))
        except ValueError:
            return None
        kind = match.group(2)
        return Division(LEVELS[kind], number, f"第{match.group(1)}{kind}", _squash(title))
    if SUPPLEMENTARY.match(line):
        return Division("chapter", None, "", "附则")
    return None


def _is_article_start(match: re.Match[str], previous: Article | None) -> bool:
    """第十条 followed by a space (or nothing) starts an article. Without the space (PDF text often loses
    it) only the expected next number does, so a paragraph opening with 第十条规定… stays a paragraph."""
    try:
        number = numeral(match.group(1))
        suffix = numeral(match.group(2)) if match.group(2) else 0
    except ValueError:
        return False
    if match.group(3) is not None:
        return True
    if CITATION_TAIL.match(match.group(4)):
        return False
    if previous is None:
        return number == 1
    return (number, suffix) in {(previous.number + 1, 0), (previous.number, previous.suffix + 1)}


def _check_order(doc: ParsedDocument, previous: Article | None, number: int, suffix: int) -> None:
    if previous is None:
        return
    if (number, suffix) <= (previous.number, previous.suffix):
        doc.warnings.append(f"第{number}条 comes after 第{previous.number}条: numbering goes backwards.")
    elif suffix == 0 and number > previous.number + 1:
        missing = f"{previous.number + 1}" if number == previous.number + 2 else f"{previous.number + 1}–{number - 1}"
        doc.warnings.append(f"Articles {missing} are missing before 第{number}条.")


def _squash(text: str) -> str:
    """总 则 → 总则 (headings are often letter-spaced), keeping spaces between Latin words."""
    return re.sub(r"(?<=[\u4e00-\u9fff])[\s\u3000]+(?=[\u4e00-\u9fff])", "", text.strip())


def _running_headers(lines: list[str]) -> list[str]:
    """Short lines repeated on three or more pages (a law's title, an issuer's name) are page furniture,
    most frequent first. Headings and articles never count, however often they repeat."""
    counts: dict[str, int] = {}
    for raw in lines:
        line = _squash(raw.strip())
        words = len(re.findall(r"\w", line))
        if (
            words >= 4
            and len(line) <= 40
            and not PAGE_NUMBER.match(line)
            and not ARTICLE.match(line)
            and not _heading(line)
        ):
            counts[line] = counts.get(line, 0) + 1
    return [line for line, n in sorted(counts.items(), key=lambda item: -item[1]) if n >= 3]


def _clean(lines: Iterable[str], title: str) -> Iterator[str]:
    seen_title = False
    for raw in lines:
        line = raw.replace("\u3000", " ").replace("\xa0", " ").strip()
        if not line or PAGE_NUMBER.match(line):
            continue
        if title and _squash(line) == _squash(title):
            if seen_title:
                continue  # a running header repeating the title on every page
            seen_title = True
            continue
        yield line


def _join_wrapped(lines: list[str]) -> Iterator[str]:
    """Undo a PDF's line wrapping. A line as long as the page allows was wrapped, unless it ends a
    sentence (。：！？); a shorter line ends its paragraph. Articles, headings and list items（一）
    always start anew. (A paragraph whose sentence ends exactly at a line's end is split in two: the
    text layer alone cannot tell; the words are all kept.)"""
    full = _full_line_length(lines)
    buffer, previous = "", ""
    for line in lines:
        starts_new = bool(ARTICLE.match(line) or _heading(line) or TOC.match(line) or LIST_ITEM.match(line))
        wrapped = len(previous) >= full and not previous.endswith(tuple(PARAGRAPH_END))
        if buffer and (starts_new or _heading(buffer) or not wrapped):
            yield buffer
            buffer = line
        else:
            buffer += line
        previous = line
    if buffer:
        yield buffer


def _full_line_length(lines: list[str]) -> int:
    """The length of a full line on this document's pages: the length most long lines share."""
    lengths = sorted(len(line) for line in lines if len(line) >= 10)
    if not lengths:
        return 10**6
    typical = lengths[int(len(lengths) * 0.9)]  # the 90th percentile: full lines dominate the top
    return max(10, int(typical * 0.9))


# --- readers ------------------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030, which covers GBK and GB2312 files."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ParseError("The text is neither UTF-8 nor GB18030 (GBK); save it as UTF-8 and upload it again.")


def markdown_lines(text: str) -> tuple[str, list[str]]:
    """LawRefBook layout: '# title', a promulgation note, ``<!-- INFO END -->``, then '## 第一章 …' and
    one article per paragraph. The note before INFO END is kept as preamble."""
    title = ""
    lines: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("<!--"):
            continue
        if stripped.startswith("#"):
            heading = stripped.lstrip("#").strip()
            if not title and stripped.startswith("# "):
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
        self.title = ""
        self._skip = 0
        self._in_title = False
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP and tag != "head":
            self._skip += 1
        self._in_title |= tag == "title"
        self._in_h1 |= tag == "h1"
        if tag in self.BLOCKS:
            self.lines.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and tag != "head" and self._skip:
            self._skip -= 1
        if tag == "title":
            self._in_title = False
        if tag == "h1":
            self._in_h1 = False
        if tag in self.BLOCKS:
            self.lines.append("")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = self.title or data.strip()
            return
        if self._skip:
            return
        if self._in_h1 and not self.title:
            self.title = data.strip()
            return
        self.lines[-1] += data


def html_lines(text: str) -> tuple[str, list[str]]:
    """Text of the block elements, with scripts and styles dropped. Entities are plain character
    references here (html.parser never fetches or expands external entities)."""
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return parser.title, [part for block in parser.lines for part in block.splitlines()]


DOCX_MAX_ENTRIES = 2000
DOCX_MAX_UNPACKED = 200 * 1024 * 1024
DOCX_MAX_RATIO = 100


def docx_lines(data: bytes) -> tuple[str, list[str]]:
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
    except Exception as error:  # python-docx raises KeyError, ValueError, lxml errors… for a broken file
        raise ParseError(f"The DOCX document cannot be read: {type(error).__name__}.") from None
    title = str(document.core_properties.title or "")
    lines: list[str] = []
    text_of = {qn("w:t"): None, qn("w:tab"): "\t", qn("w:br"): "\n", qn("w:cr"): "\n"}

    def runs(element: Any) -> str:
        return "".join(
            (node.text or "") if text_of[node.tag] is None else str(text_of[node.tag])
            for node in element.iter(*text_of)
        )

    for block in document.element.body.iterchildren():
        if block.tag == qn("w:p"):
            lines.extend(runs(block).split("\n"))
        elif block.tag == qn("w:tbl"):
            for cell in block.iter(qn("w:tc")):
                lines.extend(runs(cell).split("\n"))
    return title, lines


def pdf_lines(data: bytes) -> list[str]:
    """Text of a PDF's pages (pdfminer.six). Encrypted and broken files are refused with a reason."""
    from pdfminer.high_level import extract_text
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfminer.psexceptions import PSException

    try:
        text = extract_text(io.BytesIO(data))
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise ParseError("The PDF is encrypted; upload an unprotected copy.") from None
    except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError):
        raise ParseError("The PDF is damaged or not a PDF; it could not be read.") from None
    if not text.strip():
        raise ParseError("The PDF has no text layer (a scan?); upload a text PDF or the official text.")
    return text.splitlines()


def parse_file(data: bytes, name: str, *, title: str = "") -> ParsedDocument:
    """Parse a source file by its type: Markdown, HTML, plain text, DOCX or PDF."""
    suffix = PurePath(name).suffix.lower()
    join_wrapped = False
    if suffix in {".md", ".markdown"}:
        found, lines = markdown_lines(decode(data))
    elif suffix in {".html", ".htm"}:
        found, lines = html_lines(decode(data))
    elif suffix == ".txt":
        found, lines = "", decode(data).splitlines()
    elif suffix == ".docx":
        found, lines = docx_lines(data)
    elif suffix == ".pdf":
        found, lines, join_wrapped = "", pdf_lines(data), True
    else:
        raise ParseError(f"Parsing {suffix or 'this'} files is not supported; use PDF, DOCX, HTML, Markdown or text.")
    return parse_lines(lines, title=title or found, join_wrapped=join_wrapped)


def to_json(doc: ParsedDocument) -> dict[str, Any]:
    """The parse as plain data, as the isolated parser process hands it back."""

    def heading(division: Division | None) -> str:
        return division.heading if division else ""

    return {
        "title": doc.title,
        "chapters": doc.count("chapter"),
        "warnings": doc.warnings,
        "articles": [
            {
                "number": a.number, "suffix": a.suffix, "label": a.label, "text": a.text,
                "book": heading(a.book), "part": heading(a.part), "chapter": heading(a.chapter),
                "section": heading(a.section),
            }
            for a in doc.articles
        ],
    }  # fmt: skip


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
    import resource  # applied here, in the child itself, rather than in a preexec_fn of a threaded parent

    if args.cpu_seconds:
        resource.setrlimit(resource.RLIMIT_CPU, (args.cpu_seconds, args.cpu_seconds + 5))
    if args.memory_mb:
        resource.setrlimit(resource.RLIMIT_AS, (args.memory_mb << 20, args.memory_mb << 20))
    try:
        doc = parse_file(args.file.read_bytes(), args.name or args.file.name, title=args.title)
    except ParseError as error:
        sys.stderr.write(f"{error}\n")
        return 3
    json.dump(to_json(doc), sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
