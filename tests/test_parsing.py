"""The structure parser on the six real laws and on the messier layouts real sources have."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from benchmark.parsing import ParseError, numeral, parse_file, parse_lines
from tests.documents import law_to_docx, law_to_pdf

LAWS = Path(__file__).resolve().parent.parent / "benchmark" / "demo" / "laws"
# From ../shared/data/README.md: (articles, chapters) of each file.
EXPECTED = {
    "医师法(2021-08-20).md": (67, 7),
    "基本医疗卫生与健康促进法(2019-12-28).md": (110, 10),
    "人体器官移植条例(2007-03-31).md": (32, 5),
    "个人信息保护法(2021-08-20).md": (74, 8),
    "精神卫生法(2018-04-27).md": (85, 7),
    "医疗纠纷预防和处理条例(2018-07-31).md": (56, 5),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_each_shipped_law_parses_to_its_article_and_chapter_counts(name: str) -> None:
    doc = parse_file((LAWS / name).read_bytes(), name)
    articles, chapters = EXPECTED[name]
    assert len(doc.articles) == articles
    assert doc.count("chapter") == chapters
    assert [a.number for a in doc.articles] == list(range(1, articles + 1))
    assert doc.warnings == []
    assert doc.title.endswith(name.split("(")[0])


def test_multi_paragraph_articles_keep_their_paragraphs() -> None:
    doc = parse_file((LAWS / "医师法(2021-08-20).md").read_bytes(), "医师法.md")
    article_3 = doc.articles[2]
    assert article_3.label == "第三条"
    assert len(article_3.paragraphs) == 2
    assert article_3.paragraphs[1].startswith("医师依法执业")
    assert article_3.chapter is not None and article_3.chapter.heading == "第一章 总则"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("一", 1),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("一百零五", 105),
        ("九百八十九", 989),
        ("一千二百六十", 1260),
        ("两百", 200),
        ("12", 12),
    ],
)
def test_numerals(text: str, value: int) -> None:
    assert numeral(text) == value


def test_article_zhi_yi_is_a_suffix_of_its_article() -> None:
    doc = parse_lines(["第一百二十三条 原文。", "第一百二十三条之一 新增的条文。", "第一百二十四条 下一条。"])
    assert [(a.number, a.suffix, a.label) for a in doc.articles] == [
        (123, 0, "第一百二十三条"),
        (123, 1, "第一百二十三条之一"),
        (124, 0, "第一百二十四条"),
    ]
    assert doc.warnings == []


def test_a_book_that_starts_mid_code_keeps_its_numbers() -> None:
    doc = parse_lines(
        [
            "第四编 人格权",
            "第一章 一般规定",
            "第九百八十九条 本编调整因人格权的享有和保护产生的民事关系。",
            "第九百九十条 人格权是民事主体享有的生命权、身体权、健康权……",
            "第二章 生命权、身体权和健康权",
            "第一千零二条 自然人享有生命权。",
        ]
    )
    assert [a.number for a in doc.articles] == [989, 990, 1002]
    assert doc.articles[0].book is not None and doc.articles[0].book.heading == "第四编 人格权"
    assert doc.articles[2].chapter is not None and doc.articles[2].chapter.number == 2
    assert doc.warnings == ["Articles 991–1001 are missing before 第1002条."]


def test_sections_inside_chapters_and_a_bare_supplementary_chapter() -> None:
    doc = parse_lines(
        [
            "第一章 总 则",
            "第一条 总则条文。",
            "第二章 诊疗",
            "第一节 一般规定",
            "第二条 一般规定。",
            "第二节 特殊规定",
            "第三条 特殊规定。",
            "附 则",
            "第四条 本法自公布之日起施行。",
        ]
    )
    # The bare 附则 is a division of its own, not a numbered chapter: the count is the official one.
    assert doc.count("chapter") == 2 and doc.count("section") == 2 and doc.unnumbered == ["附则"]
    second, third, fourth = doc.articles[1:]
    assert second.section is not None and second.section.heading == "第一节 一般规定"
    assert third.section is not None and third.section.heading == "第二节 特殊规定"
    assert fourth.chapter is not None and fourth.chapter.title == "附则" and fourth.section is None
    assert doc.articles[0].chapter is not None and doc.articles[0].chapter.title == "总则"  # letter-spacing removed


def test_pdf_text_drops_page_numbers_and_running_headers_and_rejoins_wrapped_lines() -> None:
    lines = [
        "中华人民共和国测试法",
        "第一章 总则",
        "第一条 为了规范医疗行为，保障患者",
        "合法权益，制定本法。",
        "- 1 -",
        "中华人民共和国测试法",
        "第二条 医师应当尊重患者。",
        "第 2 页 共 9 页",
        "3",
        "第三条 本法第二章规定的事项，",
        "第二章规定的事项由国务院另行规定。",  # a wrap put a citation at the start of a line
    ]
    doc = parse_lines(lines, title="中华人民共和国测试法", join_wrapped=True)
    assert [a.text for a in doc.articles] == [
        "为了规范医疗行为，保障患者合法权益，制定本法。",
        "医师应当尊重患者。",
        "本法第二章规定的事项，第二章规定的事项由国务院另行规定。",  # the wrap after ， is undone
    ]
    assert doc.count("chapter") == 1


@pytest.mark.parametrize(
    "citation", ["第十条规定的情形除外。", "第三条规定的情形除外。", "第三章规定的情形，依照本法处理。"]
)
def test_a_paragraph_opening_with_a_citation_stays_a_paragraph(citation: str) -> None:
    doc = parse_lines(["第一章 总则", "第一条 条文。", "第二条 条文。", citation, "第三条 条文。"])
    assert [a.number for a in doc.articles] == [1, 2, 3] and doc.count("chapter") == 1
    assert doc.articles[1].paragraphs == ["条文。", citation]


def test_arabic_numerals_with_spaces_and_headings_without_spaces() -> None:
    doc = parse_lines(["第 1 章 总则", "第 1 条 甲。", "第二章附则", "第2条 乙。"])
    assert [a.number for a in doc.articles] == [1, 2] and doc.count("chapter") == 2
    assert doc.articles[1].chapter is not None and doc.articles[1].chapter.title == "附则"


def test_a_table_of_contents_with_leaders_and_page_numbers_is_skipped() -> None:
    doc = parse_lines(
        ["目录", "第一章 总则……1", "第二章 医师………3", "第一章 总则", "第一条 一。", "第二章 医师", "第二条 二。"]
    )
    assert doc.count("chapter") == 2 and len(doc.articles) == 2


def test_a_bare_supplementary_chapter_closes_the_book() -> None:
    doc = parse_lines(
        ["第七编 侵权责任", "第一章 一般规定", "第一千一百六十四条 甲。", "附则", "第一千二百五十九条 乙。"]
    )
    last = doc.articles[-1]
    assert last.book is None and last.chapter is not None and last.chapter.title == "附则"


def test_a_malformed_numeral_is_text_not_a_crash() -> None:
    doc = parse_lines(["第一条 甲。", "第千千条 乙。"])
    assert len(doc.articles) == 1 and doc.articles[0].paragraphs == ["甲。", "第千千条 乙。"]


def test_html_blocks_with_line_breaks_are_split() -> None:
    doc = parse_file("<pre>第一章 总则\n第一条 甲。\n第二条 乙。</pre>".encode(), "a.html")
    assert [a.text for a in doc.articles] == ["甲。", "乙。"]


def test_docx_tabs_and_breaks_separate_text() -> None:
    import docx

    document = docx.Document()
    paragraph = document.add_paragraph("第九百八十九条")
    paragraph.add_run().add_tab()
    paragraph.add_run("本编调整因人格权的享有和保护产生的民事关系。")
    paragraph.add_run().add_break()
    paragraph.add_run("第九百九十条 人格权是民事主体享有的权利。")
    buffer = io.BytesIO()
    document.save(buffer)
    doc = parse_file(buffer.getvalue(), "code.docx")
    assert [a.number for a in doc.articles] == [989, 990]


def test_the_table_of_contents_is_skipped() -> None:
    doc = parse_lines(
        [
            "目 录",
            "第一章 总则",
            "第二章 医师",
            "第三章 附则",
            "第一章 总则",
            "第一条 一。",
            "第二章 医师",
            "第二条 二。",
            "第三章 附则",
            "第三条 三。",
        ]
    )
    assert doc.count("chapter") == 3 and len(doc.articles) == 3


def test_html_sources_drop_scripts_and_read_blocks() -> None:
    page = (
        "<html><head><title>测试条例</title><script>alert('x')</script></head><body>"
        "<h2>第一章 总则</h2><p>第一条 为了测试&amp;验证，制定本条例。</p>"
        "<script>document.write('第二条 假的')</script>"
        "<p>第二条 本条例自公布之日起施行。</p></body></html>"
    ).encode()
    doc = parse_file(page, "page.html")
    assert doc.title == "测试条例"
    assert [a.text for a in doc.articles] == ["为了测试&验证，制定本条例。", "本条例自公布之日起施行。"]


def test_gbk_text_files_are_read() -> None:
    doc = parse_file("第一章 总则\n第一条 患者享有知情同意权。\n".encode("gbk"), "law.txt")
    assert doc.articles[0].text == "患者享有知情同意权。"


def test_text_without_articles_is_a_clear_error() -> None:
    with pytest.raises(ParseError, match="No articles"):
        parse_file("这是一份会议纪要，没有条文。".encode(), "notes.txt")


def test_unsupported_types_say_so() -> None:
    with pytest.raises(ParseError, match="not supported"):
        parse_file(b"MZ\x90\x00", "law.exe")


@pytest.mark.parametrize("name", EXPECTED)
def test_each_law_printed_to_pdf_parses_to_the_same_counts(name: str) -> None:
    markdown = (LAWS / name).read_text(encoding="utf-8")
    doc = parse_file(law_to_pdf(markdown), "law.pdf")
    assert (len(doc.articles), doc.count("chapter")) == EXPECTED[name]
    assert doc.warnings == []
    original = parse_file(markdown.encode(), name)
    # Every character is kept and wrapped lines are rejoined; page numbers and running headers are gone.
    assert [a.text.replace("\n", "") for a in doc.articles] == [a.text.replace("\n", "") for a in original.articles]
    # Paragraph breaks match too, but where a sentence ends exactly at a line's end the text layer cannot
    # tell a new paragraph from a wrap: allow a few of those.
    same = sum(a.paragraphs == b.paragraphs for a, b in zip(doc.articles, original.articles, strict=True))
    assert same >= 0.95 * len(original.articles)
    assert doc.title == original.title  # the first line of the first page


@pytest.mark.parametrize("name", EXPECTED)
def test_each_law_in_docx_parses_to_the_same_counts(name: str) -> None:
    markdown = (LAWS / name).read_text(encoding="utf-8")
    doc = parse_file(law_to_docx(markdown), "law.docx")
    assert (len(doc.articles), doc.count("chapter")) == EXPECTED[name]
    assert doc.title == parse_file(markdown.encode(), name).title


def test_an_encrypted_pdf_is_refused_with_a_reason() -> None:
    markdown = (LAWS / "医师法(2021-08-20).md").read_text(encoding="utf-8")
    with pytest.raises(ParseError, match="encrypted"):
        parse_file(law_to_pdf(markdown, encrypt="secret"), "law.pdf")


@pytest.mark.parametrize("data", [b"%PDF-1.7\n1 0 obj << /Type /Catalog", b"not a pdf at all", b"%PDF-1.4\n%%EOF"])
def test_a_damaged_pdf_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(ParseError, match=r"damaged|no text"):
        parse_file(data, "law.pdf")


def test_a_docx_zip_bomb_is_not_opened() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (50 * 1024 * 1024))  # 50 MB of zeros packs to ~50 KB
    with pytest.raises(ParseError, match="zip bomb"):
        parse_file(buffer.getvalue(), "law.docx")


LAUGHS = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 9))


@pytest.mark.parametrize("kind", ["external", "billion-laughs"])
def test_docx_entities_are_never_expanded(tmp_path: Path, kind: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("第九十九条 机密。", encoding="utf-8")
    declarations = (
        f'<!ENTITY x SYSTEM "file://{secret}">'
        if kind == "external"
        else f'<!ENTITY l0 "哈">{LAUGHS}<!ENTITY x "&l8;">'
    )
    original = law_to_docx("# 测试法\n\n## 第一章 总则\n\n第一条 正文。\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                header = b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>"
                assert header in data
                data = data.replace(
                    header, f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE w [{declarations}]>'.encode()
                )
                data = data.replace("正文。".encode(), "正文&x;".encode())
            target.writestr(item, data)
    if kind == "external":
        doc = parse_file(buffer.getvalue(), "law.docx")
        assert [a.text for a in doc.articles] == ["正文"]  # the reference is dropped, the file never read
    else:
        with pytest.raises(ParseError, match="cannot be read"):  # libxml2 refuses the expansion outright
            parse_file(buffer.getvalue(), "law.docx")


def test_not_a_docx_is_refused() -> None:
    with pytest.raises(ParseError, match="not a valid DOCX"):
        parse_file(b"PK but not really", "law.docx")


def test_chinese_numerals_agree_with_cn2an_both_ways() -> None:
    import cn2an

    from benchmark.parsing import chinese_numeral, numeral

    for n in range(1, 20_001):
        written = cn2an.an2cn(n)
        assert chinese_numeral(n) == written, n
        assert numeral(written) == n, written
    assert (numeral("两百"), numeral("一百十"), numeral("一百零五"), numeral("〇")) == (200, 110, 105, 0)


@pytest.mark.parametrize("text", ["千千", "十十", "二三", "百", "零十", "万", "一万万", "十百", "甲"])
def test_malformed_numerals_are_refused(text: str) -> None:
    from benchmark.parsing import numeral

    with pytest.raises(ValueError, match="not a numeral"):
        numeral(text)
