"""Build PDF, DOCX and HTML versions of a law's Markdown text inside the tests, as a person would by printing
it to PDF or pasting it into Word: page numbers and running headers included, long lines wrapped at the
page's width, paragraphs with a first-line indent, headings centred."""

from __future__ import annotations

import html
import io
import re
from typing import Any

from benchmark.parsing import markdown_lines, numeral

# What printed PDFs put in their text layer for some characters: CJK Radicals Supplement look-alikes
# (reportlab's STSong-Light keeps these in the text layer; Kangxi radicals it maps back to the ideograph,
# so those are left to the browser-printed PDF, where Chromium produces them by itself).
LOOKALIKES = str.maketrans("民长门见青食马车风页飞鱼鸟齐龙母", "⺠⻓⻔⻅⻘⻝⻢⻋⻛⻚⻜⻥⻦⻬⻰⺟")
FONT, SIZE, LEADING = "STSong-Light", 10.5, 16.0
LEFT, WIDTH, TOP, BOTTOM = 72.0, 451.0, 770.0, 60.0


CHAPTER = re.compile(r"^第[零一二三四五六七八九十百]+章")


def _is_heading(line: str) -> bool:
    return line.startswith("第") and ("章" in line[:8] or "节" in line[:8] or "编" in line[:6])


def _wrap(text: str, first_width: float, width: float) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    rows: list[str] = []
    row = ""
    for char in text:
        limit = first_width if not rows else width
        if row and stringWidth(row + char, FONT, SIZE) > limit:
            rows.append(row)
            row = ""
        row += char
    return [*rows, row]


def law_to_pdf(
    markdown: str,
    *,
    encrypt: str | None = None,
    lookalikes: bool = False,
    indent: bool = True,
    first_page_header: bool = True,
    even_header: str = "",
    header: str = "",
    chapter_header: str = "",
) -> bytes:
    """The law as an office suite prints it: title centred on page 1, the title again as a running header at
    the top of every page, ``- N -`` at the bottom, chapters centred, paragraphs indented by two characters
    and wrapped at the column's width. ``lookalikes`` draws radical look-alikes for some characters;
    ``indent=False`` leaves paragraphs flush left; ``first_page_header=False`` leaves page 1 without the
    header (Word's "different first page"); ``even_header`` is another header for even pages (as books do);
    ``header`` is a fixed header other than the title (a chapter heading such as 第一章　总则, on every page).
    ``chapter_header`` puts the current chapter's heading in the header, as printed codes do: ``"start"``, the
    chapter in force at the top of the page (the title before the first chapter); ``"end"``, the chapter in
    force at the bottom (a chapter begun on the page is named in its header, page 1 included)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont(FONT))  # a CID font every PDF reader knows
    title, lines = markdown_lines(markdown)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, encrypt=encrypt)
    state: dict[str, Any] = {"y": TOP, "page": 1, "chapter": title}

    def draw_header(text: str) -> None:
        pdf.setFont(FONT, 9)
        pdf.drawCentredString(LEFT + WIDTH / 2, 805, text.translate(LOOKALIKES) if lookalikes else text)
        pdf.setFont(FONT, SIZE)

    def draw(x: float, text: str) -> None:
        pdf.drawString(x, state["y"], text.translate(LOOKALIKES) if lookalikes else text)
        state["y"] -= LEADING
        if state["y"] < BOTTOM:
            end_page()
            start_page()

    def centred(text: str) -> None:
        draw(LEFT + (WIDTH - pdfmetrics.stringWidth(text, FONT, SIZE)) / 2, text)

    def start_page() -> None:
        running = state["chapter"] if chapter_header == "start" else header or title
        if chapter_header != "end" and (first_page_header or state["page"] > 1):
            draw_header(even_header if even_header and state["page"] % 2 == 0 else running)
        pdf.setFont(FONT, SIZE)
        state["y"] = TOP

    def end_page() -> None:
        if chapter_header == "end":
            draw_header(state["chapter"])
        pdf.setFont(FONT, 9)
        pdf.drawCentredString(LEFT + WIDTH / 2, 30, f"- {state['page']} -")
        pdf.showPage()
        state["page"] += 1

    start_page()
    centred(title)
    state["y"] -= LEADING / 2
    for line in lines:
        if not line.strip():
            continue
        if _is_heading(line):
            if CHAPTER.match(line):
                state["chapter"] = line.strip()
            centred(line)
            continue
        first_indent = 2 * SIZE if indent else 0.0
        for index, row in enumerate(_wrap(line.strip(), WIDTH - first_indent, WIDTH)):
            draw(LEFT + (first_indent if index == 0 else 0), row)
    end_page()
    pdf.save()
    return buffer.getvalue()


NUMBERING = (
    '<w:abstractNum xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" w:abstractNumId="90">'
    '<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:suff w:val="space"/>'
    '<w:lvlText w:val="第%1条"/></w:lvl>'
    '<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:suff w:val="nothing"/>'
    '<w:lvlText w:val="（%2）"/></w:lvl></w:abstractNum>'
)
NUMBERED = re.compile(r"^(?:第([零一二三四五六七八九十百]+)条\s+|（([一二三四五六七八九十]+)）)(.*)$")


def law_to_docx(markdown: str, *, numbered: bool = False) -> bytes:
    """The law as a Word document: core title, a Title paragraph, chapters as Heading 1. ``numbered``: as
    drafters write it, with the article numbers (第%1条) and list items (（%2）) drawn by Word's automatic
    numbering, so they are in no paragraph's text."""
    import docx
    from docx.oxml import parse_xml

    title, lines = markdown_lines(markdown)
    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=0)
    if numbered:
        numbering = document.part.numbering_part.element
        numbering.insert(0, parse_xml(NUMBERING))
        numbering.append(
            parse_xml(
                '<w:num xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" w:numId="90">'
                '<w:abstractNumId w:val="90"/></w:num>'
            )
        )
    counters = [0, 0]
    for line in lines:
        if _is_heading(line):
            document.add_heading(line, level=1)
            continue
        if not line:
            continue
        match = NUMBERED.match(line) if numbered else None
        level = 0 if match and match.group(1) else 1
        if match and numeral(match.group(1) or match.group(2)) == counters[level] + 1:
            counters[level] += 1
            if level == 0:
                counters[1] = 0
            paragraph = document.add_paragraph(match.group(3))
            paragraph._p.get_or_add_pPr().append(
                parse_xml(
                    '<w:numPr xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                    f'<w:ilvl w:val="{level}"/><w:numId w:val="90"/></w:numPr>'
                )
            )
        else:
            document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def law_to_html(markdown: str) -> str:
    """The law as a web page: ``<title>`` and ``<h1>``, ``<h2>`` chapters, one ``<p>`` per paragraph, indented
    by two characters (as the official texts are), in a CJK font."""
    title, lines = markdown_lines(markdown)
    body = "\n".join(
        f"<h2>{html.escape(line)}</h2>" if _is_heading(line) else f"<p>{html.escape(line)}</p>"
        for line in lines
        if line.strip()
    )
    style = (
        "body{font-family:'Noto Serif CJK SC','Noto Sans CJK SC',serif;font-size:14px;line-height:1.7}"
        "h1,h2{text-align:center;font-size:16px;font-weight:normal}p{text-indent:2em;margin:0}"
    )
    return (
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>"
    )
