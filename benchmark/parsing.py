"""Split the text of a Chinese legal or ethical source into its structure: 编 / 分编 / 章 / 节 and 条.

Pure Python with no Django imports, so it can be tested and benchmarked alone. The readers turn a file
into lines; ``parse_lines`` does the rest:

* article numbers as integers, in Chinese or Arabic numerals, with 第N条之一 as a suffix;
* multi-paragraph articles (every line until the next article or heading belongs to the article);
* codes whose books start mid-way (民法典's 第四编 starts at 第九百八十九条): numbers are taken as written;
* 附则 standing alone as a chapter heading without 第N章;
* a table of contents (目录) is skipped, and PDF running headers and page numbers are dropped;
* numbering gaps or reversals become warnings for the curator, not errors.
"""

from __future__ import annotations

import html.parser
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath

import cn2an

NUMERAL = r"[零〇一二两三四五六七八九十百千万\d]+"
SPACE = r"[\s\u3000]"
HEADING = re.compile(rf"^第({NUMERAL})(分编|编|章|节){SPACE}*(.*)$")
ARTICLE = re.compile(rf"^第({NUMERAL})条(?:之({NUMERAL}))?({SPACE}+|$)?(.*)$", re.DOTALL)
SUPPLEMENTARY = re.compile(rf"^附{SPACE}*则$")
TOC = re.compile(rf"^目{SPACE}*录$")
PAGE_NUMBER = re.compile(
    rf"^(?:[-—–]{SPACE}*\d+{SPACE}*[-—–]|\d+|第{SPACE}*\d+{SPACE}*页(?:{SPACE}*[,，/]?{SPACE}*共{SPACE}*\d+{SPACE}*页)?|\d+{SPACE}*/{SPACE}*\d+)$"
)
SENTENCE_END = '。；;：:！!？?）)」』”"'
LEVELS = {"编": "book", "分编": "part", "章": "chapter", "节": "section"}
# A heading of one level closes the divisions below it.
BELOW = {"book": ("part", "chapter", "section"), "part": ("chapter", "section"), "chapter": ("section",), "section": ()}


class ParseError(ValueError):
    """The text has no recognisable articles or cannot be read; the message says which."""


def numeral(text: str) -> int:
    """二十三 → 23, 一百零五 → 105, 12 → 12."""
    return int(text) if text.isdigit() else int(cn2an.cn2an(text.replace("两", "二").replace("〇", "零"), "smart"))


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
        base = f"第{cn2an.an2cn(self.number)}条"
        return f"{base}之{cn2an.an2cn(self.suffix)}" if self.suffix else base

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


def parse_lines(lines: Iterable[str], *, title: str = "", join_wrapped: bool = False) -> ParsedDocument:
    """Parse text lines. ``join_wrapped`` (for PDF text) joins a line to the previous one when the
    previous one does not end a sentence, undoing the layout's line breaks."""
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
        heading = _heading(line)
        if in_toc:
            if heading is None:
                continue
            if toc_first is None:
                toc_first = heading.heading
                continue
            if heading.heading != toc_first:
                continue
            in_toc = False  # the first heading again: the body starts here
        if heading is not None:
            article = None  # the lines after a heading belong to no article until the next one starts
            current[heading.level] = heading
            for lower in BELOW[heading.level]:
                current[lower] = None
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
    return doc


def _heading(line: str) -> Division | None:
    match = HEADING.match(line)
    if match and len(match.group(3)) <= 40:  # a heading is short; a long line is a sentence
        kind = match.group(2)
        return Division(LEVELS[kind], numeral(match.group(1)), f"第{match.group(1)}{kind}", _squash(match.group(3)))
    if SUPPLEMENTARY.match(line):
        return Division("chapter", None, "", "附则")
    return None


def _is_article_start(match: re.Match[str], previous: Article | None) -> bool:
    """第十条 followed by a space (or nothing) starts an article. Without the space (PDF text often loses
    it) only the expected next number does, so a paragraph opening with 第十条规定… stays a paragraph."""
    if match.group(3) is not None:
        return True
    number = numeral(match.group(1))
    suffix = numeral(match.group(2)) if match.group(2) else 0
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
    buffer = ""
    for line in lines:
        starts_new = bool(ARTICLE.match(line) or _heading(line) or TOC.match(line))
        if buffer and (starts_new or buffer.endswith(tuple(SENTENCE_END)) or _heading(buffer)):
            yield buffer
            buffer = line
        else:
            buffer += line
    if buffer:
        yield buffer


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
    return parser.title, parser.lines


def parse_file(data: bytes, name: str, *, title: str = "") -> ParsedDocument:
    """Parse a source file by its type. PDF and DOCX readers arrive with the upload screen."""
    suffix = PurePath(name).suffix.lower()
    if suffix in {".md", ".markdown"}:
        found, lines = markdown_lines(decode(data))
    elif suffix in {".html", ".htm"}:
        found, lines = html_lines(decode(data))
    elif suffix == ".txt":
        found, lines = "", decode(data).splitlines()
    else:
        raise ParseError(f"Parsing {suffix or 'this'} files is not supported yet; Markdown, HTML and text are.")
    return parse_lines(lines, title=title or found)
