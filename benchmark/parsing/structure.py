"""The structure of a law's text: 编 / 分编 / 章 / 节 and 条, from its lines.

``parse_lines`` takes the lines a reader (``readers``, ``pdf``) found in a file and does the rest:

* article numbers as integers, in Chinese or Arabic numerals, with 第N条之一 as a suffix;
* multi-paragraph articles (every line until the next article or heading belongs to the article);
* codes whose books start mid-way (民法典's 第四编 starts at 第九百八十九条): numbers are taken as written;
* 附则 standing alone as a heading without 第N章: a division of its own, counted apart from the numbered
  chapters (``ParsedDocument.count`` counts numbered ones, ``unnumbered`` lists the others), so the chapter
  count equals the official one;
* a table of contents (目录) is skipped;
* numbering gaps or reversals become warnings for the curator, not errors;
* NUL characters (a damaged text layer or a binary file named .txt) are dropped and unpaired surrogates
  replaced, with a warning: the database stores neither.

Look-alike characters. PDFs printed by browsers and office suites often map CJK glyphs to Kangxi radicals
(⼀ U+2F00 for 一, ⼈ for 人), to CJK Radicals Supplement characters (⻓ for 长, ⺠ for 民) or to CJK
Compatibility Ideographs. ``normalise`` maps them back, for every format alike: NFKC applied to those
ranges only (NFKC of the whole text would turn the law's full-width （一）：，； into ASCII), plus a table
for the supplement characters NFKC leaves alone. How many were replaced is reported.

Nothing is dropped silently: every line left out of the parse is in ``ParsedDocument.dropped`` with its
reason (the title, a page number, a PDF page header or footer, a table of contents, a repeated heading, text
that belongs to no article), and ``notes`` sums them up for the curator. Every line of the text ends up in an
article, a heading, the title, the preamble (text before the first heading and article: the promulgation
note) or ``dropped``; the tests check this invariant for every shipped law in every format.
Page headers and footers are found only in PDFs, by position (see ``pdf``); other formats have no pages and
lose here only page-number lines (a bare ``- 3 -``, ``第 3 页``), the title line before the first article, a
table of contents and what the next paragraph describes. Repeated lines are never dropped for repeating: a
list item （一）… may recur any number of times.

Repeated headings. A division heading that repeats one already seen under the same parent divisions (same
level, number and title: a running header that is the chapter's heading, a fixed 第一章 总则 on every page,
a heading printed twice) starts no new division: it is dropped as a repeated heading and the text after it
goes on in the current article. When no article has started since the first occurrence, the first one was a
table of contents (or a header announcing the chapter) and is dropped instead. Text after a heading that no
article takes (a heading's undetected second line, a stray header) is dropped as belonging to no article,
with a warning naming it. A heading wrapped over two lines (``第四章 个人在个人信息处理活动中的`` + ``权利``)
is joined back when the second line is short, has no sentence punctuation and is followed by an article or a
heading (for PDFs the reader does this from the lines' position, see ``pdf``); every join is reported.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

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


# CJK Radicals Supplement characters that fonts draw with the same glyph as a common ideograph, and which
# NFKC leaves alone (it maps only ⺟ and ⻳ of this block). From the Unicode names (C-SIMPLIFIED SEE → 见)
# and the glyphs fonts such as Noto CJK share; components that never stand alone in text (⺅, ⺡) map to
# their standalone radical character, which at least searches and compares as one character. One Kangxi
# radical is here too: ⼾ is 戶 to NFKC, but Simplified Chinese fonts draw 户 with its glyph (a Chromium-printed
# 账户 comes out as 账⼾), and the sources here are mainland texts.
RADICALS_SUPPLEMENT = str.maketrans(
    "⼾⺁⺅⺉⺊⺋⺎⺏⺐⺒⺓⺔⺖⺗⺘⺙⺛⺝⺞⺟⺠⺡⺢⺣⺤⺦⺨⺩⺫⺬⺭⺯⺰⺲⺹⺻⺽⺾⺿⻀⻂⻃⻄⻅⻆⻈⻉⻋⻌⻍⻎⻏⻐⻑⻒⻓⻔⻖⻘⻙⻚⻛⻜⻝⻞⻠⻡⻢⻣⻤⻥⻦⻧⻨⻩⻪⻫⻬⻭⻮⻯⻰⻱⻲⻳",
    "户厂亻刂卜㔾兀尣尢巳幺彑忄㣺扌攵旡月歺母民氵氺灬爫丬犭王罒示礻糸纟罒耂肀臼艹艹艹衤覀西见角讠贝车辶辶辶阝钅長镸长门阝青韦页风飞食飠饣首马骨鬼鱼鸟卤麦黄黾斉齐歯齿竜龙龜亀龟",
)
# Kangxi Radicals, CJK Radicals Supplement, CJK Compatibility Ideographs (and their supplement).
LOOKALIKE = re.compile("[\u2e80-\u2eff\u2f00-\u2fdf\uf900-\ufaff\U0002f800-\U0002fa1f]")


def normalise(text: str) -> tuple[str, int]:
    """The text with look-alike radicals and compatibility ideographs replaced by the ideographs they stand
    for (⼀ → 一, ⻓ → 长, 豈 U+F900 → 豈 U+8C48), and the number replaced. Only those ranges are touched:
    NFKC of the whole text would also turn full-width punctuation （一）：，； into ASCII."""
    changed = 0

    def plain(match: re.Match[str]) -> str:
        nonlocal changed
        char = match.group()
        mapped = unicodedata.normalize("NFKC", char.translate(RADICALS_SUPPLEMENT))
        changed += mapped != char
        return mapped

    return (LOOKALIKE.sub(plain, text), changed) if LOOKALIKE.search(text) else (text, 0)


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
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (line, reason): nothing is lost silently
    replaced: int = 0  # look-alike characters (Kangxi radicals…) replaced by the ideographs they stand for
    joined: list[tuple[str, str]] = field(default_factory=list)  # (line, heading): a wrapped heading rejoined

    def count(self, level: str) -> int:
        """Numbered divisions of a level (第N章): a bare 附则 is not counted, see ``unnumbered``."""
        return sum(1 for division in self.divisions if division.level == level and division.number is not None)

    @property
    def unnumbered(self) -> list[str]:
        """Divisions without a number, such as a bare 附则 heading, reported apart from the numbered ones."""
        return [division.heading for division in self.divisions if division.number is None]

    @property
    def notes(self) -> list[str]:
        """What the parse left out or changed, summed up for the curator: one line per reason and text."""
        groups: dict[tuple[str, str], int] = {}
        for line, reason in self.dropped:
            key = (reason, re.sub(r"\d+", "#", line) if reason in FURNITURE else line)
            groups[key] = groups.get(key, 0) + 1
        notes = [
            f"Dropped {n} line{'s' if n > 1 else ''} as {reason}: {text[:80]}" for (reason, text), n in groups.items()
        ]
        notes.extend(
            f"Joined the line “{line}” to the heading above it (a heading wrapped over two lines): {heading}"
            for line, heading in self.joined
        )
        if self.replaced:
            notes.append(
                f"Replaced {self.replaced} look-alike characters (Kangxi radicals, compatibility ideographs) "
                "by the ideographs they stand for."
            )
        return notes


PAGE_HEADER, PAGE_FOOTER, PAGE_NUMBER_LINE, TITLE_LINE = "page header", "page footer", "page number", "title"
REPEATED_HEADING, TOC_LINE, NO_ARTICLE = "repeated heading", "table of contents", "text outside any article"
FURNITURE = {PAGE_HEADER, PAGE_FOOTER, PAGE_NUMBER_LINE}
SENTENCE_PUNCTUATION = re.compile(r"[，,。；;：:！!？?]")


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


def parse_lines(
    lines: Iterable[str], *, title: str = "", join_wrapped: bool = False, join_headings: bool = True
) -> ParsedDocument:
    """Parse text lines. ``join_wrapped`` (for PDF text without its layout) joins a line to the previous one
    when the previous one does not end a sentence, undoing the layout's line breaks, and takes the title
    next to a page-number line for a running header. ``join_headings`` joins a heading's second line to it
    (see the module docstring; the PDF reader does that itself, from the lines' position, and turns it off)."""
    lines, title, unstorable = _storable(list(lines), title)
    replaced = 0
    plain: list[str] = []
    for line in lines:
        text, changed = normalise(line)
        plain.append(text)
        replaced += changed
    title = normalise(title)[0]
    dropped: list[tuple[str, str]] = []
    cleaned = list(_clean(plain, title, dropped, pages=join_wrapped))
    if join_wrapped:
        cleaned = list(_join_wrapped(cleaned))
    doc = ParsedDocument(title=title, dropped=dropped, replaced=replaced)
    builder = _Builder(doc)
    in_toc = False
    toc_first: str | None = None
    for index, line in enumerate(cleaned):
        if TOC.match(line):
            in_toc, toc_first = True, None
            dropped.append((line, TOC_LINE))
            continue
        if in_toc:
            heading = _heading(TOC_LEADER.sub("", line))
            if ARTICLE.match(line) and _heading(line) is None:
                in_toc = False  # an article: the body has started (its first heading was not repeated)
            elif heading is None or (
                toc_first is not None and (heading.heading != toc_first or TOC_LEADER.sub("", line) != line)
            ):
                dropped.append((line, TOC_LINE))
                continue
            elif toc_first is None:
                toc_first = heading.heading
                dropped.append((line, TOC_LINE))
                continue
            else:
                in_toc = False  # the first heading again, without leaders: the body starts here
        heading = _heading(line)
        if heading is not None:
            builder.heading(line, heading)
            continue
        following = cleaned[index + 1] if index + 1 < len(cleaned) else None
        if join_headings and builder.joinable and _continues_heading(line, following, builder, title):
            builder.join(line)
            continue
        builder.text(line)
    builder.finish()
    if not doc.articles:
        raise ParseError("No articles (第N条) were found in the text.")
    if unstorable:
        doc.warnings.insert(
            0,
            f"{unstorable} NUL or broken characters were removed from the text (a damaged text "
            "layer?); compare the articles with the original.",
        )
    return doc


@dataclass
class _Opened:
    """When a division's heading came: its line, how many articles there were, the article it interrupted,
    and the divisions above it (a 第一章 一般规定 under another book is another chapter)."""

    line: str
    articles: int
    interrupted: Article | None
    parents: tuple[int, ...]


class _Builder:
    """Puts the lines of a text into divisions and articles, one at a time (see ``parse_lines``); every line
    goes to an article, a division, the preamble or ``dropped``."""

    def __init__(self, doc: ParsedDocument) -> None:
        self.doc = doc
        self.current: dict[str, Division | None] = {"book": None, "part": None, "chapter": None, "section": None}
        self.article: Article | None = None
        self.opened: list[_Opened] = []  # one per division in doc.divisions
        self.orphans: list[str] = []  # text after a heading that no article has taken (yet)
        self.joinable = False  # the last line was a new heading: its wrapped second line may follow

    def heading(self, line: str, heading: Division) -> None:
        doc, self.joinable = self.doc, False
        parents = self._parents(heading)
        earlier = next(
            (
                index
                for index, seen in enumerate(doc.divisions)
                if (seen.level, seen.number, seen.title) == (heading.level, heading.number, heading.title)
                and self.opened[index].parents == parents
            ),
            None,
        )
        if earlier is not None and self.opened[earlier].articles < len(doc.articles):
            # A running header, a fixed heading on every page, a heading printed twice: no new division, and
            # the article it interrupted goes on.
            doc.dropped.append((line, REPEATED_HEADING))
            return
        if earlier is not None:
            # No article since the first occurrence: that one (with the headings after it) was a table of
            # contents, or a page header announcing the chapter; the division starts here.
            removed = self.opened[earlier:]
            interrupted = removed[0].interrupted
            reason = REPEATED_HEADING if len(removed) == 1 else TOC_LINE
            doc.dropped.extend((opened.line, reason) for opened in removed)
            del doc.divisions[earlier:], self.opened[earlier:]
            self.current = {"book": None, "part": None, "chapter": None, "section": None}
            for division in doc.divisions:
                self._enter(division)
            if interrupted is not None:  # the text after the header was the interrupted article's
                interrupted.paragraphs.extend(self.orphans)
                self.orphans.clear()
            parents = self._parents(heading)
        self._report_orphans()
        self.opened.append(_Opened(line, len(doc.articles), self.article, parents))
        self.article = None  # the lines after a heading belong to no article until the next one starts
        self._enter(heading)
        doc.divisions.append(heading)
        self.joinable = True

    def join(self, line: str) -> None:
        division = self.doc.divisions[-1]
        division.title = _squash(f"{division.title} {line}")
        self.doc.joined.append((line, division.heading))

    def text(self, line: str) -> None:
        doc, self.joinable = self.doc, False
        match = ARTICLE.match(line)
        last = doc.articles[-1] if doc.articles else None
        if match and _is_article_start(match, last):
            self._report_orphans()
            number = numeral(match.group(1))
            suffix = numeral(match.group(2)) if match.group(2) else 0
            _check_order(doc, last, number, suffix)
            body = match.group(4).strip()
            self.article = Article(number=number, suffix=suffix, paragraphs=[body] if body else [], **self.current)
            doc.articles.append(self.article)
        elif self.article is not None:
            self.article.paragraphs.append(line)
        elif doc.articles or doc.divisions:
            self.orphans.append(line)  # reported unless a repeated heading shows whose it was
        else:
            doc.preamble.append(line)  # before the first heading and article: the promulgation note

    def finish(self) -> None:
        self._report_orphans()

    def _report_orphans(self) -> None:
        if not self.orphans:
            return
        division = self.doc.divisions[-1] if self.doc.divisions else None
        after = division.heading if division else ""
        for line in self.orphans:
            self.doc.dropped.append((line, NO_ARTICLE))
            self.doc.warnings.append(
                f"Text after the heading {after} belongs to no article and was left out of the articles: "
                f"“{line[:80]}”. Check the original: a wrapped heading, or a page header?"
            )
        self.orphans.clear()

    def _parents(self, heading: Division) -> tuple[int, ...]:
        if heading.number is None:
            return ()
        above = [level for level, lower in BELOW.items() if heading.level in lower]
        return tuple(id(self.current[level]) if self.current[level] else 0 for level in above)

    def _enter(self, heading: Division) -> None:
        self.current[heading.level] = heading
        for lower in BELOW[heading.level]:
            self.current[lower] = None
        if heading.number is None:  # a bare 附则 closes the books and parts above it too
            self.current["book"] = self.current["part"] = None


def _continues_heading(line: str, following: str | None, builder: _Builder, title: str) -> bool:
    """Whether ``line``, right after a heading, is that heading's second line: short, no sentence
    punctuation, no article, heading, list item or title, and followed by an article, a heading or nothing."""
    heading = builder.doc.divisions[-1]
    text = _squash(line)
    return (
        len(text) <= 20
        and len(heading.title) + len(text) <= 40
        and not SENTENCE_PUNCTUATION.search(text)
        and not ARTICLE.match(line)
        and not LIST_ITEM.match(line)
        and not TOC.match(line)
        and not (title and text == _squash(title))
        and (following is None or bool(ARTICLE.match(following)) or _heading(following) is not None)
    )


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


def _clean(lines: list[str], title: str, dropped: list[tuple[str, str]], *, pages: bool) -> Iterator[str]:
    """Lines stripped, without blank lines, page-number lines and the title line before the first article;
    with ``pages`` (PDF text without its layout), a title line next to a page number is a running header.
    Every line left out goes to ``dropped`` with its reason."""
    started = False
    for index, raw in enumerate(lines):
        line = raw.replace("\u3000", " ").replace("\xa0", " ").strip()
        if not line:
            continue
        if PAGE_NUMBER.match(line):
            dropped.append((line, PAGE_NUMBER_LINE))
            continue
        if title and _squash(line) == _squash(title):
            if not started:
                dropped.append((line, TITLE_LINE))
                continue
            if pages and _next_to_page_number(lines, index):
                dropped.append((line, PAGE_HEADER))
                continue
        started = started or bool(ARTICLE.match(line))
        yield line


def _next_to_page_number(lines: list[str], index: int) -> bool:
    """Whether the nearest non-blank line before or after ``lines[index]`` is a page number."""
    for step in (-1, 1):
        at = index + step
        while 0 <= at < len(lines) and not lines[at].strip():
            at += step
        if 0 <= at < len(lines) and PAGE_NUMBER.match(lines[at].replace("\u3000", " ").strip()):
            return True
    return False


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
