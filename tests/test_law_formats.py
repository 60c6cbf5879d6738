"""The same law parses to the same articles from every format (issue 14, items 5 and 6): Markdown, DOCX, a
reportlab PDF with running headers, page numbers and look-alike radicals, and a Chromium-printed PDF (whose
text layer maps CJK glyphs to Kangxi radicals by itself), article by article and paragraph by paragraph.
Also: nothing is dropped silently (every line of every form ends up in an article, a heading, the preamble or
``dropped`` with a reason), headers and footers are found by position and never by repetition (a running
header that is the chapter's heading included), a wrapped heading is joined back, a bare 附则 is counted apart
from the numbered chapters, and the title follows one rule for every format."""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmark.parsing import (
    LOOKALIKE,
    NO_ARTICLE,
    PAGE_FOOTER,
    PAGE_HEADER,
    PAGE_NUMBER_LINE,
    REPEATED_HEADING,
    TITLE_LINE,
    TOC_LINE,
    Extracted,
    ParsedDocument,
    extract,
    normalise,
    numeral,
    parse_extracted,
    parse_file,
    parse_lines,
    to_json,
)
from benchmark.parsing.structure import ARTICLE, _heading
from tests.documents import law_to_docx, law_to_html, law_to_pdf

# The six laws ship with the repository (official legislative texts carry no copyright in China, 著作权法 第五条):
# the same files as ../shared/data/laws. MEDES_LAWS_DIR points at another copy of them.
LAWS = Path(os.environ.get("MEDES_LAWS_DIR") or Path(__file__).resolve().parents[1] / "benchmark/demo/laws")
# From ../shared/data/README.md: (articles, chapters) of each file.
EXPECTED = {
    "医师法(2021-08-20).md": (67, 7),
    "基本医疗卫生与健康促进法(2019-12-28).md": (110, 10),
    "人体器官移植条例(2007-03-31).md": (32, 5),
    "个人信息保护法(2021-08-20).md": (74, 8),
    "精神卫生法(2018-04-27).md": (85, 7),
    "医疗纠纷预防和处理条例(2018-07-31).md": (56, 5),
}
# PDFs whose running header reads as a heading, as printed codes have them (each PDF costs a second or two to
# read, so each law gets some of them): the chapter in force at the top of the page, the chapter in force at
# its bottom (a chapter begun on the page is named in its header), a fixed 第一章　总则 on every page.
CHAPTER_HEADERS = "pdf, chapter headers"
CHAPTER_HEADERS_AT_END = "pdf, chapter headers at the end"
HEADING_HEADER = "pdf, fixed heading header"
NAMES = list(EXPECTED)
RUNNING_HEADINGS = {
    CHAPTER_HEADERS: ({"chapter_header": "start"}, NAMES),
    CHAPTER_HEADERS_AT_END: ({"chapter_header": "end"}, NAMES[1::2]),
    HEADING_HEADER: ({"header": "第一章\u3000总则"}, NAMES[0::2]),
}
FORMS = [
    *((name, form) for form in ("markdown", "docx", "numbered docx", "html", "pdf") for name in NAMES),
    *((name, form) for form, (_, names) in RUNNING_HEADINGS.items() for name in names),
]


def law_text(name: str) -> str:
    return (LAWS / name).read_text(encoding="utf-8")


def read(data: bytes, name: str) -> tuple[Extracted, ParsedDocument]:
    """What the reader found in the file, and the parse of it (``parse_file`` in two steps)."""
    found = extract(data, name)
    return found, parse_extracted(found)


@pytest.fixture(scope="module")
def forms() -> dict[str, dict[str, tuple[Extracted, ParsedDocument]]]:
    """Each law read and parsed from Markdown, DOCX, HTML and reportlab PDFs, each built once for the module."""
    out: dict[str, dict[str, tuple[Extracted, ParsedDocument]]] = {}
    for name in EXPECTED:
        markdown = law_text(name)
        out[name] = {
            "markdown": read(markdown.encode(), name),
            "docx": read(law_to_docx(markdown), "law.docx"),
            "numbered docx": read(law_to_docx(markdown, numbered=True), "law.docx"),
            "html": read(law_to_html(markdown).encode(), "law.html"),
            "pdf": read(law_to_pdf(markdown, lookalikes=True), "law.pdf"),
        }
        for form, (options, names) in RUNNING_HEADINGS.items():
            if name in names:
                out[name][form] = read(law_to_pdf(markdown, **options), "law.pdf")
    return out


@pytest.fixture(scope="module")
def printed(forms: dict[str, dict[str, tuple[Extracted, ParsedDocument]]]) -> dict[str, dict[str, ParsedDocument]]:
    return {name: {form: doc for form, (_, doc) in parsed.items()} for name, parsed in forms.items()}


MARGIN = {"top": "25mm", "bottom": "25mm", "left": "25mm", "right": "25mm"}
CHROMIUM_LAYOUTS: dict[str, dict[str, Any]] = {
    # A4 with the title as running header and 第 N 页 共 M 页 below, for every law.
    "a4": {"names": NAMES, "header": "{title}", "page": {"format": "A4"}, "margin": MARGIN},
    # A narrow page (90 mm × 140 mm): long headings wrap (第四章 个人在个人信息处理活动中的 / 权利).
    "narrow": {
        "names": ["个人信息保护法(2021-08-20).md"],
        "header": "{title}",
        "page": {"width": "90mm", "height": "140mm"},
        "margin": {"top": "15mm", "bottom": "15mm", "left": "8mm", "right": "8mm"},
    },
    # A fixed chapter heading as the header of every page.
    "heading header": {
        "names": ["精神卫生法(2018-04-27).md"],
        "header": "第一章\u3000总则",
        "page": {"format": "A4"},
        "margin": MARGIN,
    },
}


@pytest.fixture(scope="module")
def chromium_pdfs(browser: Any) -> Iterator[dict[str, dict[str, bytes]]]:
    """The laws rendered as HTML and printed by Chromium with a running header and a 第 N 页 共 M 页 footer, in
    each layout of ``CHROMIUM_LAYOUTS``: layout → law → PDF."""
    pdfs: dict[str, dict[str, bytes]] = {layout: {} for layout in CHROMIUM_LAYOUTS}
    markdowns = {name: law_text(name) for name in EXPECTED}
    page = browser.new_page()  # the session's Chromium (tests/conftest.py): it skips or fails when there is none
    try:
        for layout, spec in CHROMIUM_LAYOUTS.items():
            for name in spec["names"]:
                markdown = markdowns[name]
                title = markdown.splitlines()[0].lstrip("# ").strip()
                header = spec["header"].format(title=title)
                page.set_content(law_to_html(markdown))
                pdfs[layout][name] = page.pdf(
                    **spec["page"],
                    display_header_footer=True,
                    header_template=f"<div style='font-size:9px;width:100%;text-align:center'>{header}</div>",
                    footer_template=(
                        "<div style='font-size:9px;width:100%;text-align:center'>第 <span class='pageNumber'>"
                        "</span> 页 共 <span class='totalPages'></span> 页</div>"
                    ),
                    margin=spec["margin"],
                )
    finally:
        page.close()
    yield pdfs


def assert_same_law(doc: ParsedDocument, reference: ParsedDocument, name: str) -> None:
    articles, chapters = EXPECTED[name]
    assert (len(doc.articles), doc.count("chapter"), doc.unnumbered) == (articles, chapters, [])
    assert doc.title == reference.title
    assert doc.warnings == []
    for got, want in zip(doc.articles, reference.articles, strict=True):
        assert (got.label, got.paragraphs) == (want.label, want.paragraphs)
        assert (got.chapter and got.chapter.heading, got.section and got.section.heading) == (
            want.chapter and want.chapter.heading,
            want.section and want.section.heading,
        ), got.label
        assert not LOOKALIKE.search(got.text), got.label


# --- nothing vanishes: every line of the text is somewhere -----------------------------------------------


def unaccounted_rows(found: Extracted) -> list[str]:
    """The lines of a PDF's pages (furniture included) that the reader neither kept nor dropped with a reason.
    The kept lines, in page order, must make up the reader's lines exactly (it only joins them), and every
    dropped one must be a line of the pages."""
    body = "".join(found.lines)
    dropped = Counter(line for line, _ in found.dropped)
    at, lost = 0, []
    for row in found.rows:
        if row and body.startswith(row, at):
            at += len(row)
        elif dropped[row] > 0:
            dropped[row] -= 1
        else:
            lost.append(row)
    assert body[at:] == "", "the reader's lines hold text that is no line of the pages"
    assert +dropped == Counter(), "the reader reports dropping lines the pages do not have"
    return lost


def unaccounted_lines(found: Extracted, doc: ParsedDocument) -> list[str]:
    """The reader's lines (normalised as the parse sees them) that ended up in no article, heading, joined
    heading line, preamble (text before the first heading and article) or ``dropped`` entry of the parse.
    Each line is matched once, so a line that recurs must be found as often as it occurs; and every article,
    heading and paragraph of the parse must come from a line (nothing is made up)."""
    dropped = Counter(line for line, _ in doc.dropped[len(found.dropped) :])  # what the parse dropped
    paragraphs = Counter(p for article in doc.articles for p in article.paragraphs)
    starts = Counter((article.number, article.suffix) for article in doc.articles)
    preamble, joined = Counter(doc.preamble), Counter(line for line, _ in doc.joined)
    divisions = list(doc.divisions)
    lost = []
    for raw in found.lines:
        line = normalise(raw)[0].replace("\u3000", " ").replace("\xa0", " ").strip()
        if not line:
            continue
        heading = _heading(line)
        match = ARTICLE.match(line)
        body = match.group(4).strip() if match else ""
        try:
            start = (numeral(match.group(1)), numeral(match.group(2)) if match.group(2) else 0) if match else None
        except ValueError:
            start = None
        same = next(
            (
                d
                for d in divisions
                if heading
                and (d.level, d.number, d.label) == (heading.level, heading.number, heading.label)
                and d.title.startswith(heading.title)
            ),
            None,
        )
        if dropped[line] > 0:
            dropped[line] -= 1
        elif same is not None:
            divisions.remove(same)
        elif start is not None and starts[start] > 0 and (not body or paragraphs[body] > 0):
            starts[start] -= 1
            paragraphs[body] -= bool(body)
        elif paragraphs[line] > 0:
            paragraphs[line] -= 1
        elif preamble[line] > 0:
            preamble[line] -= 1
        elif joined[line] > 0:
            joined[line] -= 1
        else:
            lost.append(line)
    assert (divisions, +starts, +paragraphs, +preamble) == ([], Counter(), Counter(), Counter()), "made up"
    return lost


@pytest.mark.parametrize(("name", "form"), FORMS)
def test_every_line_of_every_form_ends_up_in_the_parse_or_is_reported(
    forms: dict[str, dict[str, tuple[Extracted, ParsedDocument]]], name: str, form: str
) -> None:
    found, doc = forms[name][form]
    assert unaccounted_lines(found, doc) == []
    if form.startswith("pdf"):
        assert unaccounted_rows(found) == []
        assert len(found.rows) > len(found.lines) > 0


def test_the_invariant_check_finds_a_lost_line() -> None:
    found = Extracted(["第一章 总则", "第一条 甲，", "乙。", "第二条 丙。"])
    doc = parse_extracted(found)
    assert unaccounted_lines(found, doc) == []
    doc.articles[0].paragraphs.pop()  # as the running-header bug did: the text after the header vanished
    assert unaccounted_lines(found, doc) == ["乙。"]
    doc.articles[0].paragraphs.append("丁。")
    with pytest.raises(AssertionError, match="made up"):
        unaccounted_lines(found, doc)


# --- every form, article by article ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "form"), [(name, form) for name, form in FORMS if form != "markdown"])
def test_every_form_of_a_law_parses_to_the_markdowns_articles(
    printed: dict[str, dict[str, ParsedDocument]], name: str, form: str
) -> None:
    reference = printed[name]["markdown"]
    assert (len(reference.articles), reference.count("chapter")) == EXPECTED[name]
    assert_same_law(printed[name][form], reference, name)


@pytest.mark.parametrize(("name", "form"), [(name, form) for name, form in FORMS if form in RUNNING_HEADINGS])
def test_a_running_header_that_reads_as_a_heading_is_a_page_header(
    printed: dict[str, dict[str, ParsedDocument]], name: str, form: str
) -> None:
    """Printed codes put the chapter's heading at the top of the page: it is page furniture, reported, and
    neither a new chapter nor the end of the article it interrupts (issue 14 review: 医师法 read as 14 chapters,
    人体器官移植条例 第十二条 cut at a page break)."""
    doc = printed[name][form]
    reasons = [reason for _, reason in doc.dropped]
    pages = reasons.count(PAGE_NUMBER_LINE)
    headers = [line for line, reason in doc.dropped if reason == PAGE_HEADER]
    # every page has one; on page 1 the chapter-at-the-top header is the title, dropped as such
    assert len(headers) == pages - (form == CHAPTER_HEADERS) >= 3
    assert all(_heading(line) is not None for line in headers), headers
    assert set(reasons) == {PAGE_HEADER, PAGE_NUMBER_LINE, TITLE_LINE}  # no repeated heading, no lost text
    assert any(note.startswith("Dropped") and "as page header: 第" in note for note in doc.notes)
    if form == HEADING_HEADER:
        assert set(headers) == {"第一章\u3000总则"}
    else:  # the headers name the chapters, each the chapter of its page
        assert len(set(headers)) >= 2


@pytest.mark.parametrize("name", EXPECTED)
def test_the_reportlab_pdf_reports_each_page_header_and_page_number_it_dropped(
    printed: dict[str, dict[str, ParsedDocument]], name: str
) -> None:
    doc = printed[name]["pdf"]
    reasons = [reason for _, reason in doc.dropped]
    pages = reasons.count(PAGE_NUMBER_LINE)
    assert pages >= 3
    assert reasons.count(PAGE_HEADER) == pages  # the running header of every page, the title on page 1 kept
    assert reasons.count(TITLE_LINE) == 1
    assert set(reasons) == {PAGE_HEADER, PAGE_NUMBER_LINE, TITLE_LINE}
    assert doc.replaced > 0  # the look-alike radicals drawn by law_to_pdf(lookalikes=True)
    assert any("page header" in note for note in doc.notes) and any("look-alike" in note for note in doc.notes)
    # The non-PDF forms drop nothing but page-number lines and the title: here, nothing at all.
    assert (printed[name]["markdown"].dropped, printed[name]["markdown"].joined) == ([], [])
    assert [reason for _, reason in printed[name]["docx"].dropped] == [TITLE_LINE]


@pytest.mark.parametrize("name", EXPECTED)
def test_a_chromium_printed_pdf_parses_to_the_markdowns_articles(
    chromium_pdfs: dict[str, dict[str, bytes]], printed: dict[str, dict[str, ParsedDocument]], name: str
) -> None:
    found, doc = read(chromium_pdfs["a4"][name], "law.pdf")
    assert_same_law(doc, printed[name]["markdown"], name)  # no look-alike character left in any article
    assert unaccounted_rows(found) == [] and unaccounted_lines(found, doc) == []
    # Chromium's text layer has ⼀ for 一, ⼈ for 人, ⻓ for 长… by hundreds: without them the test lost its point.
    assert doc.replaced > 100
    assert any(note.startswith(f"Replaced {doc.replaced} look-alike") for note in doc.notes)
    reasons = [reason for _, reason in doc.dropped]
    assert reasons.count(PAGE_HEADER) == reasons.count(PAGE_NUMBER_LINE) >= 3  # 第 N 页 共 M 页 on every page
    assert set(reasons) == {PAGE_HEADER, PAGE_NUMBER_LINE, TITLE_LINE}


@pytest.mark.parametrize(
    ("layout", "name"),
    [(layout, name) for layout, spec in CHROMIUM_LAYOUTS.items() if layout != "a4" for name in spec["names"]],
)
def test_a_chromium_pdf_on_a_narrow_page_or_with_a_heading_header_loses_nothing(
    chromium_pdfs: dict[str, dict[str, bytes]], printed: dict[str, dict[str, ParsedDocument]], layout: str, name: str
) -> None:
    """A narrow page wraps long headings (个人信息保护法 第四章 in two lines): the second line is joined back and
    the join reported; a fixed 第一章　总则 header on every page is page furniture (精神卫生法 第三十条 lost three
    paragraphs and later articles were filed under 第一章)."""
    found, doc = read(chromium_pdfs[layout][name], "law.pdf")
    assert_same_law(doc, printed[name]["markdown"], name)
    assert unaccounted_rows(found) == [] and unaccounted_lines(found, doc) == []
    reasons = [reason for _, reason in doc.dropped]
    assert set(reasons) == {PAGE_HEADER, PAGE_NUMBER_LINE, TITLE_LINE}
    assert reasons.count(PAGE_HEADER) == reasons.count(PAGE_NUMBER_LINE) >= 3
    if layout == "heading header":
        assert {line.split()[0] for line, reason in doc.dropped if reason == PAGE_HEADER} == {"第一章"}
    if name.startswith("个人信息保护法"):
        assert ("权利", "第四章 个人在个人信息处理活动中的权利") in doc.joined
        assert any(note.startswith("Joined the line “权利” to the heading above it") for note in doc.notes)
        fourth = [a for a in doc.articles if 44 <= a.number <= 50]
        assert {a.chapter.heading for a in fourth if a.chapter} == {"第四章 个人在个人信息处理活动中的权利"}


def test_word_numbering_is_text_of_the_paragraph() -> None:
    """In the numbered DOCX the article numbers and （一） exist only as Word list numbering."""
    import docx

    markdown = law_text("医师法(2021-08-20).md")
    data = law_to_docx(markdown, numbered=True)
    paragraphs = [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]
    assert not any(p.startswith("第一条") for p in paragraphs)
    assert any(p.startswith("为了保障医师合法权益") for p in paragraphs)
    doc = parse_file(data, "law.docx")
    assert doc.articles[0].label == "第一条" and doc.articles[0].text.startswith("为了保障医师合法权益")


# --- look-alike characters -------------------------------------------------------------------------------

KANGXI_LAW = [
    "第⼀章 总则",
    "第⼀条 为了保障⼈⺠健康，制定本法。",
    "第⼆条 本法适⽤于医疗活动。",
    "第三条 医师应当尊重患者。",
    "第⼆章 医师",
    "第四条 医师依法执业。",
    "第五条 （⼀）遵守法律；",
    "第六条 保护患者隐私。",
    "第三章 附则",
    "第七条 本法⾃公布之⽇起施⾏。",
    "第⼋条 本法由国务院解释。",
    "第九条 本法⻓期有效。",
]


def test_kangxi_radicals_are_read_as_the_ideographs_they_stand_for() -> None:
    # Taken literally, ⼀ and ⼆ are no numerals: the law would parse as 1 chapter and 5 articles.
    doc = parse_lines(KANGXI_LAW)
    assert (doc.count("chapter"), [a.number for a in doc.articles]) == (3, list(range(1, 10)))
    assert doc.articles[0].text == "为了保障人民健康，制定本法。"
    assert doc.articles[4].text == "（一）遵守法律；"  # full-width brackets kept
    assert doc.articles[8].text == "本法长期有效。"
    assert doc.replaced == 13 and not LOOKALIKE.search(str(to_json(doc)))


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".docx"])
def test_every_format_normalises_look_alikes(suffix: str) -> None:
    markdown = "# 测试法\n\n" + "\n\n".join(KANGXI_LAW)
    data = {
        ".txt": "\n".join(["测试法", *KANGXI_LAW]).encode(),
        ".md": markdown.encode(),
        ".html": law_to_html(markdown).encode(),
        ".docx": law_to_docx(markdown),
    }[suffix]
    doc = parse_file(data, f"law{suffix}")
    assert (doc.title, doc.count("chapter"), len(doc.articles)) == ("测试法", 3, 9)
    assert doc.replaced == 13


def test_normalise_touches_only_look_alikes() -> None:
    text = "（一）患者：姓名，年龄；“知情同意”《医师法》…——０１２ＡＢ①　"
    assert normalise(text) == (text, 0)  # NFKC of the whole text would make these ASCII
    assert normalise("⼀⼆⼋⼈⺠⻓⻔⻅⻘⻝⻢⻋⻛⻚⻜⻥⻦⻬⻰⻳⺟账⼾\uf900") == (
        "一二八人民长门见青食马车风页飞鱼鸟齐龙龟母账户豈",
        23,
    )


# --- headers and footers by position, never by repetition -------------------------------------------------


def law(articles: int, *, items: int = 0, title: str = "中华人民共和国测试法") -> str:
    """A law of ``articles`` articles; each lists the same ``items`` short items （一）… (as real codes do)."""
    lines = [f"# {title}", "", "## 第一章 总则", ""]
    for number in range(1, articles + 1):
        lines.append(f"第{number}条 医疗机构及其医务人员应当遵守下列规定，保障患者的合法权益，不得推诿：")
        lines.extend(f"（{'一二三四五六七八九'[item]}）依法执业；" for item in range(items))
    return "\n".join(lines) + "\n"


def test_list_items_repeated_on_every_page_are_kept() -> None:
    markdown = law(60, items=3)
    doc = parse_file(law_to_pdf(markdown), "law.pdf")
    reference = parse_file(markdown.encode(), "law.md")
    assert [a.paragraphs for a in doc.articles] == [a.paragraphs for a in reference.articles]
    assert sum(p == "（一）依法执业；" for a in doc.articles for p in a.paragraphs) == 60
    assert {reason for _, reason in doc.dropped} == {PAGE_HEADER, PAGE_NUMBER_LINE, TITLE_LINE}


def test_repeated_lines_are_never_dropped_outside_pdfs() -> None:
    lines = ["测试法", "第一章 总则"]
    for number in range(1, 8):
        lines += [f"第{number}条 应当遵守：", "测试法", "（一）依法执业；", "中华人民共和国卫生健康委员会"]
    doc = parse_file("\n".join(lines).encode(), "law.txt")
    assert all(
        a.paragraphs == ["应当遵守：", "测试法", "（一）依法执业；", "中华人民共和国卫生健康委员会"]
        for a in doc.articles
    )
    assert doc.dropped == [("测试法", TITLE_LINE)]


def test_a_two_page_pdfs_header_stays_out_of_the_articles() -> None:
    markdown = law(50)
    data = law_to_pdf(markdown)
    doc = parse_file(data, "law.pdf")
    reasons = [reason for _, reason in doc.dropped]
    assert reasons.count(PAGE_NUMBER_LINE) == 2 and reasons.count(PAGE_HEADER) == 2  # two pages, both dropped
    assert all("测试法" not in a.text for a in doc.articles)
    assert [a.paragraphs for a in doc.articles] == [
        a.paragraphs for a in parse_file(markdown.encode(), "l.md").articles
    ]


def test_a_two_page_pdf_with_a_header_on_its_second_page_only() -> None:
    """Word's "different first page": the header stands once, at the top of page 2, repeating the title."""
    markdown = law(50)
    doc = parse_file(law_to_pdf(markdown, first_page_header=False), "law.pdf")
    assert [reason for _, reason in doc.dropped].count(PAGE_HEADER) == 1
    assert all("测试法" not in a.text for a in doc.articles)
    assert [a.paragraphs for a in doc.articles] == [
        a.paragraphs for a in parse_file(markdown.encode(), "l.md").articles
    ]


def test_odd_and_even_page_headers_are_both_found() -> None:
    markdown = law(200)
    doc = parse_file(law_to_pdf(markdown, even_header="全国人民代表大会常务委员会公报"), "law.pdf")
    headers = [line for line, reason in doc.dropped if reason == PAGE_HEADER]
    pages = [reason for _, reason in doc.dropped].count(PAGE_NUMBER_LINE)
    assert pages >= 4 and len(headers) == pages
    assert headers.count("全国人民代表大会常务委员会公报") == pages // 2
    assert [a.paragraphs for a in doc.articles] == [
        a.paragraphs for a in parse_file(markdown.encode(), "l.md").articles
    ]


@pytest.mark.parametrize("name", EXPECTED)
def test_a_pdf_without_first_line_indents_keeps_every_character(
    printed: dict[str, dict[str, ParsedDocument]], name: str
) -> None:
    """Flush-left paragraphs: a paragraph whose last line happens to reach the margin cannot be told from a
    wrapped one when it ends without 。：！？; the words are all kept, in their articles. Printed with the
    chapter in force at the bottom of each page as its header (a chapter heading that falls on the last line
    of a page is named in the next page's header only if still in force there)."""
    doc = parse_file(law_to_pdf(law_text(name), indent=False, chapter_header="end"), "law.pdf")
    reference = printed[name]["markdown"]
    assert [(a.label, a.chapter and a.chapter.heading, "".join(a.paragraphs)) for a in doc.articles] == [
        (a.label, a.chapter and a.chapter.heading, "".join(a.paragraphs)) for a in reference.articles
    ]
    assert doc.count("chapter") == reference.count("chapter") and doc.warnings == []
    assert {reason for _, reason in doc.dropped} == {PAGE_HEADER, PAGE_NUMBER_LINE, TITLE_LINE}
    same = sum(a.paragraphs == b.paragraphs for a, b in zip(doc.articles, reference.articles, strict=True))
    assert same >= 0.95 * len(reference.articles)


def test_a_line_at_the_top_of_one_page_only_is_text() -> None:
    """A one-page PDF: its first lines sit in the header band, but nothing repeats, so only the page number
    goes."""
    doc = parse_file(law_to_pdf(law(3)), "law.pdf")
    # The running header and the title line both precede the first article: both go, as the title.
    assert doc.dropped == [("- 1 -", PAGE_NUMBER_LINE), ("中华人民共和国测试法", TITLE_LINE)] * 1 + [
        ("中华人民共和国测试法", TITLE_LINE)
    ]
    assert len(doc.articles) == 3


def pdf_with_footer(pages: int, footer: str) -> bytes:
    """Full pages of articles, each page opening and closing with the same list item at the same height, and
    a footer that carries the page number inside other text."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    number = 0
    for page in range(pages):
        pdf.setFont("STSong-Light", 11)
        for row in range(40):
            y = 770 - 17 * row
            if row % 2 or row == 0:
                pdf.drawString(72, y, "（一）依法执业；")
            else:
                number += 1
                pdf.drawString(72, y, f"第{number}条 应当遵守：")
        pdf.setFont("STSong-Light", 8)
        pdf.drawString(72, 30, footer.format(page=page + 1))
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.mark.parametrize("pages", [2, 3, 5])
def test_a_footer_with_a_changing_page_number_is_found_on_most_pages(pages: int) -> None:
    doc = parse_file(pdf_with_footer(pages, "国家卫生健康委员会印发 第{page}页"), "law.pdf")
    assert [reason for _, reason in doc.dropped] == [PAGE_FOOTER] * pages
    # The list item at the top and at the bottom of every page is text: it is not set apart from the body.
    assert doc.preamble == ["（一）依法执业；", "（一）依法执业；"]
    items = doc.preamble + [p for a in doc.articles for p in a.paragraphs if p != "应当遵守："]
    assert items == ["（一）依法执业；"] * 21 * pages  # every one kept, none joined to another
    assert len(doc.articles) == 19 * pages


# --- repeated headings, wrapped headings, text outside any article ----------------------------------------


def test_a_repeated_heading_is_no_new_division_and_the_article_goes_on() -> None:
    """A running header that is the chapter's heading, or a fixed 第一章 总则 on every page, in text that lost
    its layout (a copy of a printed code): no new chapter, and the interrupted article keeps its text."""
    doc = parse_lines(
        [
            "第一章 总则",
            "第一条 甲，",
            "第一章 总则",
            "乙。",
            "第二章 医师",
            "第二条 丙：",
            "第二章 医师",
            "（一）丁；",
            "第一章  总  则",
            "（二）戊。",
            "第三条 己。",
        ]
    )
    assert (doc.count("chapter"), [a.paragraphs for a in doc.articles]) == (
        2,
        [["甲，", "乙。"], ["丙：", "（一）丁；", "（二）戊。"], ["己。"]],
    )
    assert [a.chapter and a.chapter.heading for a in doc.articles] == ["第一章 总则", "第二章 医师", "第二章 医师"]
    assert doc.dropped == [
        ("第一章 总则", REPEATED_HEADING),
        ("第二章 医师", REPEATED_HEADING),
        ("第一章  总  则", REPEATED_HEADING),
    ]
    assert doc.warnings == [] and doc.preamble == []
    assert "Dropped 1 line as repeated heading: 第二章 医师" in doc.notes


def test_the_same_heading_under_another_book_or_chapter_is_a_division_of_its_own() -> None:
    doc = parse_lines(
        [
            "第一编 总则",
            "第一章 一般规定",
            "第一节 通则",
            "第一条 甲。",
            "第二编 物权",
            "第一章 一般规定",
            "第一节 通则",
            "第二条 乙。",
            "第二章 所有权",
            "第一节 通则",
            "第三条 丙。",
        ]
    )
    assert (doc.count("book"), doc.count("chapter"), doc.count("section"), doc.dropped) == (2, 3, 3, [])
    assert [(a.book and a.book.title, a.chapter and a.chapter.title) for a in doc.articles] == [
        ("总则", "一般规定"),
        ("物权", "一般规定"),
        ("物权", "所有权"),
    ]


def test_a_header_announcing_the_chapter_that_begins_further_down_the_page() -> None:
    """The header names the chapter begun on the page, above the end of the previous chapter's article: the
    text in between is that article's, and the heading counts once."""
    doc = parse_lines(["第一章 总则", "第一条 甲，", "第二章 医师", "乙。", "第二章 医师", "第二条 丙。"])
    assert [a.paragraphs for a in doc.articles] == [["甲，", "乙。"], ["丙。"]]
    assert [a.chapter and a.chapter.number for a in doc.articles] == [1, 2] and doc.count("chapter") == 2
    assert doc.dropped == [("第二章 医师", REPEATED_HEADING)] and doc.warnings == []


def test_a_table_of_contents_is_reported_with_or_without_its_title() -> None:
    body = ["第一章 总则", "第一条 甲。", "第二章 医师", "第二条 乙。"]
    titled = parse_lines(["目录", "第一章 总则……1", "第二章 医师……3", *body])
    untitled = parse_lines(["第一章 总则", "第二章 医师", *body])
    for doc in (titled, untitled):
        assert doc.count("chapter") == 2 and [a.chapter and a.chapter.number for a in doc.articles] == [1, 2]
        assert {reason for _, reason in doc.dropped} == {TOC_LINE} and doc.warnings == []
    assert [line for line, _ in titled.dropped] == ["目录", "第一章 总则……1", "第二章 医师……3"]
    assert [line for line, _ in untitled.dropped] == ["第一章 总则", "第二章 医师"]


def test_text_that_no_article_takes_is_reported_never_lost() -> None:
    stray = "本章所称医师，是指依法取得医师资格的专业人员。"
    doc = parse_lines(["前言：本法经审议通过。", "第一章 总则", "第一条 甲。", "第二章 医师", stray, "第二条 乙。"])
    assert doc.preamble == ["前言：本法经审议通过。"]  # before the first heading: the promulgation note
    assert [a.text for a in doc.articles] == ["甲。", "乙。"]
    assert doc.dropped == [(stray, NO_ARTICLE)]
    assert len(doc.warnings) == 1 and stray in doc.warnings[0] and "第二章 医师" in doc.warnings[0]
    assert any(stray in note for note in doc.notes)
    assert to_json(doc)["dropped"] == [[stray, NO_ARTICLE]]


@pytest.mark.parametrize("suffix", [".txt", ".md"])
def test_a_heading_wrapped_over_two_lines_is_joined_and_reported(suffix: str) -> None:
    lines = ["第一章 总则", "第一条 甲。", "第二章 个人在个人信息处理活动中的", "权利", "第二条 乙。"]
    data = "\n".join(["# 测试法", *lines] if suffix == ".md" else lines).encode()
    doc = parse_file(data, f"law{suffix}")
    assert [a.chapter and a.chapter.heading for a in doc.articles] == [
        "第一章 总则",
        "第二章 个人在个人信息处理活动中的权利",
    ]
    assert doc.joined == [("权利", "第二章 个人在个人信息处理活动中的权利")] and doc.warnings == []
    assert any(note.startswith("Joined the line “权利” to the heading above it") for note in doc.notes)
    # Not a heading's second line: a sentence, or a line followed by more text. Reported as outside any article.
    for after in (["本章适用于医师。"], ["医师", "执业规则"]):
        doc = parse_lines(["第一章 总则", "第一条 甲。", "第二章 医疗机构", *after, "第二条 乙。"])
        assert (doc.joined, doc.divisions[-1].title) == ([], "医疗机构")
        assert [a.text for a in doc.articles] == ["甲。", "乙。"]
        assert doc.dropped == [(line, NO_ARTICLE) for line in after] and len(doc.warnings) == len(after)


def pdf_with_chapters_on_new_pages(*, contents: bool) -> bytes:
    """No running header: page 1 has the title (and a table of contents), each chapter begins a new page, its
    heading at the top, set apart from the articles below it by a wide gap, as book designs have it."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    chapters = ["第一章 总则", "第二章 医师", "第三章 医疗机构", "第四章 附则"]
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.setFont("STSong-Light", 14)
    pdf.drawCentredString(297, 780, "中华人民共和国测试法")
    pdf.setFont("STSong-Light", 11)
    if contents:
        pdf.drawCentredString(297, 740, "目录")
        for index, heading in enumerate(chapters):
            pdf.drawString(200, 715 - 18 * index, heading)
    pdf.setFont("STSong-Light", 9)
    pdf.drawCentredString(297, 30, "1")
    pdf.showPage()
    number = 0
    for page, heading in enumerate(chapters, start=2):
        pdf.setFont("STSong-Light", 14)
        pdf.drawCentredString(297, 780, heading)
        pdf.setFont("STSong-Light", 11)
        for row in range(30):
            number += 1
            pdf.drawString(72, 720 - 20 * row, f"第{number}条 医疗机构应当遵守本法的规定。")
        pdf.setFont("STSong-Light", 9)
        pdf.drawCentredString(297, 30, str(page))
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.mark.parametrize("contents", [False, True])
def test_a_chapter_that_starts_at_the_top_of_a_page_stays_a_chapter(contents: bool) -> None:
    """Every chapter heading stands where a header would, set apart, on most pages: but none recurs there,
    nor repeats the chapter its page is in (a table of contents on page 1 does not make it one)."""
    found, doc = read(pdf_with_chapters_on_new_pages(contents=contents), "law.pdf")
    assert doc.count("chapter") == 4 and len(doc.articles) == 120
    assert [a.chapter and a.chapter.number for a in doc.articles[29:31]] == [1, 2]
    assert {reason for _, reason in doc.dropped} == {PAGE_NUMBER_LINE, TITLE_LINE} | ({TOC_LINE} if contents else set())
    assert doc.warnings == [] and unaccounted_rows(found) == [] and unaccounted_lines(found, doc) == []


def test_a_running_heading_whose_chapter_the_excerpt_never_begins_is_kept_once() -> None:
    """An excerpt of a printed code that starts inside 第三章: the chapter's heading stands only in the running
    header. The first one is kept as the heading (the articles are filed under it), the others are headers.
    (The heading is the first line, so the title is the curator's.)"""
    markdown = law(60).replace("## 第一章 总则\n", "")
    doc = parse_file(law_to_pdf(markdown, header="第三章 医疗机构"), "law.pdf", title="中华人民共和国测试法")
    reasons = [reason for _, reason in doc.dropped]
    assert (doc.count("chapter"), len(doc.articles), doc.warnings) == (1, 60, [])
    assert {a.chapter and a.chapter.heading for a in doc.articles} == {"第三章 医疗机构"}
    assert reasons.count(PAGE_HEADER) == reasons.count(PAGE_NUMBER_LINE) - 1 >= 1


# --- chapters, 附则 and the title -------------------------------------------------------------------------


def test_a_bare_supplementary_heading_is_reported_apart_from_the_numbered_chapters() -> None:
    doc = parse_lines(["第一章 总则", "第一条 甲。", "第二章 医师", "第二条 乙。", "附 则", "第三条 丙。"])
    assert (doc.count("chapter"), doc.unnumbered) == (2, ["附则"])
    data = to_json(doc)
    assert (data["chapters"], data["unnumbered"]) == (2, ["附则"])
    numbered = parse_lines(["第一章 总则", "第一条 甲。", "第二章 附则", "第二条 乙。"])
    assert (numbered.count("chapter"), numbered.unnumbered) == (2, [])


TITLE = "中华人民共和国测试法"
BODY = ["第一章 总则", "第一条 为了测试，制定本法。", "第二条 本法自公布之日起施行。"]


def docx_of(paragraphs: list[tuple[str, str]], core_title: str = "") -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = core_title
    for style, text in paragraphs:
        document.add_paragraph(text, style=style or None)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ("\n".join([f"# {TITLE}", *BODY]).encode(), "law.md"),
        ("\n".join([TITLE, *BODY]).encode(), "law.txt"),
        (f"<title>国家法律法规数据库</title><h1>{TITLE}</h1>{''.join(f'<p>{x}</p>' for x in BODY)}".encode(), "a.html"),
        (f"<title>{TITLE}</title>{''.join(f'<p>{x}</p>' for x in BODY)}".encode(), "b.html"),
        (docx_of([("Title", TITLE)] + [("", x) for x in BODY], core_title="Microsoft Word - 文档1.docx"), "a.docx"),
        (docx_of([("Heading 1", TITLE)] + [("", x) for x in BODY]), "b.docx"),
        (docx_of([("", x) for x in BODY], core_title=TITLE), "c.docx"),
        (docx_of([("", TITLE)] + [("", x) for x in BODY], core_title="untitled"), "d.docx"),
        (law_to_pdf(f"# {TITLE}\n\n" + "\n\n".join(BODY)), "law.pdf"),
    ],
)
def test_the_title_comes_from_the_document_by_one_rule(data: bytes, name: str) -> None:
    doc = parse_file(data, name)
    assert doc.title == TITLE
    assert [a.text for a in doc.articles] == ["为了测试，制定本法。", "本法自公布之日起施行。"]
    assert doc.preamble == []  # the title line is not left in the text


def test_a_structural_first_line_is_no_title() -> None:
    assert parse_file("\n".join(BODY).encode(), "law.txt").title == ""
    assert parse_file(docx_of([("Heading 1", x) for x in BODY[:1]] + [("", BODY[1])]), "law.docx").title == ""


def test_the_callers_title_overrides_the_documents() -> None:
    doc = parse_file("\n".join([TITLE, *BODY]).encode(), "law.txt", title="测试法（修订）")
    assert doc.title == "测试法（修订）" and doc.preamble == [TITLE]


def test_the_parser_process_hands_back_the_dropped_lines(tmp_path: Path) -> None:
    from benchmark.parsing import main

    path = tmp_path / "law.pdf"
    path.write_bytes(law_to_pdf(law(50)))
    captured = io.StringIO()
    import contextlib
    import json

    with contextlib.redirect_stdout(captured):
        assert main([str(path)]) == 0
    data: dict[str, Any] = json.loads(captured.getvalue())
    assert [reason for _, reason in data["dropped"]].count(PAGE_HEADER) == 2
    assert any(note.startswith("Dropped 2 lines as page header") for note in data["notes"])


# --- the source import ------------------------------------------------------------------------------------


def test_the_source_import_records_and_shows_what_the_parser_dropped(
    personas: Any, client_as: Any, tmp_path: Path
) -> None:
    from django.core.management import call_command
    from django.urls import reverse

    from benchmark.models import Source

    folder = tmp_path / "laws"
    folder.mkdir()
    markdown = law(50) + "\n## 附 则\n\n第51条 本法自公布之日起施行。\n"
    (folder / "测试法.pdf").write_bytes(law_to_pdf(markdown))
    call_command("import_sources", str(folder), stdout=io.StringIO())
    source = Source.objects.get()
    assert (source.title, source.article_count, source.chapter_count) == ("中华人民共和国测试法", 51, 1)  # 附则 apart
    assert "Dropped 2 lines as page header: 中华人民共和国测试法" in source.parse_warnings
    assert "Dropped 2 lines as page number: - # -" in source.parse_warnings
    page = client_as(personas.curator).get(reverse("benchmark:source", args=[source.pk]))
    assert "Dropped 2 lines as page header: 中华人民共和国测试法" in page.content.decode()
