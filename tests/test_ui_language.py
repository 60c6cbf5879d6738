"""No raw identifier and no untranslated catalog entry in the Chinese UI (issue 16, item 3).

Every page the route × role test (tests/test_access.py) opens with a 200 is opened again here, in Chinese, as the
first persona the matrix lets in, over the same world. Its visible text (what is left once <script>, <style>,
<code>, <pre> and <textarea> are dropped, elements marked ``translate="no"`` (HTML's mark for content that is data,
such as an uploaded file's own column names), and every attribute) must hold

- no ``snake_case`` identifier and no dotted code such as ``alignment.train_guardian``: codes are stored, labels
  are shown (a short reviewed allow-list below, each entry with its reason), and
- no text node that is an English msgid of the catalog whose Chinese msgstr exists: a string shown untranslated
  (the template forgot ``{% translate %}``, or code passed the msgid on instead of its translation).
"""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.contrib.auth.models import User
from django.utils import translation

from annotation.models import Campaign
from benchmark.models import RegisteredModel, Release, Source
from tests.access_world import PERSONAS
from tests.test_access import (  # noqa: F401 - setup and _files_in_tmp: the matrix's fixtures, used here too
    MATRIX,
    Ok,
    Row,
    Setup,
    _files_in_tmp,
    _request,
    setup,
)

CATALOG = Path(__file__).resolve().parent.parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
HIDDEN = {"script", "style", "code", "pre", "textarea", "template"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

SNAKE = re.compile(r"(?<![\w./:@-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/@-])")
DOTTED = re.compile(r"(?<![\w./:@-])[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+(?![\w/@(-])")
CJK = re.compile(r"[\u4e00-\u9fff]")

# What looks like a code but is data the user typed or a name the user knows; each with its reason.
ALLOWED = {
    # file names: an upload or an artifact is shown by its name (the world's files)
    re.compile(r"[\w.-]+\.(jsonl|json|csv|parquet|xlsx|docx|pdf|txt|md|html|safetensors|bin|log|yaml|zip)"): "file",
    # host names in endpoint URLs typed by users (the world's endpoint models)
    re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.(org|com|net|local|test|example|cn)"): "host name",
    # e.g. / i.e. in running text
    re.compile(r"(e\.g|i\.e)"): "abbreviation",
    # the columns of a MedES CSV the user's file must have: the external-judge import's help names them
    re.compile(r"risk_judge|quality_judge|risk_flag|final_score|source_index|sample_id"): "file column name",
    # the label-schema JSON a reviewer types: the campaign form's help shows an example of it
    re.compile(r"rationale_required|risky_value|shortcut_keys"): "key of the JSON the user types",
}


# Text nodes that equal a translated msgid but are not that message; each with its reason.
NOT_MESSAGES = {
    "Annotation": "django-simple-history's admin breadcrumb shows the app label capitalised (annotation), not the "
    "app's verbose name; a third-party template",
}


def _allowed(word: str) -> bool:
    return any(pattern.fullmatch(word) for pattern in ALLOWED)


class _Visible(HTMLParser):
    """The page's visible text nodes, one string per node, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self.hidden: str | None = None  # the tag whose content is hidden, while inside it
        self.depth = 0  # how many of that tag are open inside the hidden one, itself included

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        if self.hidden is None and (tag in HIDDEN or ("translate", "no") in attrs):
            self.hidden, self.depth = tag, 1
        elif tag == self.hidden:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == self.hidden:
            self.depth -= 1
            if self.depth == 0:
                self.hidden = None

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text and self.hidden is None:
            self.nodes.append(text)


def visible_text(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return parser.nodes


def raw_identifiers(nodes: list[str], data: frozenset[str] = frozenset()) -> list[str]:
    """Codes in the text; ``data``: names users gave things (a username ``ml_engineer`` is theirs to choose)."""
    found = []
    for node in nodes:
        for pattern in (SNAKE, DOTTED):
            found += [m.group(0) for m in pattern.finditer(node) if not _allowed(m.group(0)) and m.group(0) not in data]
    return found


@cache
def translated_msgids() -> frozenset[str]:
    """The catalog's English msgids (no placeholders) whose Chinese translation is Chinese."""
    entries = polib.pofile(str(CATALOG))
    return frozenset(
        " ".join(e.msgid.split())
        for e in entries
        if not e.obsolete and not e.msgctxt and CJK.search(e.msgstr or "") and "%" not in e.msgid and "{" not in e.msgid
    )


def untranslated(nodes: list[str], data: frozenset[str] = frozenset()) -> list[str]:
    """Text nodes that are a translated msgid, shown in English; ``data``: names the world gave its objects (a
    campaign called "Review" is data, not a message)."""
    msgids = translated_msgids() - data - set(NOT_MESSAGES)
    return [node for node in nodes if node in msgids or (node.rstrip(":：") in msgids and node.endswith(":"))]


def data_names() -> frozenset[str]:
    """What users named things in the world: shown as typed, in whatever language they typed it."""
    names: set[str] = set(Source.objects.values_list("title", flat=True))
    names.update(User.objects.values_list("username", flat=True))
    for model in (Campaign, RegisteredModel, Release):
        names.update(model.objects.values_list("name", flat=True))
    return frozenset(names)


def _first_persona_in(row: Row) -> str | None:
    return next((p for p in PERSONAS if isinstance(row.expected[p], Ok)), None)


PAGES = [row for row in MATRIX if row.method == "get" and _first_persona_in(row) is not None]


def test_the_scan_finds_what_it_is_for() -> None:
    html = (
        "<h1>作业 3：alignment.train_guardian</h1><p>原因：rejected_by_review</p><p>Kind</p>"
        "<code>some_code</code><script>var a_b = 1;</script><a title='x_y' href='/a_b/'>labels.jsonl</a>"
        "<table translate='no'><tr><th>risk_x</th><td><table><tr><td>Kind</td></tr></table>Kind</td></tr></table>"
        "<p>Kind<br>Status</p>"
    )
    nodes = visible_text(html)
    assert raw_identifiers(nodes) == ["alignment.train_guardian", "rejected_by_review"]
    assert "Kind" in translated_msgids()
    assert untranslated(nodes) == ["Kind", "Kind", "Status"]


@pytest.mark.parametrize("row", PAGES, ids=[row.name for row in PAGES])
def test_chinese_pages_show_no_raw_identifier_or_untranslated_message(row: Row, setup: Setup, db: None) -> None:  # noqa: F811
    persona = _first_persona_in(row)
    assert persona is not None
    with translation.override("zh-hans"):
        response = _request(setup, row, persona)
    assert response.status_code == 200, f"{persona} {row.name}: {response.status_code}"
    if "html" not in response.get("Content-Type", ""):
        return
    nodes = visible_text(response.content.decode())
    data = data_names()
    problems = [f"raw identifier {word!r}" for word in raw_identifiers(nodes, data)]
    problems += [f"untranslated {text!r}" for text in untranslated(nodes, data)]
    assert problems == [], f"{persona} {row.url(setup.world, persona)}:\n" + "\n".join(problems)
