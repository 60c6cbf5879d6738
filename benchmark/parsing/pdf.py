"""The PDF reader: text lines from pdfminer.six's layout analysis, without page headers, footers and page
numbers, rejoined into paragraphs. pdfminer is imported inside the functions, so the other formats never
load it.

Page headers and footers are found by position: a line at the top or bottom of a page (the outermost lines
within 15% of the page height) whose text, digits ignored, stands at the same height on most pages (or on
most odd or most even pages: books alternate them), and on two pages at least. Repeated lines are never
dropped for repeating: a list item （一）… may recur any number of times. Every line left out is reported in
``ParsedDocument.dropped`` with its reason.

Printed codes put the current chapter's heading in the running header. A line that reads as a heading is a
header too when it stands where a header stands on most pages (set apart in the band, at the same distance
from the edge) and it recurs: the same heading there on two pages or more (a fixed 第一章 总则 on every page),
or the heading of a chapter (section…) the page is in (the last one begun before the page, or one begun on
it). A chapter that truly starts at the top of a page stays: its heading is neither. A running heading that
the body never begins (an excerpt that starts inside a chapter) is kept once, where it first stands.

PDF lines are rejoined into paragraphs from their geometry: a line that reaches the right margin continues on
the next one unless that one is indented (first-line indent), starts an article or heading, or sits after a
larger gap; without indents, a full line ending a sentence (。：！？) also ends its paragraph. A heading too
long for the line (a narrow page) wraps: its second line, short, with no sentence punctuation, centred like
the heading (or aligned with it), in the heading's size and followed by an article or heading, is joined back
to it and the join reported.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from benchmark.parsing.readers import PLACEHOLDER_TITLE, Extracted, _reads_as_title
from benchmark.parsing.structure import (
    ARTICLE,
    CITATION_TAIL,
    LIST_ITEM,
    PAGE_FOOTER,
    PAGE_HEADER,
    PAGE_NUMBER,
    PAGE_NUMBER_LINE,
    PARAGRAPH_END,
    SENTENCE_PUNCTUATION,
    TOC,
    Division,
    ParseError,
    _heading,
    normalise,
)


@dataclass
class _Row:
    """One line of a PDF page as laid out: its text and box (PDF coordinates, y grows upwards)."""

    text: str
    page: int
    x0: float
    x1: float
    top: float  # distance from the top of the page
    bottom: float
    height: float = 0.0  # of the page


BAND = 0.15  # page headers and footers sit within this share of the page height from its edge
BAND_ROWS = 3  # …and are among the outermost rows of the page


def pdf_lines(data: bytes) -> Extracted:
    """Text of a PDF's pages (pdfminer.six layout analysis), without page headers, footers and page numbers
    (found by position, see the module docstring), rejoined into paragraphs. Encrypted and broken files are
    refused with a reason."""
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfminer.psexceptions import PSException

    logging.getLogger("pdfminer").setLevel(logging.ERROR)  # font-descriptor chatter on browser-made PDFs
    try:
        pages, metadata = _pdf_rows(data)
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise ParseError("The PDF is encrypted; upload an unprotected copy.") from None
    except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError):
        raise ParseError("The PDF is damaged or not a PDF; it could not be read.") from None
    if not any(row.text for rows in pages for row in rows):
        raise ParseError("The PDF has no text layer (a scan?); upload a text PDF or the official text.")
    replaced = 0
    for rows in pages:
        for row in rows:
            row.text, changed = normalise(row.text)
            replaced += changed
    furniture = _page_furniture(pages, metadata)
    dropped = [(row.text, furniture[id(row)]) for rows in pages for row in rows if id(row) in furniture]
    body = [row for rows in pages for row in rows if id(row) not in furniture]
    joined: list[tuple[str, str]] = []
    lines = _paragraphs(body, joined)
    laid_out = [row.text for rows in pages for row in rows]
    return Extracted(
        lines, metadata=metadata, dropped=dropped, replaced=replaced, joined=joined, layout=True, rows=laid_out
    )


def _pdf_rows(data: bytes) -> tuple[list[list[_Row]], str]:
    """The rows of each page, top to bottom (text lines at the same height joined), and the /Title."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTTextContainer, LTTextLine
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser
    from pdfminer.utils import decode_text

    document = PDFDocument(PDFParser(io.BytesIO(data)))
    metadata = ""
    for info in document.info:
        value = info.get("Title")
        if isinstance(value, bytes):
            metadata = decode_text(value)
        elif isinstance(value, str):
            metadata = value
    manager = PDFResourceManager(caching=True)
    # Only text lines are used, ordered by position below: boxes_flow=None skips pdfminer's grouping of text
    # boxes into a reading order (a sixth of a page's analysis), and leaves the lines as they were.
    device = PDFPageAggregator(manager, laparams=LAParams(boxes_flow=None))
    interpreter = PDFPageInterpreter(manager, device)
    pages: list[list[_Row]] = []
    for number, page in enumerate(PDFPage.create_pages(document)):
        interpreter.process_page(page)
        layout = device.get_result()

        def lines(item: Any) -> Iterator[Any]:
            if isinstance(item, LTTextLine):
                yield item
            elif isinstance(item, LTTextContainer) or hasattr(item, "__iter__"):
                for child in item:
                    yield from lines(child)

        found = sorted(
            (line for line in lines(layout) if line.get_text().strip()), key=lambda line: (-line.y1, line.x0)
        )
        rows: list[_Row] = []
        for line in found:
            text = line.get_text().replace("\n", "").strip()
            last = rows[-1] if rows else None
            overlap = min(last.top, line.y1) - max(last.bottom, line.y0) if last else 0.0
            if last is not None and overlap > 0.5 * min(last.top - last.bottom, line.y1 - line.y0):
                parts = sorted([(last.x0, last.text), (line.x0, text)])  # the same row: join left to right
                last.text = f"{parts[0][1]} {parts[1][1]}"
                last.x0, last.x1 = min(last.x0, line.x0), max(last.x1, line.x1)
                last.top, last.bottom = max(last.top, line.y1), min(last.bottom, line.y0)
            else:
                rows.append(_Row(text, number, line.x0, line.x1, line.y1, line.y0))
        for row in rows:  # measured from the top of the page from here on
            row.top, row.bottom, row.height = layout.height - row.top, layout.height - row.bottom, layout.height
        pages.append([row for row in rows if row.text])
    return pages, metadata


def _page_furniture(pages: list[list[_Row]], metadata: str = "") -> dict[int, str]:
    """Rows that are page headers, footers or page numbers, by ``id``, with the reason. A candidate is one
    of the outermost rows of a page, within the top or bottom band and set apart from the body by a gap wider
    than the lines' usual spacing; it is furniture when it is a page number, or when the same text (digits
    ignored) stands at the same distance from the page edge on most pages, on most odd or most even pages,
    and on two pages at least; or when, at the top of a later page, it repeats the title (the first line of
    page 1 or the metadata title: Word's "different first page" leaves a two-page PDF one header only).
    Articles never are; a heading only as a running heading (see the module docstring)."""
    gaps = [b.top - a.bottom for rows in pages for a, b in itertools.pairwise(rows)]
    usual_gap = _quantile(gaps, 0.25) if gaps else 0.0
    candidates: list[tuple[_Row, str, float]] = []  # row, top|bottom, distance from that edge
    taken: set[int] = set()
    for rows in pages:
        for edge, ordered in (("top", rows), ("bottom", rows[::-1])):
            outer: list[_Row] = []
            for index, row in enumerate(ordered[:BAND_ROWS]):
                inner = ordered[index + 1] if index + 1 < len(ordered) else None
                distance = row.top if edge == "top" else row.height - row.bottom
                if distance > BAND * row.height or id(row) in taken:
                    break
                outer.append(row)
                if inner is None or abs(inner.top - row.bottom if edge == "top" else row.top - inner.bottom) > max(
                    1.5 * usual_gap, usual_gap + 4
                ):
                    candidates.extend(
                        (seen, edge, seen.top if edge == "top" else seen.height - seen.bottom) for seen in outer
                    )
                    taken.update(id(seen) for seen in outer)
                    break
    where: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for row, edge, distance in candidates:
        where.setdefault((edge, _furniture_key(row.text)), []).append((row.page, distance))
    total = len(pages)
    first = pages[0][0] if pages and pages[0] else None  # the title, or a header that repeats it
    titles = {
        _furniture_key(text)
        for text in (metadata, first.text if first else "")
        if _reads_as_title(text) and not PLACEHOLDER_TITLE.search(text)
    }
    numbers = {id(row) for row, _, _ in candidates if PAGE_NUMBER.match(row.text.replace("\u3000", " ").strip())}
    slots = [(edge, row.page, distance) for row, edge, distance in candidates if id(row) not in numbers]

    def same_place(row: _Row, edge: str, distance: float) -> set[int]:
        """The pages where the row's text (digits ignored) stands at its distance from the edge."""
        return {page for page, at in where[(edge, _furniture_key(row.text))] if abs(at - distance) <= 3}

    # Header candidates that read as headings and look like headers whatever the page's chapter: the same at
    # that place on two pages or more, or naming a division begun in the body of the same page. The others
    # (a chapter begun at the top of a page) are headings of the text.
    candidate_ids = {id(row) for row, _, _ in candidates}
    begun = [
        [heading for row in rows if id(row) not in candidate_ids and (heading := _heading(row.text))] for rows in pages
    ]
    headerlike: set[int] = set()
    for row, edge, distance in candidates:
        heading = _heading(row.text)
        if heading is not None and (
            len(same_place(row, edge, distance)) >= 2 or any(_same_division(heading, b) for b in begun[row.page])
        ):
            headerlike.add(id(row))
    inside = _divisions_of_pages(pages, candidate_ids, headerlike)
    furniture: dict[int, str] = {}
    for row, edge, distance in candidates:
        if id(row) in numbers:
            furniture[id(row)] = PAGE_NUMBER_LINE
            continue
        heading = _heading(row.text)
        if ARTICLE.match(row.text) and heading is None:
            continue
        pages_here = same_place(row, edge, distance)
        if heading is not None:
            # A heading is a header only where headers stand on most pages, and only when it recurs there
            # or repeats the heading of a division the page is in; a chapter starting at the top stays.
            slot = {page for side, page, at in slots if side == edge and abs(at - distance) <= 3}
            recurs = len(pages_here) >= 2 or any(_same_division(heading, seen) for seen in inside[row.page])
            if len(slot) >= 2 and _on_most_pages(slot, total) and recurs:
                furniture[id(row)] = PAGE_HEADER if edge == "top" else PAGE_FOOTER
            continue
        if edge == "top" and row.page > 0 and _furniture_key(row.text) in titles:
            furniture[id(row)] = PAGE_HEADER
        elif len(pages_here) >= 2 and _on_most_pages(pages_here, total):
            furniture[id(row)] = PAGE_HEADER if edge == "top" else PAGE_FOOTER
    # A running heading whose division the body never begins (an excerpt starting inside a chapter): its first
    # occurrence is kept as the heading, so the articles are filed under it.
    body = [heading for rows in pages for row in rows if id(row) not in furniture and (heading := _heading(row.text))]
    for row, _, _ in candidates:
        heading = _heading(row.text)
        if heading is not None and id(row) in furniture and not any(_same_division(heading, b) for b in body):
            del furniture[id(row)]
            body.append(heading)
    return furniture


def _on_most_pages(pages_here: set[int], total: int) -> bool:
    """On most pages, or on most odd or most even pages (books alternate their headers)."""
    odd = sum(1 for page in pages_here if page % 2 == 0)  # page index 0 is page 1
    even = len(pages_here) - odd
    return len(pages_here) > total / 2 or odd > math.ceil(total / 2) / 2 or (total >= 2 and even > (total // 2) / 2)


def _divisions_of_pages(pages: list[list[_Row]], candidates: set[int], headerlike: set[int]) -> list[list[Division]]:
    """For each page, the divisions it is in: of each level, the last one begun on an earlier page and those
    begun on it, from the headings in the body (rows that are no header candidates). A heading followed by
    another of its level before any article (a table of contents, or a chapter begun at the top of the next
    page) begins nothing; headers that look like headers (``headerlike``) are passed over."""
    items = [(row, _heading(row.text)) for rows in pages for row in rows if id(row) not in headerlike]
    items = [(row, heading) for row, heading in items if heading is not None or _starts_article(row.text)]
    begins: dict[int, Division] = {}
    for index, (row, heading) in enumerate(items):
        if heading is None or id(row) in candidates:
            continue
        for _, later in items[index + 1 :]:
            if later is None:  # an article: the division has text
                begins[id(row)] = heading
                break
            if RANK[later.level] <= RANK[heading.level] and not _same_division(later, heading):
                break
    last: dict[str, Division] = {}
    out: list[list[Division]] = []
    for rows in pages:
        here = list(last.values())
        for row in rows:
            if id(row) in begins:
                here.append(begins[id(row)])
                last[begins[id(row)].level] = begins[id(row)]
        out.append(here)
    return out


RANK = {"book": 0, "part": 1, "chapter": 2, "section": 3}


def _same_division(header: Division, body: Division) -> bool:
    """The same level and number, and titles that agree (one may be cut short, or wrapped in the body)."""
    return (
        (header.level, header.number) == (body.level, body.number)
        and bool(header.title)
        and bool(body.title)
        and (header.title.startswith(body.title) or body.title.startswith(header.title))
    )


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"[\s\u3000]+", "", text))


def _paragraphs(rows: list[_Row], joined: list[tuple[str, str]] | None = None) -> list[str]:
    """Rejoin the body rows into paragraphs (see the module docstring); a wrapped heading's second line is
    joined back to it, and the pair (line, heading) added to ``joined``."""
    if not rows:
        return []
    long_rows = [row for row in rows if len(row.text) >= 10]
    em = _quantile([(row.x1 - row.x0) / len(row.text) for row in long_rows] or [10.0], 0.5)
    left = _quantile([row.x0 for row in rows], 0.1)
    right = _quantile([row.x1 for row in long_rows] or [row.x1 for row in rows], 0.9)
    indented = [left + 0.8 * em <= row.x0 <= left + 4 * em for row in rows]
    uses_indents = sum(indented) >= 0.1 * len(rows)
    gaps = [b.top - a.bottom for a, b in itertools.pairwise(rows) if a.page == b.page]
    usual_gap = _quantile(gaps, 0.5) if gaps else 0.0
    out: list[str] = []
    for index, row in enumerate(rows):
        previous = rows[index - 1] if index else None
        if previous is None or not out:
            out.append(row.text)
            continue
        following = rows[index + 1] if index + 1 < len(rows) else None
        if out[-1] == previous.text and _heading_wraps(previous, row, following, em, left, right, usual_gap):
            out[-1] = f"{out[-1]}{row.text}"
            if joined is not None:
                joined.append((row.text, out[-1]))
            continue
        full = previous.x1 >= right - (2.5 if uses_indents else 1.5) * em
        gap = row.top - previous.bottom if row.page == previous.page else 0.0
        if uses_indents:
            new = indented[index] or _starts_structure(row.text)
        else:
            sentence_end = out[-1].endswith(tuple(PARAGRAPH_END))
            new = _starts_structure(row.text) or bool(LIST_ITEM.match(row.text)) or sentence_end
        if new or not full or gap > usual_gap + 0.8 * em or _heading(out[-1]) or TOC.match(out[-1]):
            out.append(row.text)
        else:
            out[-1] += row.text
    return out


def _heading_wraps(
    heading: _Row, row: _Row, following: _Row | None, em: float, left: float, right: float, usual_gap: float
) -> bool:
    """Whether ``row`` is the second line of the ``heading`` row above it: the heading fills the column (it
    was wrapped), and the row is short, without sentence punctuation, in the heading's size, centred like it
    (or aligned with it), close below it on the same page, and followed by an article, a heading or nothing."""
    if _heading(heading.text) is None or row.page != heading.page or _starts_structure(row.text):
        return False
    size, heading_size = row.bottom - row.top, heading.bottom - heading.top
    centred = abs((row.x0 + row.x1) / 2 - (heading.x0 + heading.x1) / 2) <= em
    aligned = abs(row.x0 - heading.x0) <= 0.5 * em
    return (
        heading.x1 - heading.x0 >= (right - left) - 3 * em
        and len(row.text) <= 20
        and not SENTENCE_PUNCTUATION.search(row.text)
        and not LIST_ITEM.match(row.text)
        and abs(size - heading_size) <= 0.25 * heading_size
        and (centred or aligned)
        and (row.x0 > left + 0.5 * em or aligned)
        and 0 <= row.top - heading.bottom <= usual_gap + em
        and (following is None or _starts_structure(following.text))
    )


def _starts_article(text: str) -> bool:
    """第十条 followed by a space or its text; not a wrapped citation (第十条规定的…)."""
    match = ARTICLE.match(text)
    return match is not None and (match.group(3) is not None or not CITATION_TAIL.match(match.group(4)))


def _starts_structure(text: str) -> bool:
    """An article (第十条 followed by a space or its text), a heading or a table of contents starts here;
    a wrapped citation (第十条规定的…) does not."""
    return _starts_article(text) or _heading(text) is not None or bool(TOC.match(text))


def _quantile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]
