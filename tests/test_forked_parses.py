"""Parses forked from a server that has the parser loaded (``benchmark.parsing.forked``, used by
``import_sources``): the same parse as the parser's own process, the same limits, the same errors."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from benchmark.models import ParseStatus, Source
from benchmark.parsing.forked import parse_forked
from benchmark.services import SourceMeta, add_source, read_parse
from tests.documents import law_to_docx, law_to_html, law_to_pdf

LAWS = Path(__file__).resolve().parent.parent / "benchmark" / "demo" / "laws"
ARTICLE = "患者享有知情同意权，医师应当如实告知病情。" * 3


def _big_law(articles: int) -> bytes:
    return "\n".join(["# 测试法", *(f"第{n}条 {ARTICLE}" for n in range(1, articles + 1))]).encode()


@pytest.mark.parametrize("suffix", [".md", ".html", ".docx", ".pdf"])
def test_a_forked_parse_equals_the_parsers_own_process(db: None, suffix: str) -> None:
    markdown = (LAWS / "医师法(2021-08-20).md").read_text(encoding="utf-8")
    data = {
        ".md": markdown.encode(),
        ".html": law_to_html(markdown).encode(),
        ".docx": law_to_docx(markdown),
        ".pdf": law_to_pdf(markdown),
    }[suffix]
    source, _ = add_source(io.BytesIO(data), f"医师法{suffix}", SourceMeta(title=f"医师法{suffix}"[: -len(suffix)]))
    forked = read_parse(source, forked=True)
    assert forked == read_parse(source)
    assert len(forked["articles"]) == 67 and forked["chapters"] == 7


def test_a_forked_parse_that_exceeds_its_memory_limit_fails_cleanly(db: None, settings: Any, tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "big.md").write_bytes(_big_law(150_000))  # about 30 MB; its parse needs about 150 MB
    (folder / "医师法.md").write_bytes((LAWS / "医师法(2021-08-20).md").read_bytes())
    settings.MEDES_PARSE_MEMORY_MB = 64
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2"):
        call_command("import_sources", str(folder), stdout=out, stderr=io.StringIO())
    assert "big.md: error: Parsing needed more than its limits (120 s of CPU, 64 MB) and was stopped." in out.getvalue()
    big = Source.objects.get(original_name="big.md")
    assert big.parse_status == ParseStatus.FAILED and "64 MB" in big.parse_error
    assert Source.objects.get(original_name="医师法.md").article_count == 67  # the other file is not lost


def test_a_forked_parse_is_stopped_at_its_cpu_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_bytes(_big_law(250_000))  # about 50 MB: several seconds of CPU
    started = time.monotonic()
    reply = parse_forked(path, "big.md", "", cpu_seconds=1, memory_mb=0, timeout=60)
    assert reply.returncode < 0 and reply.result is None  # killed by SIGXCPU
    assert time.monotonic() - started < 30


def test_a_forked_parse_past_its_time_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_bytes(_big_law(60_000))
    with pytest.raises(TimeoutError):
        parse_forked(path, "big.md", "", cpu_seconds=0, memory_mb=0, timeout=0.2)


def test_a_file_the_forked_parser_refuses_says_why_and_the_import_goes_on(db: None, tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a-broken.pdf").write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 100)
    (folder / "b-医师法.md").write_bytes((LAWS / "医师法(2021-08-20).md").read_bytes())
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2"):
        call_command("import_sources", str(folder), stdout=out, stderr=io.StringIO())
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("a-broken.pdf: error: The PDF is damaged or not a PDF; it could not be read.")
    assert "中华人民共和国医师法 — 67 provisions, 7 chapters (added)" in lines[1]
    assert Source.objects.get(original_name="a-broken.pdf").parse_status == ParseStatus.FAILED


def test_imported_provisions_get_a_first_history_row_that_copies_them(db: None, tmp_path: Path) -> None:
    from benchmark.models import Provision

    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("医师法(2021-08-20).md", "精神卫生法(2018-04-27).md"):
        (folder / name).write_bytes((LAWS / name).read_bytes())
    call_command("import_sources", str(folder), stdout=io.StringIO(), stderr=io.StringIO())
    tracked = ["id", "source_id", "number", "suffix", "label", "text", "book", "part", "chapter", "section"]
    tracked += ["version", "edited_by_hand", "curated_keys"]
    provisions = list(Provision.objects.order_by("pk").values_list(*tracked))
    history = Provision.history.order_by("id")
    assert len(provisions) == 67 + 85 and list(history.values_list(*tracked)) == provisions
    assert set(history.values_list("history_type", "history_change_reason", "history_user_id")) == {
        ("+", "parse", None)
    }
    assert [p.position for p in Provision.objects.filter(number__in=[1, 2, 3]).order_by("source", "number")] == [
        1,
        2,
        3,
        1,
        2,
        3,
    ]
