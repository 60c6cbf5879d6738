"""The one date and number format (medes_site/templatetags/medes_format.py) and the label filter: what a user
reads on every page, in both languages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.utils import timezone, translation

from medes_site import jobs, labels
from medes_site.templatetags.medes_format import day, metric_rows, num, when


def render(source: str, **context: Any) -> str:
    return Template("{% load medes_format %}" + source).render(Context(context))


@override_settings(TIME_ZONE="Asia/Shanghai")
def test_a_moment_reads_in_the_sites_time_zone_the_same_in_both_languages() -> None:
    moment = dt.datetime(2026, 3, 7, 1, 5, 59, tzinfo=dt.UTC)
    for language in ("zh-hans", "en"):
        with translation.override(language):
            assert render("{{ t|when }} · {{ t|day }}", t=moment) == "2026-03-07 09:05 · 2026-03-07"


@override_settings(TIME_ZONE="Asia/Shanghai")
def test_an_iso_string_as_jobs_store_it_reads_like_a_moment() -> None:
    assert when("2026-03-06T18:30:00+00:00") == "2026-03-07 02:30"
    assert day("2026-03-06T18:30:00+00:00") == "2026-03-07"


def test_dates_nothing_and_what_is_no_date() -> None:
    assert when(dt.date(2026, 1, 2)) == day(dt.date(2026, 1, 2)) == "2026-01-02"
    assert when(None) == when("") == day(None) == "—"
    assert when("not a date") == "not a date"
    assert day(42) == "42"
    naive = dt.datetime(2026, 1, 2, 3, 4)  # noqa: DTZ001 - a naive moment is shown as it is
    assert when(naive) == "2026-01-02 03:04"


@pytest.mark.parametrize(
    ("value", "digits", "shown"),
    [
        (0.1 + 0.2, 3, "0.3"),  # never 0.30000000000000004
        (0.8333333333333334, 3, "0.833"),
        (2 / 3, 2, "0.67"),
        (1.0, 3, "1"),
        (-0.5, 3, "-0.5"),
        (-0.0001, 3, "0"),  # no "-0"
        (1234.5, 1, "1234.5"),
        (7, 3, "7"),
        (Decimal("2.50"), 3, "2.5"),
        ("0.125", 2, "0.13"),
        (2.5, 0, "3"),  # halves round up, as floatformat rounds them
        (123456789.0, 2, "123456789"),
        (1e40, 3, "1e+40"),
        (None, 3, "—"),
        ("", 3, "—"),
        (float("nan"), 3, "—"),
        ("n/a", 3, "n/a"),
    ],
)
def test_a_number_has_at_most_the_decimals_asked_and_no_trailing_zeros(value: object, digits: int, shown: str) -> None:
    assert num(value, digits) == shown


def test_num_in_a_template_defaults_to_three_decimals() -> None:
    assert render("{{ x|num }} {{ x|num:1 }} {{ y|num }}", x=0.123456, y=None) == "0.123 0.1 —"


def test_a_stored_code_shows_its_label_in_the_users_language() -> None:
    with translation.override("zh-hans"):
        assert render('{{ k|label:"job" }}', k="system.selfcheck") == str(jobs.REGISTRY["system.selfcheck"].label)
        assert render('{{ k|label:"metric" }}', k="fleiss_kappa") == str(labels.METRICS["fleiss_kappa"])
    with translation.override("en"):
        assert render('{{ k|label:"job" }}', k="system.selfcheck") == "Worker self-check"
        assert render('{{ k|label:"audit" }}', k="scenario.create") == "scenario created"
        assert render('{{ k|label:"model" }}', k="auth.user") == "user"


def test_a_code_no_vocabulary_knows_is_never_shown_raw_but_text_is_shown_as_it_is() -> None:
    assert labels.label("job", "alignment.some_new_kind") == "some new kind"
    assert labels.label("nothing", "risk_flag") == "risk flag"
    assert labels.label("message", "ValueError: bad value. Try again.") == "ValueError: bad value. Try again."
    assert labels.label("job", None) == labels.label("job", "") == ""


def test_a_job_notice_is_stored_in_english_and_read_in_the_users_language() -> None:
    stored = jobs.LOST(worker="w1:42", last="2026-03-07 09:05:00 CST")
    assert stored == "The worker w1:42 stopped sending heartbeats (last at 2026-03-07 09:05:00 CST)."
    with translation.override("en"):
        assert labels.label("message", stored) == stored
    with translation.override("zh-hans"):
        shown = labels.label("message", stored)
    assert "w1:42" in shown and "2026-03-07 09:05:00 CST" in shown and "heartbeats" not in shown


def test_metric_rows_label_keys_format_values_and_leave_curves_and_nested_tables_out() -> None:
    metrics = {
        "accuracy": 0.8333333333333334,
        "loss_curve": [[1, 2.0]],
        "agreement": {"computed_at": "2026-03-06T18:30:00+00:00", "accepted": 12, "overall": {"n": 1}},
        "per_score": [1, 2],
        "judge": "guardian v2",
    }
    with translation.override("en"), override_settings(TIME_ZONE="UTC"):
        assert metric_rows(metrics) == [
            ("accuracy", "0.8333"),
            ("agreement · computed at", "2026-03-06 18:30"),
            ("agreement · accepted labels", "12"),
            ("judge", "guardian v2"),
        ]
    assert metric_rows(None) == []


def test_history_reasons_are_read_back_into_the_users_language() -> None:
    with translation.override("en"):
        assert labels.label("history_reason", "in_review → accepted") == "status In review → Accepted"
        assert labels.label("history_reason", "imported from a.jsonl") == "imported from a.jsonl"
        assert labels.label("history_reason", "edit: text, number") == "edited: text、article number"
        assert labels.label("history_reason", "typed by a curator") == "typed by a curator"
    with translation.override("zh-hans"):
        assert "in_review" not in labels.label("history_reason", "in_review → accepted")


def test_now_renders() -> None:
    assert when(timezone.now()).startswith(str(timezone.localtime().year))


def test_stored_progress_import_and_pipeline_messages_read_back_in_the_users_language() -> None:
    from alignment.pipelines import error_label
    from benchmark.importers import UNKNOWN_SCENE

    stored = UNKNOWN_SCENE(scene=repr("火星"))
    assert stored == "Unknown scene '火星'."  # what the report keeps, whoever reads it later
    with translation.override("zh-hans"):
        assert labels.label("message", stored) == "未知场景 '火星'。"
        assert labels.label("message", "step 3 of 5") == "第 3 步，共 5 步"
        assert labels.label("message", "The file is empty.") == "文件为空。"
        assert error_label("targeted (job 7): " + jobs.TIME_LIMIT(limit=60)) == (
            "找出失败之处（作业 7）：已达到 60 秒的时间上限而停止；继续运行即可接着进行。"
        )
    with translation.override("en"):
        assert labels.label("message", stored) == stored
        assert labels.label("pipeline_step", "evaluate_aligned") == "evaluate the aligned model"
        assert error_label("not a step: whatever") is None
