"""Hardening (issue 13, item 9): a Content-Security-Policy on every page that the app's own pages keep (no inline
script or style), the OpenAPI schema and docs only for users with a role, sources of the wrong type refused at
upload, and a very large source's page paginated instead of rendered whole."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from benchmark.models import Provision
from benchmark.services import SourceError, SourceMeta, add_source
from tests.documents import law_to_docx, law_to_pdf
from tests.factories import Personas

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


def policy(response: Any) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("url", ["/accounts/login/", "/jobs/", "/benchmark/sources/", "/admin/", "/leaderboard/"])
def test_every_page_carries_a_policy_without_inline_script_or_style(url: str, personas: Personas) -> None:
    client = Client()
    client.force_login(personas.admin)
    response = client.get(url, follow=True)
    assert response.status_code == 200
    directives = policy(response)
    assert directives["script-src"] == "script-src 'self'"
    assert directives["style-src"] == "style-src 'self'"
    assert "unsafe" not in response["Content-Security-Policy"]
    assert directives["frame-ancestors"] == "frame-ancestors 'none'" and directives["object-src"] == "object-src 'none'"


def test_the_anonymous_login_page_and_errors_carry_it_too(db: None) -> None:
    for url in ("/accounts/login/", "/no/such/page/"):
        assert "script-src 'self'" in Client().get(url)["Content-Security-Policy"]


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"""\sstyle\s*=\s*["']""", re.I), "a style attribute"),
    (re.compile(r"""\son[a-z]+\s*=\s*["']""", re.I), "an event-handler attribute"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
    (re.compile(r"""hx-on|hx-vals=["']js:|hx-vars""", re.I), "htmx code in markup (needs eval)"),
]


@pytest.mark.parametrize("template", TEMPLATES, ids=[str(t.relative_to(ROOT)) for t in TEMPLATES])
def test_no_template_needs_inline_script_or_style(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    found = [what for pattern, what in INLINE if pattern.search(text)]
    assert not found, f"{template.relative_to(ROOT)} holds {', '.join(found)}: the CSP would block it"


def test_htmx_is_told_not_to_inject_its_own_style(personas: Personas, client_as: Any) -> None:
    page = client_as(personas.curator).get(reverse("benchmark:sources")).content.decode()
    assert '"includeIndicatorStyles": false' in page
    assert ".htmx-indicator" in (ROOT / "static/css/app.css").read_text()


def test_the_openapi_schema_and_docs_need_a_role(personas: Personas, client_as: Any) -> None:
    for url in (reverse("api_schema"), reverse("api_docs")):
        assert client_as(None).get(url).status_code in (401, 403), url
        assert client_as(personas.outsider).get(url).status_code == 403, url
        assert client_as(personas.annotator).get(url).status_code == 200, url


def test_the_api_docs_load_their_script_from_a_url(personas: Personas, client_as: Any) -> None:
    client = client_as(personas.reviewer)
    page = client.get(reverse("api_docs")).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "the docs page must not need an inline script"
    assert "<style" not in page and "api_docs" in page  # nor an inline style: its rules come as a file
    script = client.get(reverse("api_docs"), {"script": ""})
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


LAW = "# 测试条例\n\n## 第一章 总则\n\n第一条 为了测试，制定本条例。\n\n第二条 本条例适用于测试。\n"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"<html>not a pdf</html>", "law.pdf", "not a PDF"),
        (b"PK\x03\x04 but not a package", "law.docx", "not a Word document"),
        (b"plain text", "law.docx", "not a Word document"),
        (b"%PDF-1.7\n\x00\x01\x02binary", "law.txt", "binary data"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "law.md", "binary data"),
        ("第一条".encode("utf-16"), "law.html", "binary data"),
    ],
)
def test_a_source_whose_content_is_not_its_type_is_refused_at_upload(
    db: None, data: bytes, name: str, message: str
) -> None:
    with translation.override("en"), pytest.raises(SourceError, match=message):
        add_source(io.BytesIO(data), name, SourceMeta(title="测试"))


def test_real_pdf_docx_and_gbk_text_sources_are_accepted(db: None) -> None:
    files = ((law_to_pdf(LAW), "条例.pdf"), (law_to_docx(LAW), "条例.docx"), (LAW.encode("gb18030"), "条例.txt"))
    for data, name in files:
        source, created = add_source(io.BytesIO(data), name, SourceMeta(title=name))
        assert created and source.size == len(data)


def test_the_upload_form_shows_the_reason(personas: Personas, client_as: Any) -> None:
    upload = io.BytesIO(b"<html>fake</html>")
    upload.name = "fake.pdf"
    response = client_as(personas.curator).post(
        reverse("benchmark:source_add"), {"file": upload, "title": "假的", "kind": "law"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400 and "not a PDF" in response.content.decode()


def test_a_source_with_thousands_of_provisions_is_shown_a_page_at_a_time(personas: Personas, client_as: Any) -> None:
    source, _ = add_source(io.BytesIO(LAW.encode()), "big.md", SourceMeta(title="大法"))
    long_text = "长" * 50_000
    Provision.objects.bulk_create(
        [
            Provision(source=source, position=n, number=n, label=f"第{n}条", text=long_text if n == 3 else f"条文{n}。")
            for n in range(1, 2001)
        ]
    )
    source.parse_warnings = [f"warning {n}" for n in range(5000)]
    source.save(update_fields=["parse_warnings"])
    client = client_as(personas.curator)
    first = client.get(reverse("benchmark:source", args=[source.pk]))
    html = first.content.decode()
    assert first.status_code == 200 and len(html) < 600_000, len(html)
    assert "条文1。" in html and "条文201。" not in html and "warning 4999" not in html
    assert long_text not in html and reverse("benchmark:provision", args=[Provision.objects.get(number=3).pk]) in html
    second = client.get(reverse("benchmark:source", args=[source.pk]), {"page": 2}).content.decode()
    assert "条文201。" in second and "条文1。<" not in second
    # a link to one provision opens the page that holds it
    wanted = Provision.objects.get(source=source, number=1500)
    page = client.get(reverse("benchmark:source", args=[source.pk]), {"provision": wanted.pk}).content.decode()
    assert "条文1500。" in page
    assert 'href="?page=7"' in page and 'href="?page=9"' in page  # its pager does not carry the provision along
    assert client.get(reverse("benchmark:source", args=[source.pk]), {"page": "x"}).status_code == 400
