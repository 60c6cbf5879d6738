"""Every UI string is translatable and both catalogs are complete; the language switch works; dates and
numbers follow the language."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polib
import pytest
from django.conf import settings
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import pgettext

from medes_site import jobs
from medes_site.models import Job
from tests.factories import Personas

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = {code: ROOT / "locale" / code / "LC_MESSAGES" / "django.po" for code in ("zh_Hans", "en")}


@pytest.mark.parametrize("code", CATALOGS)
def test_catalog_is_complete(code: str) -> None:
    catalog = polib.pofile(str(CATALOGS[code]))
    assert len(catalog) > 50
    assert [e.msgid for e in catalog.untranslated_entries()] == []
    assert [e.msgid for e in catalog.fuzzy_entries()] == []
    assert not catalog.metadata_is_fuzzy


def test_chinese_catalog_is_actually_chinese() -> None:
    catalog = polib.pofile(str(CATALOGS["zh_Hans"]))
    # names that read the same in Chinese: the product, acronyms, Greek letters
    same = {"MedES workbench", "SHA-256", "GPU", "SFT", "DPO", "F1", "κ", "α"}
    untranslated_looking = [e.msgid for e in catalog if e.msgstr == e.msgid and e.msgid not in same]
    assert untranslated_looking == []


# A translation that sits on the wrong message (the catalog "rotated by one", as makemessages can leave it after
# hand edits) keeps reading as Chinese; it shows in what it carries over from English. Names a message spells in
# Latin letters (formats, acronyms, code words) appear in its translation, and a translation spells no Latin word
# its message lacks; placeholders and HTML tags are the same on both sides.
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*[A-Za-z0-9]")
MARKUP = re.compile(r"%\([a-z_0-9]+\)[sdfr]|%[sdfr]|\{[a-z_0-9]*\}|</?[a-z0-9]+[^>]*>|&[a-z]+;")
CARRIED = re.compile(
    r"\b(jsonl|csv|parquet|json|url|api|lora|dpo|sft|gpu|cpu|pdf|docx|html|markdown|safetensors)\b", re.I
)
# The reviewed key terms (docs/glossary.md): an English term in a message and the Chinese one its translation must
# use. A term the translation keeps in English (a file's column name such as ``scene``) needs no Chinese term.
KEY_TERMS = {
    r"accepted labels?": "采纳",
    r"guardians?": "守护模型",
    r"annotators?": "标注员",
    r"reviewers?": "审核员",
    r"provisions?": "条",
    r"scenarios?": "情景",
    r"scenes?": "场景",
    r"campaigns?": "标注任务",
    r"jobs?": "作业",
    r"releases?": "发布版",
    r"curators?": "策展人",
    r"critics?": "评语模型",
    r"amendments?": "修订",
}
# never used, whatever the message (docs/glossary.md, "Not to use"): 情境 (scenario is 情景, scene is 场景) and the
# drifted terms the catalog once had
BANNED = ("情境", "场景条目", "发布版本", "标注活动", "反馈模型", "审编人员", "审核者", "守护者")


def _translated() -> list[polib.POEntry]:
    return [e for e in polib.pofile(str(CATALOGS["zh_Hans"])) if e.msgstr and not e.obsolete]


def carried_problems(entries: list[polib.POEntry]) -> list[str]:
    """Each translation whose placeholders, tags or Latin-lettered names differ from its message's."""
    wrong = []
    for entry in entries:
        message, translated = entry.msgid, entry.msgstr
        if sorted(MARKUP.findall(message)) != sorted(MARKUP.findall(translated)):
            wrong.append(f"{message!r}: placeholders or tags differ in {translated!r}")
        plain_message = MARKUP.sub(" ", message).lower()
        foreign = [w for w in LATIN_WORD.findall(MARKUP.sub(" ", translated)) if w.lower() not in plain_message]
        lost = {name.lower() for name in CARRIED.findall(message) if name.lower() not in translated.lower()}
        if foreign or lost:
            wrong.append(f"{message!r} → {translated!r}: {sorted(foreign)} not in the message, {sorted(lost)} lost")
    return wrong


def term_problems(entries: list[polib.POEntry]) -> list[str]:
    """Each translation that does not use the reviewed Chinese term for a key term of its message (placeholders
    are no words), or that uses a banned one."""
    wrong = []
    for entry in entries:
        message = MARKUP.sub(" ", entry.msgid)
        for english, chinese in KEY_TERMS.items():
            found = re.search(rf"\b{english}\b", message, re.I)
            if found and chinese not in entry.msgstr and found.group(0).lower() not in entry.msgstr.lower():
                wrong.append(f"{entry.msgid!r} → {entry.msgstr!r} lacks {chinese}")
        wrong += [f"{entry.msgid!r} → {entry.msgstr!r} uses {banned}" for banned in BANNED if banned in entry.msgstr]
    return wrong


def test_each_translation_carries_its_own_messages_names_placeholders_and_tags() -> None:
    wrong = carried_problems(_translated())
    assert wrong == [], "\n".join(wrong)


def test_translations_use_the_reviewed_key_terms() -> None:
    wrong = term_problems(_translated())
    assert wrong == [], "\n".join(wrong)


def test_the_catalog_checks_catch_translations_rotated_by_one() -> None:
    # the three messages the zh-hans catalog once had rotated by one (issue 16)
    rotated = [
        polib.POEntry(msgid="Export labels or accepted labels.", msgstr="导出标注任务的标签"),
        polib.POEntry(msgid="Choose jsonl, csv or parquet.", msgstr="请选择导出标签或已采纳标签。"),
        polib.POEntry(msgid="Export a campaign's labels", msgstr="请选择 jsonl、csv 或 parquet。"),
    ]
    flagged = carried_problems(rotated) + term_problems(rotated)
    assert sorted({next(e.msgid for e in rotated if repr(e.msgid) in line) for line in flagged}) == [
        "Choose jsonl, csv or parquet.",
        "Export a campaign's labels",
        "Export labels or accepted labels.",
    ]
    placeholders = [polib.POEntry(msgid="%(n)d items in <b>%(name)s</b>", msgstr="%(name)s 中有 %(n)d 条")]
    assert len(carried_problems(placeholders)) == 1
    drifted = [
        polib.POEntry(msgid="New scenario", msgstr="新建场景"),  # scenario is 情景
        polib.POEntry(msgid="Clinical scene", msgstr="临床情境"),  # 情境: never
        polib.POEntry(msgid="%(scene)s: 3 rows", msgstr="%(scene)s：3 行"),  # a placeholder is no term
        polib.POEntry(msgid="CSV with scene, query", msgstr="含 scene、query 列的 CSV"),  # a column kept in English
    ]
    assert [line.split(" → ")[0] for line in term_problems(drifted)] == [
        "'New scenario'",
        "'Clinical scene'",
        "'Clinical scene'",
    ]


def test_catalogs_cover_every_string_in_the_code(tmp_path: Path) -> None:
    """makemessages over a copy of the tree must find no msgid the committed catalogs lack."""
    if shutil.which("xgettext") is None:
        if os.environ.get("CI"):
            pytest.fail("GNU gettext (xgettext) is required in CI to check the catalogs")
        pytest.skip("GNU gettext is not installed; `apt-get install gettext` to run this check")
    copy = tmp_path / "tree"
    ignore = shutil.ignore_patterns(".venv", "var", ".git", "node_modules", "*.mo", "__pycache__", ".*_cache")
    shutil.copytree(ROOT, copy, ignore=ignore)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--locale", "zh_Hans", "--no-location", "--no-obsolete"],
        cwd=copy,
        check=True,
        capture_output=True,
        env={**os.environ, "MEDES_VAR_DIR": str(tmp_path / "var")},
    )
    fresh = {e.msgid for e in polib.pofile(str(copy / "locale/zh_Hans/LC_MESSAGES/django.po"))}
    committed = {e.msgid for e in polib.pofile(str(CATALOGS["zh_Hans"])) if e.msgstr or e.msgstr_plural}
    assert sorted(fresh - committed) == [], "run `make messages` and translate the new strings"


def test_chinese_is_the_default_language(personas: Personas, client_as: Any) -> None:
    html = client_as(personas.annotator).get(reverse("role_home", args=["annotator"])).content.decode()
    assert '<html lang="zh-hans">' in html
    assert "我的队列" in html and "退出登录" in html


def test_language_switch_persists_across_pages(personas: Personas) -> None:
    client = Client()
    client.force_login(personas.ml_engineer)
    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("jobs:list")})
    assert response.status_code == 302 and response["Location"] == reverse("jobs:list")
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    html = client.get(reverse("role_home", args=["ml_engineer"])).content.decode()
    assert '<html lang="en">' in html and "Models and runs" in html and "Sign out" in html
    client.post(reverse("set_language"), {"language": "zh-hans"})
    assert "模型与运行" in client.get(reverse("role_home", args=["ml_engineer"])).content.decode()


def test_an_unknown_language_falls_back_to_chinese(personas: Personas, client_as: Any) -> None:
    client = client_as(personas.annotator)
    client.post(reverse("set_language"), {"language": "xx"})
    assert "我的队列" in client.get(reverse("role_home", args=["annotator"])).content.decode()


def test_dates_and_numbers_read_alike_in_both_languages_and_codes_as_labels(personas: Personas, client_as: Any) -> None:
    """One date format (medes_site/templatetags/medes_format.py) in both languages; the units, the job's kind and
    its notice in the page's language, never the stored codes."""
    when = timezone.make_aware(dt.datetime(2026, 3, 7, 9, 5))  # noqa: DTZ001 - made aware in TIME_ZONE
    job = Job.objects.create(
        kind="system.selfcheck",
        triggered_by=personas.ml_engineer,
        started_at=when,
        finished_at=when + dt.timedelta(seconds=1234.5),
        status="lost",
        error=jobs.LOST(worker="w1:7", last="2026-03-07 09:05:00 CST"),
    )
    client = client_as(personas.ml_engineer)
    zh = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "2026-03-07 09:05" in zh and "1234.5 秒" in zh and "2026年" not in zh
    assert "工作进程自检" in zh and "system.selfcheck" not in zh
    assert "工作进程 w1:7 已停止发送心跳" in zh and "heartbeats" not in zh
    client.post(reverse("set_language"), {"language": "en"})
    en = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "2026-03-07 09:05" in en and "1234.5 s" in en and "Worker self-check" in en
    assert "The worker w1:7 stopped sending heartbeats" in en


def test_each_language_is_offered_in_its_own_name(personas: Personas, client_as: Any) -> None:
    client = client_as(personas.annotator)
    for language in ("zh-hans", "en"):
        client.post(reverse("set_language"), {"language": language})
        html = client.get(reverse("role_home", args=["annotator"])).content.decode()
        assert re.search(r'data-language="en"[^>]*>English</button>', html)
        assert re.search(r'data-language="zh-hans"[^>]*>简体中文</button>', html)


def test_ambiguous_words_read_by_their_context() -> None:
    """An active guardian version is 当前启用, an active campaign 进行中 (docs/glossary.md, "Ambiguous words")."""
    with translation.override("zh-hans"):
        assert pgettext("version in use", "active") == "当前启用"
        assert pgettext("campaign status", "Active") == "进行中"
        assert pgettext("campaign member", "active") != pgettext("version in use", "active")
        html = Template('{% load i18n %}v1 {% translate "active" context "version in use" %}').render(Context())
    assert html == "v1 当前启用"
    with translation.override("en"):
        assert pgettext("version in use", "active") == "active"
