"""Sources: stored under generated names, identified by hash, checked before anything is written; the
demo laws load once; curators list and download them (always as attachments)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse

from benchmark.models import ParseStatus, Provision, Source, SourceKind
from benchmark.parsing import ParseError
from benchmark.services import SourceError, SourceMeta, add_source, parse_source
from medes_site.jobs import execute_job
from medes_site.models import AuditEntry, Job, JobStatus
from tests.factories import Personas

TEXT = "# 测试条例\n\n## 第一章 总则\n\n第一条 为了测试，制定本条例。\n".encode()


def test_adding_the_same_file_twice_gives_the_existing_source(personas: Personas) -> None:
    first, created = add_source(io.BytesIO(TEXT), "测试条例.md", SourceMeta(title="测试条例"), user=personas.curator)
    again, created_again = add_source(io.BytesIO(TEXT), "copy.md", SourceMeta(title="别的名字"), user=personas.curator)
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk and Source.objects.count() == 1
    assert first.size == len(TEXT) and len(first.sha256) == 64
    assert AuditEntry.objects.filter(action="source.add").count() == 1


def test_the_stored_name_is_generated_whatever_the_upload_was_called(personas: Personas, settings: Any) -> None:
    source, _ = add_source(io.BytesIO(TEXT), "../../etc/passwd.md", SourceMeta(title="x"))
    stored = Path(source.file.path)
    assert stored.parent == Path(settings.MEDIA_ROOT) / "sources"
    assert "passwd" not in stored.name and stored.suffix == ".md"
    assert source.original_name == "passwd.md"
    assert stored.read_bytes() == TEXT


@pytest.mark.parametrize(
    ("data", "name", "title", "message"),
    [
        (TEXT, "law.exe", "t", "not a supported type"),
        (TEXT, "law", "t", "not a supported type"),
        (b"", "law.md", "t", "The file is empty"),
        (TEXT, "law.md", "   ", "needs a title"),
        (b"x" * 3000, "big.txt", "t", "larger than the limit"),
    ],
)
def test_bad_files_are_refused_with_a_reason_and_nothing_is_stored(
    db: None, settings: Any, data: bytes, name: str, title: str, message: str
) -> None:
    settings.MEDES_SOURCE_MAX_BYTES = 2048
    with pytest.raises(SourceError, match=message):
        from django.utils import translation

        with translation.override("en"):
            add_source(io.BytesIO(data), name, SourceMeta(title=title))
    assert not Source.objects.exists()
    assert not (Path(settings.MEDIA_ROOT) / "sources").exists()


def test_load_demo_registers_the_six_laws_once(db: None) -> None:
    out = io.StringIO()
    call_command("load_demo", "--no-models", stdout=out)
    assert "Sources: 6 added, 0 already present; all parsed." in out.getvalue()
    titles = set(Source.objects.values_list("title", flat=True))
    assert "中华人民共和国医师法" in titles and "人体器官移植条例" in titles
    regulation = Source.objects.get(title="医疗纠纷预防和处理条例")
    assert regulation.kind == SourceKind.ADMINISTRATIVE_REGULATION
    assert str(regulation.effective_on) == "2018-10-01"
    again = io.StringIO()
    call_command("load_demo", "--no-models", stdout=again)
    assert "Sources: 0 added, 6 already present; all parsed." in again.getvalue()
    assert Source.objects.count() == 6


def test_curators_list_filter_and_download_sources(personas: Personas, client_as: Any) -> None:
    law, _ = add_source(io.BytesIO(TEXT), "测试条例.md", SourceMeta(title="测试条例", kind=SourceKind.LAW))
    add_source(
        io.BytesIO(b"guideline text"), "g.txt", SourceMeta(title="心理咨询伦理守则", kind=SourceKind.ETHICS_GUIDELINE)
    )
    client = client_as(personas.curator)
    listing = client.get(reverse("benchmark:sources"), {"kind": "law"}).content.decode()
    assert "测试条例" in listing and "心理咨询伦理守则" not in listing
    search = client.get(reverse("benchmark:sources"), {"q": "咨询"}, headers={"HX-Request": "true"}).content.decode()
    assert "心理咨询伦理守则" in search and "测试条例" not in search and "<html" not in search

    response = client.get(reverse("benchmark:source_download", args=[law.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/octet-stream"
    assert b"".join(response.streaming_content) == TEXT


def test_source_list_with_a_bad_filter_is_400(personas: Personas, client_as: Any) -> None:
    response = client_as(personas.curator).get(reverse("benchmark:sources"), {"kind": "poem"})
    assert response.status_code == 400


def test_source_titles_are_escaped(personas: Personas, client_as: Any) -> None:
    add_source(io.BytesIO(b"x"), "x.txt", SourceMeta(title="<script>alert(1)</script>"))
    html = client_as(personas.curator).get(reverse("benchmark:sources")).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_curator_home_shows_the_corpus(personas: Personas, client_as: Any) -> None:
    add_source(io.BytesIO(TEXT), "t.md", SourceMeta(title="测试条例", kind=SourceKind.LAW))
    html = client_as(personas.curator).get(reverse("role_home", args=["curator"])).content.decode()
    assert 'data-testid="sources-panel"' in html and "法律: 1" in html and "共 1 个规范来源" in html


def test_demo_sources_are_parsed_into_provisions(db: None) -> None:
    call_command("load_demo", "--no-models", stdout=io.StringIO())
    counts = {s.title: (s.article_count, s.chapter_count, s.provisions.count()) for s in Source.objects.all()}
    assert counts["中华人民共和国医师法"] == (67, 7, 67)
    assert counts["中华人民共和国基本医疗卫生与健康促进法"] == (110, 10, 110)
    article = Provision.objects.get(source__title="人体器官移植条例", number=1)
    assert article.label == "第一条" and article.chapter == "第一章 总则"


def test_parsing_again_replaces_provisions_and_a_failed_parse_keeps_the_last_good_one(personas: Personas) -> None:
    source, _ = add_source(io.BytesIO(TEXT), "t.md", SourceMeta(title="测试条例"))
    parse_source(source)
    parse_source(source)
    assert source.provisions.count() == 1
    Path(source.file.path).write_bytes("没有条文的文字。".encode())  # the stored file went bad
    with pytest.raises(ParseError):
        parse_source(source, user=personas.curator)
    source.refresh_from_db()
    assert source.parse_status == ParseStatus.FAILED and "No articles" in source.parse_error
    assert source.provisions.count() == 1
    assert AuditEntry.objects.filter(action="source.parse_failed", actor=personas.curator).exists()


def test_duplicate_article_numbers_fail_the_parse_with_their_labels(db: None) -> None:
    text = "第一条 甲。\n第二条 乙。\n第二条 丙。\n".encode()
    source, _ = add_source(io.BytesIO(text), "dup.txt", SourceMeta(title="重复"))
    with pytest.raises(ParseError, match="第二条"):
        parse_source(source)


def test_curator_parses_a_source_through_a_job_and_sees_its_tree(personas: Personas, client_as: Any) -> None:
    source, _ = add_source(io.BytesIO(TEXT), "t.md", SourceMeta(title="测试条例"))
    client = client_as(personas.curator)
    page = client.get(reverse("benchmark:source", args=[source.pk])).content.decode()
    assert "未解析" in page or "Not parsed" in page
    response = client.post(reverse("benchmark:source_parse", args=[source.pk]))
    job = Job.objects.get(kind="benchmark.parse_source")
    assert response["Location"] == reverse("jobs:detail", args=[job.pk])
    assert execute_job(job.pk) == JobStatus.SUCCEEDED  # what the worker does
    job.refresh_from_db()
    assert job.metrics == {"articles": 1, "chapters": 1, "warnings": 0}
    page = client.get(reverse("benchmark:source", args=[source.pk])).content.decode()
    assert "第一章 总则" in page and "为了测试，制定本条例。" in page


def test_asking_to_parse_twice_follows_the_parse_already_under_way(personas: Personas, client_as: Any) -> None:
    source, _ = add_source(io.BytesIO(TEXT), "t.md", SourceMeta(title="测试条例"))
    client = client_as(personas.curator)
    first = client.post(reverse("benchmark:source_parse", args=[source.pk]))
    second = client.post(reverse("benchmark:source_parse", args=[source.pk]))
    assert Job.objects.count() == 1 and first["Location"] == second["Location"]


def test_reviewers_read_sources_but_cannot_parse(personas: Personas, client_as: Any) -> None:
    source, _ = add_source(io.BytesIO(TEXT), "t.md", SourceMeta(title="测试条例"))
    client = client_as(personas.reviewer)
    assert client.get(reverse("benchmark:source", args=[source.pk])).status_code == 200
    assert client.post(reverse("benchmark:source_parse", args=[source.pk])).status_code == 403
    assert not Job.objects.exists()


def test_a_parse_that_exceeds_its_memory_limit_fails_cleanly(db: None, settings: Any) -> None:
    article = "患者享有知情同意权，医师应当如实告知病情。" * 3
    big = "\n".join(["# 测试法", *(f"第{n}条 {article}" for n in range(1, 150_001))]).encode()  # ~30 MB
    source, _ = add_source(io.BytesIO(big), "big.md", SourceMeta(title="测试法"))
    settings.MEDES_PARSE_MEMORY_MB = 64  # the parse of this file needs about 150 MB
    with pytest.raises(ParseError, match="limits"):
        parse_source(source)
    source.refresh_from_db()
    assert source.parse_status == ParseStatus.FAILED and "64 MB" in source.parse_error


def test_names_and_titles_starting_with_a_dash_are_not_options(db: None) -> None:
    source, _ = add_source(io.BytesIO(TEXT), "-v2.md", SourceMeta(title="-草案"))
    parse_source(source)
    assert source.article_count == 1


def test_reparsing_keeps_provisions_scenarios_cite(db: None) -> None:
    from benchmark.scenarios import create_scenario, resolve_scene

    two = "# 测试条例\n\n第一条 甲。\n\n第二条 乙。\n".encode()
    source, _ = add_source(io.BytesIO(two), "t.md", SourceMeta(title="测试条例"))
    parse_source(source)
    first, second = source.provisions.order_by("number")
    case, _ = create_scenario(
        kind="subjective", stem="案例", norm="考点", scene=resolve_scene("器官移植"), origin="expert"
    )
    case.provisions.set([first, second])
    Path(source.file.path).write_bytes("# 测试条例\n\n第一条 甲（修改）。\n".encode())  # 第二条 removed
    parse_source(source)
    assert set(case.provisions.values_list("pk", flat=True)) == {first.pk, second.pk}  # links survive
    assert Provision.objects.get(pk=first.pk).text == "甲（修改）。"
    source.refresh_from_db()
    assert any("第二条" in warning and "kept" in warning for warning in source.parse_warnings)


def test_pdf_and_docx_sources_parse_through_the_service(db: None) -> None:
    from tests.documents import law_to_docx, law_to_pdf

    markdown = (
        Path(__file__).resolve().parent.parent / "benchmark/demo/laws/人体器官移植条例(2007-03-31).md"
    ).read_text()
    for data, name in ((law_to_pdf(markdown), "条例.pdf"), (law_to_docx(markdown), "条例.docx")):
        source, _ = add_source(io.BytesIO(data), name, SourceMeta(title="人体器官移植条例"))
        parse_source(source)
        assert (source.article_count, source.chapter_count) == (32, 5)


def upload(client: Any, data: bytes, name: str, **fields: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("benchmark:source_add"), {"file": SimpleUploadedFile(name, data), "kind": "law", **fields}
    )


def test_curator_uploads_a_law_and_a_parse_job_follows(personas: Personas, client_as: Any) -> None:
    client = client_as(personas.curator)
    assert client.get(reverse("benchmark:source_add")).status_code == 200
    response = upload(client, TEXT, "upload-1.md", title="", issuer="国务院", promulgated_on="2020-01-01")
    source = Source.objects.get()
    assert response["Location"] == reverse("benchmark:source", args=[source.pk])
    assert (source.title, source.issuer, str(source.promulgated_on)) == ("upload-1", "国务院", "2020-01-01")
    job = Job.objects.get(kind="benchmark.parse_source")
    assert job.config == {"source": source.pk} and job.triggered_by == personas.curator
    fragment = client.get(reverse("benchmark:source", args=[source.pk]), headers={"HX-Request": "true"})
    assert 'hx-trigger="every 2s"' in fragment.content.decode()  # polls while the job runs
    execute_job(job.pk)
    done = client.get(reverse("benchmark:source", args=[source.pk]), headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true"  # then reloads once to show the provisions
    source.refresh_from_db()
    assert source.title == "测试条例" and source.article_count == 1


def test_uploading_the_same_file_again_leads_to_the_existing_source(personas: Personas, client_as: Any) -> None:
    client = client_as(personas.curator)
    upload(client, TEXT, "a.md")
    response = upload(client, TEXT, "b.md", title="另一个标题")
    assert Source.objects.count() == 1 and Job.objects.count() == 1
    assert response["Location"] == reverse("benchmark:source", args=[Source.objects.get().pk])


@pytest.mark.parametrize(
    ("data", "name", "fields", "field", "message"),
    [
        (TEXT, "law.exe", {}, "file", "不受支持"),
        (b"", "law.md", {}, "file", "空"),
        (TEXT, "law.md", {"promulgated_on": "2020-05-01", "effective_on": "2020-01-01"}, "effective_on", ""),
        (TEXT, "law.md", {"kind": "poem"}, "kind", ""),
    ],
)
def test_bad_uploads_are_400_with_the_reason_beside_the_field(
    personas: Personas, client_as: Any, data: bytes, name: str, fields: dict[str, str], field: str, message: str
) -> None:
    response = upload(client_as(personas.curator), data, name, **fields)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'data-testid="error-{field}"' in html and message in html
    assert not Source.objects.exists() and not Job.objects.exists()


def test_only_curators_upload(personas: Personas, client_as: Any) -> None:
    assert upload(client_as(personas.reviewer), TEXT, "a.md").status_code == 403
    assert not Source.objects.exists()


def test_import_sources_command_reports_each_file_and_fails_on_any_error(db: None, tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    laws = Path(__file__).resolve().parent.parent / "benchmark" / "demo" / "laws"
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("医师法(2021-08-20).md", "精神卫生法(2018-04-27).md"):
        (folder / name).write_bytes((laws / name).read_bytes())
    out = io.StringIO()
    call_command("import_sources", str(folder), "--kind", "law", stdout=out)
    assert "中华人民共和国医师法 — 67 provisions, 7 chapters (added)" in out.getvalue()
    assert "中华人民共和国精神卫生法 — 85 provisions, 7 chapters (added)" in out.getvalue()
    again = io.StringIO()
    call_command("import_sources", str(folder), stdout=again)
    assert again.getvalue().count("(already present)") == 2 and Source.objects.count() == 2
    (folder / "notes.txt").write_text("没有条文。", encoding="utf-8")
    (folder / "virus.exe").write_bytes(b"MZ")  # not a supported type: not even picked up from a folder
    with pytest.raises(CommandError, match="1 of 3"):
        call_command("import_sources", str(folder), stdout=io.StringIO())
