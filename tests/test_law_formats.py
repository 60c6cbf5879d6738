"""The same law parses to the same articles from every format (issue 14, items 5 and 6): Markdown, DOCX, a
reportlab PDF with running headers, page numbers and look-alike radicals, and a Chromium-printed PDF (whose
text layer maps CJK glyphs to Kangxi radicals by itself), article by article and paragraph by paragraph.
Also: nothing is dropped silently, headers and footers are found by position and never by repetition,
a bare 附则 is counted apart from the numbered chapters, and the title follows one rule for every format."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmark.parsing import (
    LOOKALIKE,
    PAGE_FOOTER,
    PAGE_HEADER,
    PAGE_NUMBER_LINE,
    TITLE_LINE,
    ParsedDocument,
    normalise,
    parse_file,
    parse_lines,
    to_json,
)
from tests.documents import law_to_docx, law_to_html, law_to_pdf

LAWS = Path(os.environ.get("MEDES_LAWS_DIR") or Path(__file__).resolve().parents[2] / "shared/data/laws")
# From ../shared/data/README.md: (articles, chapters) of each file.
EXPECTED = {
    "医师法(2021-08-20).md": (67, 7),
    "基本医疗卫生与健康促进法(2019-12-28).md": (110, 10),
    "人体器官移植条例(2007-03-31).md": (32, 5),
    "个人信息保护法(2021-08-20).md": (74, 8),
    "精神卫生法(2018-04-27).md": (85, 7),
    "医疗纠纷预防和处理条例(2018-07-31).md": (56, 5),
}
CHROMIUM = os.environ.get("MEDES_CHROMIUM", "/usr/bin/chromium")


def law_text(name: str) -> str:
    path = LAWS / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must have ../shared beside the clone")
        pytest.skip(f"{path} is not here (../shared/data/laws)")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def printed() -> dict[str, dict[str, ParsedDocument]]:
    """Each law parsed from Markdown, DOCX and a reportlab PDF, built once for the module."""
    out = {}
    for name in EXPECTED:
        markdown = law_text(name)
        out[name] = {
            "markdown": parse_file(markdown.encode(), name),
            "docx": parse_file(law_to_docx(markdown), "law.docx"),
            "numbered docx": parse_file(law_to_docx(markdown, numbered=True), "law.docx"),
            "html": parse_file(law_to_html(markdown).encode(), "law.html"),
            "pdf": parse_file(law_to_pdf(markdown, lookalikes=True), "law.pdf"),
        }
    return out


@pytest.fixture(scope="module")
def chromium_pdfs() -> Iterator[dict[str, bytes]]:
    """Each law rendered as HTML and printed by Chromium with a running header and a 第 N 页 共 M 页 footer."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("MEDES_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}; `apt-get install -y chromium`")
        pytest.skip(f"Chromium not found at {CHROMIUM}; `apt-get install -y chromium` to print the laws")
    from playwright.sync_api import sync_playwright

    pdfs = {}
    markdowns = {name: law_text(name) for name in EXPECTED}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"], headless=True
        )
        try:
            page = browser.new_page()
            for name, markdown in markdowns.items():
                title = markdown.splitlines()[0].lstrip("# ").strip()
                page.set_content(law_to_html(markdown))
                pdfs[name] = page.pdf(
                    format="A4",
                    display_header_footer=True,
                    header_template=f"<div style='font-size:9px;width:100%;text-align:center'>{title}</div>",
                    footer_template=(
                        "<div style='font-size:9px;width:100%;text-align:center'>第 <span class='pageNumber'></span>"
                        " 页 共 <span class='totalPages'></span> 页</div>"
                    ),
                    margin={"top": "25mm", "bottom": "25mm", "left": "25mm", "right": "25mm"},
                )
        finally:
            browser.close()
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


@pytest.mark.parametrize("form", ["docx", "numbered docx", "html", "pdf"])
@pytest.mark.parametrize("name", EXPECTED)
def test_every_form_of_a_law_parses_to_the_markdowns_articles(
    printed: dict[str, dict[str, ParsedDocument]], name: str, form: str
) -> None:
    reference = printed[name]["markdown"]
    assert (len(reference.articles), reference.count("chapter")) == EXPECTED[name]
    assert_same_law(printed[name][form], reference, name)


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
    assert printed[name]["markdown"].dropped == []
    assert [reason for _, reason in printed[name]["docx"].dropped] == [TITLE_LINE]


@pytest.mark.parametrize("name", EXPECTED)
def test_a_chromium_printed_pdf_parses_to_the_markdowns_articles(
    chromium_pdfs: dict[str, bytes], printed: dict[str, dict[str, ParsedDocument]], name: str
) -> None:
    doc = parse_file(chromium_pdfs[name], "law.pdf")
    assert_same_law(doc, printed[name]["markdown"], name)  # no look-alike character left in any article
    # Chromium's text layer has ⼀ for 一, ⼈ for 人, ⻓ for 长… by hundreds: without them the test lost its point.
    assert doc.replaced > 100
    assert any(note.startswith(f"Replaced {doc.replaced} look-alike") for note in doc.notes)
    reasons = [reason for _, reason in doc.dropped]
    assert reasons.count(PAGE_HEADER) == reasons.count(PAGE_NUMBER_LINE) >= 3  # 第 N 页 共 M 页 on every page
    assert set(reasons) == {PAGE_HEADER, PAGE_NUMBER_LINE, TITLE_LINE}


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
    "第⼀章 总则", "第⼀条 为了保障⼈⺠健康，制定本法。", "第⼆条 本法适⽤于医疗活动。", "第三条 医师应当尊重患者。",
    "第⼆章 医师", "第四条 医师依法执业。", "第五条 （⼀）遵守法律；", "第六条 保护患者隐私。",
    "第三章 附则", "第七条 本法⾃公布之⽇起施⾏。", "第⼋条 本法由国务院解释。", "第九条 本法⻓期有效。",
]  # fmt: skip


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
    wrapped one when it ends without 。：！？; the words are all kept, in their articles."""
    doc = parse_file(law_to_pdf(law_text(name), indent=False), "law.pdf")
    reference = printed[name]["markdown"]
    assert [(a.label, "".join(a.paragraphs)) for a in doc.articles] == [
        (a.label, "".join(a.paragraphs)) for a in reference.articles
    ]
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
