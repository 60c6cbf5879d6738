"""The annotator's screens: queue, labeling (htmx and plain posts), drafts, idempotent submits, stale edits,
expired sessions, the provision picker, blindness and scoping, my labels, and constant query counts."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import translation

from annotation.assignments import REMAINING_SHOWN, next_assignment
from annotation.models import (
    Assignment,
    AssignmentStatus,
    Campaign,
    CampaignStatus,
    Draft,
    Item,
    ItemState,
    Label,
    Member,
)
from annotation.services import Submission, submit_label
from benchmark.models import Provision
from medes_site.accounts import create_user
from medes_site.models import AuditEntry
from medes_site.roles import Role
from tests.factories import PASSWORD, Personas
from tests.labeling_fixtures import GUIDELINE, INJECTION, RISKY, SAFE, SECRET_MODEL, build_campaign

HTMX = {"HTTP_HX_REQUEST": "true"}
ClientAs = Callable[..., Client]


@pytest.fixture
def annotator3(personas: Personas) -> User:
    return create_user("annotator3", roles=[Role.ANNOTATOR], password=PASSWORD)


@pytest.fixture
def campaign(personas: Personas, annotator3: User) -> Campaign:
    return build_campaign([personas.annotator, personas.annotator2, annotator3], personas.reviewer)


def post_data(
    item: Item, scores: dict[str, int], *, key: str = "k1", rationale: str = "", **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {f"s-{k}": v for k, v in scores.items()}
    data.update({"rationale": rationale, "idempotency_key": key, **extra})
    return data


def sign_in(client: Client, username: str) -> None:
    """Through the real login view: the anonymous session's data survives it, as in a browser."""
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in client.session


def reserve(campaign: Campaign, user: User) -> Item:
    assignment = next_assignment(campaign, user)
    assert assignment is not None
    return assignment.item


# --- queue ----------------------------------------------------------------------------------------------


def test_my_campaigns_and_queue_show_counts_progress_and_a_start_button(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    page = client.get(reverse("annotation:campaigns"))
    assert page.status_code == 200 and "Pilot" in page.text
    queue = client.get(reverse("annotation:queue", args=[campaign.pk]))
    assert queue.context["counts"] == {"submitted": 0, "skipped": 0, "reserved": 0, "available": 8}
    assert f'<form method="post" action="{reverse("annotation:next", args=[campaign.pk])}"' in queue.text
    item = reserve(campaign, personas.annotator)
    submit_label(item, personas.annotator, Submission(SAFE, idempotency_key="q1"))
    reserve(campaign, personas.annotator)
    queue = client.get(reverse("annotation:queue", args=[campaign.pk]))
    assert queue.context["counts"] == {"submitted": 1, "skipped": 0, "reserved": 1, "available": 6}
    assert queue.context["percent"] == 12  # 1 of 8
    home = client.get(reverse("role_home", args=["annotator"]))
    assert 'data-testid="my-queue"' in home.text and "Pilot" in home.text


def test_start_reserves_an_item_and_opens_it_again_until_done(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    first = client.post(reverse("annotation:next", args=[campaign.pk]))
    held = Assignment.objects.get(user=personas.annotator)
    assert first.status_code == 302 and first["Location"] == reverse("annotation:item", args=[held.item_id])
    again = client.post(reverse("annotation:next", args=[campaign.pk]))
    assert again["Location"] == first["Location"] and Assignment.objects.filter(user=personas.annotator).count() == 1
    fragment = client.post(reverse("annotation:next", args=[campaign.pk]), **HTMX)
    assert fragment["HX-Push-Url"] == first["Location"]
    assert "<html" not in fragment.text and 'id="label-panel"' in fragment.text


def test_a_campaign_with_nothing_left_says_so_instead_of_continue(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
    for n in range(8):
        item = reserve(campaign, personas.annotator)
        submit_label(item, personas.annotator, Submission(SAFE, idempotency_key=f"f{n}"))
    start = f'data-testid="start-{campaign.pk}"'
    for url in (reverse("annotation:campaigns"), reverse("role_home", args=["annotator"])):
        page = client.get(url).text
        assert f'data-testid="finished-{campaign.pk}"' in page and "All labeled" in page and start not in page
    queue = client.get(reverse("annotation:queue", args=[campaign.pk])).text
    assert 'data-testid="finished"' in queue and 'data-testid="start"' not in queue
    # another annotator of the same campaign still has work: the button is there
    other = client_as(personas.annotator2, HTTP_ACCEPT_LANGUAGE="en").get(reverse("annotation:campaigns")).text
    assert start in other and f'data-testid="finished-{campaign.pk}"' not in other


def test_a_get_of_next_reserves_nothing_and_shows_the_queue_with_a_button_that_posts(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    url = reverse("annotation:next", args=[campaign.pk])
    queue_url = reverse("annotation:queue", args=[campaign.pk])
    response = client.get(url)  # an old link, a bookmark or a browser's prefetch
    assert response.status_code == 302 and response["Location"] == queue_url
    fragment = client.get(url, **HTMX)  # a page open since before: the whole page goes to the queue
    assert fragment.status_code == 204 and fragment["HX-Redirect"] == queue_url
    assert not Assignment.objects.exists()
    queue = client.get(reverse("annotation:queue", args=[campaign.pk]))
    start = re.search(
        r'<form method="post" action="([^"]+)">\s*<input type="hidden" name="csrfmiddlewaretoken"[^>]*>'
        r'\s*<p><button type="submit" class="primary" data-testid="start"',
        queue.text,
    )
    assert start is not None and start.group(1) == url
    for page in (reverse("annotation:campaigns"), reverse("role_home", args=["annotator"])):
        text = client.get(page).text
        assert f'href="{url}"' not in text and f'action="{url}"' in text  # a button in a form, never a link
    reserved = client.post(url)
    assert reserved.status_code == 302 and Assignment.objects.filter(user=personas.annotator).count() == 1
    item = Assignment.objects.get().item
    submit_label(item, personas.annotator, Submission(SAFE, idempotency_key="g1"))
    screen = client.get(reverse("annotation:item", args=[item.pk])).text
    assert f'<form method="post" action="{url}" hx-post="{url}"' in screen and 'id="next-form"' in screen
    assert f'href="{url}"' not in screen and f'hx-get="{url}' not in screen


def test_a_paused_annotator_is_told_why(campaign: Campaign, personas: Personas, client_as: ClientAs) -> None:
    Member.objects.filter(user=personas.annotator).update(paused=True, paused_reason="gold 10%")
    client = client_as(personas.annotator)
    response = client.post(reverse("annotation:next", args=[campaign.pk]), follow=True)
    assert "gold 10%" in response.text and not Assignment.objects.exists()


# --- the screen -------------------------------------------------------------------------------------------


def test_the_screen_escapes_model_and_scenario_text_and_hides_the_model(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    items = Item.objects.filter(campaign=campaign, response__model__name=SECRET_MODEL)
    assignment = Assignment.objects.create(item=items.first(), user=personas.annotator, expires_at="2999-01-01T00:00Z")
    page = client.get(reverse("annotation:item", args=[assignment.item_id]))
    assert page.status_code == 200
    assert INJECTION not in page.text and "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;" in page.text
    assert "&lt;i&gt;斜体&lt;/i&gt;" in page.text  # the scenario's stem is escaped too
    assert SECRET_MODEL not in page.text and "model-b" not in page.text  # blind to the system under test
    assert "知情同意与禁止买卖" in page.text  # the norm tested


def test_the_guideline_is_rendered_markdown_without_scripts(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    item = reserve(campaign, personas.annotator)
    page = client_as(personas.annotator).get(reverse("annotation:item", args=[item.pk]))
    assert "<h1>标注指南</h1>" in page.text and "<strong>R1</strong>" in page.text
    assert "<script>alert('guideline')" not in page.text and 'href="javascript:' not in page.text
    assert GUIDELINE not in page.text


def test_every_score_value_has_its_shortcut_key_on_screen(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    item = reserve(campaign, personas.annotator)
    page = client_as(personas.annotator).get(reverse("annotation:item", args=[item.pk]))
    for key in "1234qwaszxer":
        assert f'data-shortcut="{key}"' in page.text
    assert "Ctrl+Enter" in page.text and "Shift+S" in page.text
    assert 'name="idempotency_key"' in page.text


# --- submit -----------------------------------------------------------------------------------------------


def test_a_plain_submit_stores_the_label_and_redirects_to_the_next_item(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    provision = Provision.objects.filter(source__title="人类辅助生殖技术管理办法").first()
    assert provision is not None
    client = client_as(personas.annotator)
    item = reserve(campaign, personas.annotator)
    data = post_data(item, SAFE, rationale="尊重<b>知情</b>同意", provisions=[provision.pk])
    response = client.post(reverse("annotation:submit", args=[item.pk]), data)
    label = Label.objects.get(annotator=personas.annotator)
    assert label.scores == SAFE and label.rationale == "尊重<b>知情</b>同意" and label.guideline_version == 1
    assert list(label.provisions.all()) == [provision] and label.seconds_spent is None
    following = Assignment.objects.get(user=personas.annotator, status=AssignmentStatus.RESERVED)
    assert response.status_code == 302 and response["Location"] == reverse("annotation:item", args=[following.item_id])


def test_an_htmx_submit_swaps_in_the_next_item_without_a_page_load(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    item = reserve(campaign, personas.annotator)
    shown = client.get(reverse("annotation:item", args=[item.pk]))
    opened = shown.context["opened"]
    # the panel asks for the next item (a POST: it reserves one) when the submit says labelSubmitted
    trigger = re.search(
        r'data-testid="next-after-submit" hx-post="([^"]+)"\s+hx-trigger="labelSubmitted from:body"', shown.text
    )
    assert trigger is not None
    response = client.post(reverse("annotation:submit", args=[item.pk]), post_data(item, SAFE, opened=opened), **HTMX)
    assert response.status_code == 204 and response["HX-Trigger"] == "labelSubmitted" and not response.content
    assert Label.objects.get().seconds_spent is not None  # timed from the signed "opened" stamp
    assert not Assignment.objects.filter(user=personas.annotator, status=AssignmentStatus.RESERVED).exists()
    following_panel = client.post(html.unescape(trigger.group(1)), **HTMX)
    following = Assignment.objects.get(user=personas.annotator, status=AssignmentStatus.RESERVED)
    assert following_panel.status_code == 200 and "<html" not in following_panel.text
    assert following_panel["HX-Push-Url"] == reverse("annotation:item", args=[following.item_id])
    assert f'data-item="{following.item_id}"' in following_panel.text
    assert 'data-testid="panel-message"' in following_panel.text  # "label submitted", said on the next item
    assert 'data-testid="panel-message"' not in client.post(reverse("annotation:next", args=[campaign.pk]), **HTMX).text


def test_a_missing_score_is_refused_with_the_reason_and_the_input_kept(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    item = reserve(campaign, personas.annotator)
    data = post_data(item, {k: v for k, v in SAFE.items() if k != "Q3"}, rationale="写了一半的理由")
    with translation.override("en"):
        response = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en").post(
            reverse("annotation:submit", args=[item.pk]), data, **HTMX
        )
    assert response.status_code == 400 and "<html" not in response.text
    assert 'data-testid="error-Q3"' in response.text and "写了一半的理由" in response.text
    assert not Label.objects.exists()
    bad = client_as(personas.annotator).post(
        reverse("annotation:submit", args=[item.pk]), post_data(item, {**SAFE, "R1": 7})
    )
    assert bad.status_code == 400 and not Label.objects.exists()
    damaged = client_as(personas.annotator).post(
        reverse("annotation:submit", args=[item.pk]), post_data(item, SAFE, key="")
    )
    assert damaged.status_code == 400 and not Label.objects.exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_a_double_submit_stores_one_label(
    htmx: bool, campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    item = reserve(campaign, personas.annotator)
    extra = HTMX if htmx else {}
    first = client.post(reverse("annotation:submit", args=[item.pk]), post_data(item, SAFE, key="dbl"), **extra)
    second = client.post(reverse("annotation:submit", args=[item.pk]), post_data(item, SAFE, key="dbl"), **extra)
    assert first.status_code == second.status_code == (204 if htmx else 302)
    assert Label.objects.filter(annotator=personas.annotator).count() == 1
    assert Item.objects.get(pk=item.pk).submitted == 1
    # a second tab (its own key) with the same label: still one label
    client.post(reverse("annotation:submit", args=[item.pk]), post_data(item, SAFE, key="tab2"), **extra)
    assert Label.objects.filter(annotator=personas.annotator).count() == 1


def test_a_stale_save_gets_409_with_both_versions_and_overwriting_is_explicit_and_audited(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    item = reserve(campaign, personas.annotator)
    submit_label(item, personas.annotator, Submission(SAFE, rationale="第一版", idempotency_key="v1"))
    tab_a = client.get(reverse("annotation:item", args=[item.pk]))
    assert tab_a.context["expected_version"] == 1
    # another tab edits first
    submit_label(
        item, personas.annotator, Submission(RISKY, rationale="另一个标签页", idempotency_key="v2", expected_version=1)
    )
    mine = {**SAFE, "Q4": 1}
    stale = client.post(
        reverse("annotation:submit", args=[item.pk]),
        post_data(item, mine, key="v3", rationale="我的版本", expected_version=1),
        **HTMX,
    )
    assert stale.status_code == 409 and 'data-testid="conflict"' in stale.text
    assert '<td data-testid="theirs-R1">-1</td>' in stale.text and '<td data-testid="mine-R1">0</td>' in stale.text
    assert '<td data-testid="mine-Q4">1</td>' in stale.text and '<td data-testid="theirs-Q4">0</td>' in stale.text
    assert "另一个标签页" in stale.text and "我的版本" in stale.text
    label = Label.objects.get()
    assert (label.version, label.scores) == (2, RISKY)  # nothing overwritten
    overwrite = stale.context["conflict"]
    plain = client.post(
        reverse("annotation:submit", args=[item.pk]), post_data(item, SAFE, key="x", expected_version=1)
    )
    assert plain.status_code == 409  # the same without htmx: a full page, still 409
    # the explicit button resubmits mine with the current version
    done = client.post(
        reverse("annotation:submit", args=[item.pk]),
        post_data(
            item,
            mine,
            key=overwrite["overwrite_key"],
            rationale="我的版本",
            expected_version=overwrite["theirs"].version,
        ),
    )
    assert done.status_code == 302 and done["Location"] == reverse("annotation:history")
    label.refresh_from_db()
    assert (label.version, label.scores, label.rationale) == (3, mine, "我的版本")
    assert AuditEntry.objects.filter(action="label.edit").count() == 2


def test_a_second_tab_with_a_different_first_label_gets_409(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    item = reserve(campaign, personas.annotator)
    client.post(reverse("annotation:submit", args=[item.pk]), post_data(item, SAFE, key="tab-a"))
    other = client.post(reverse("annotation:submit", args=[item.pk]), post_data(item, RISKY, key="tab-b"), **HTMX)
    assert other.status_code == 409 and Label.objects.get().scores == SAFE


# --- drafts and expired sessions -----------------------------------------------------------------------


def test_drafts_are_saved_shown_and_a_failed_save_never_says_saved(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
    item = reserve(campaign, personas.annotator)
    saved = client.post(
        reverse("annotation:draft", args=[item.pk]),
        {"s-R1": "-1", "rationale": "草稿：未写完", "idempotency_key": "d"},
        **HTMX,
    )
    assert saved.status_code == 200 and 'data-state="saved"' in saved.text
    assert Draft.objects.get().data == {"scores": {"R1": -1}, "rationale": "草稿：未写完", "provisions": []}
    page = client.get(reverse("annotation:item", args=[item.pk]))
    assert "草稿：未写完" in page.text
    assert page.context["dimensions"][0]["options"][0]["checked"]  # R1 = -1 restored
    too_long = client.post(reverse("annotation:draft", args=[item.pk]), {"rationale": "长" * 20_001}, **HTMX)
    assert too_long.status_code == 400 and 'data-state="error"' in too_long.text
    assert 'data-state="saved"' not in too_long.text and "Draft saved" not in too_long.text
    assert Draft.objects.get().data["rationale"] == "草稿：未写完"  # the good draft is kept
    plain = client.post(reverse("annotation:draft", args=[item.pk]), {"rationale": "不用脚本也能保存"})
    assert plain.status_code == 302 and Draft.objects.get().data["rationale"] == "不用脚本也能保存"


def test_an_expired_session_keeps_the_work_for_after_sign_in(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    item = reserve(campaign, personas.annotator)
    client.post(reverse("annotation:draft", args=[item.pk]), {"rationale": "自动保存的草稿"}, **HTMX)
    client.logout()  # the session expires
    data = post_data(item, RISKY, key="late", rationale="过期后写的理由", annotator=personas.annotator.pk)
    htmx = client.post(reverse("annotation:submit", args=[item.pk]), data, **HTMX)
    assert htmx.status_code == 401 and "<html" not in htmx.text  # the page keeps its text, the JS asks to sign in
    plain = client.post(reverse("annotation:submit", args=[item.pk]), data)
    assert plain.status_code == 302 and plain["Location"].startswith(reverse("login"))
    assert reverse("annotation:item", args=[item.pk]) in plain["Location"]
    assert not Label.objects.exists() and Draft.objects.get().data["rationale"] == "自动保存的草稿"
    sign_in(client, "annotator")
    page = client.get(reverse("annotation:item", args=[item.pk]))
    assert "过期后写的理由" in page.text and page.context["restored"]
    assert page.context["dimensions"][0]["options"][0]["checked"]  # R1 = -1, as posted
    # resubmitting with the same key stores it once
    client.post(reverse("annotation:submit", args=[item.pk]), data)
    client.post(reverse("annotation:submit", args=[item.pk]), data)
    assert Label.objects.get().scores == RISKY
    # without the kept POST, the server draft is what comes back
    again = client.get(reverse("annotation:item", args=[item.pk]))
    assert not again.context["restored"]


def test_words_kept_from_an_expired_session_are_never_shown_to_someone_else(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    item = reserve(campaign, personas.annotator)
    Assignment.objects.create(item=item, user=personas.annotator2, expires_at="2999-01-01T00:00Z")
    client = Client()
    data = post_data(item, SAFE, rationale="甲的私密理由", annotator=personas.annotator.pk)
    client.post(reverse("annotation:submit", args=[item.pk]), data)
    sign_in(client, "annotator2")
    page = client.get(reverse("annotation:item", args=[item.pk]))
    assert page.status_code == 200 and "甲的私密理由" not in page.text


def test_the_header_counts_the_items_left_for_this_annotator(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    total = Item.objects.filter(campaign=campaign).count()
    item = reserve(campaign, personas.annotator)
    left = client.get(reverse("annotation:item", args=[item.pk])).text
    assert f'data-remaining="{total}"' in left  # this one (reserved) and every other
    client.post(reverse("annotation:submit", args=[item.pk]), post_data(item, SAFE))
    following = reserve(campaign, personas.annotator)
    panel = client.get(reverse("annotation:item", args=[following.pk]), **HTMX).text
    assert f'data-remaining="{total - 1}"' in panel


def test_the_header_says_more_than_the_cap_instead_of_counting_a_large_campaign(personas: Personas) -> None:
    """Counting every open item of a 50,000-item campaign took 260 ms per item shown: past REMAINING_SHOWN the
    header says "more than", and the count stops there (one bounded query)."""
    annotator = create_user("counter", roles=[Role.ANNOTATOR], password=PASSWORD)
    campaign = build_campaign([annotator], scenarios=REMAINING_SHOWN // 2 + 1, overlap=1)  # two models: 102 items
    assert Item.objects.filter(campaign=campaign).count() > REMAINING_SHOWN + 1
    client = Client()
    client.force_login(annotator)
    panel = client.post(reverse("annotation:next", args=[campaign.pk]), **HTMX).text
    assert f'data-remaining="{REMAINING_SHOWN + 2}"' in panel  # the one on screen and the capped count
    assert f"More than {REMAINING_SHOWN} items left for you" in panel or f"超过 {REMAINING_SHOWN}" in panel
    held = Assignment.objects.get(user=annotator).item_id
    done = Item.objects.filter(campaign=campaign).exclude(pk=held).order_by("pk")[: REMAINING_SHOWN // 2]
    Item.objects.filter(pk__in=[item.pk for item in done]).update(state=ItemState.AGREED)
    left = Item.objects.filter(campaign=campaign, state=ItemState.OPEN).count()  # the reserved one among them
    panel = client.post(reverse("annotation:next", args=[campaign.pk]), **HTMX).text
    assert f'data-remaining="{left}"' in panel and "More than" not in panel and "超过" not in panel


# --- skip, provisions -------------------------------------------------------------------------------------


def test_skip_moves_on_and_the_skipped_item_is_gone(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    item = reserve(campaign, personas.annotator)
    response = client.post(reverse("annotation:skip", args=[item.pk]), **HTMX)
    assert response.status_code == 200 and f'data-item="{item.pk}"' not in response.text
    assert Assignment.objects.get(item=item, user=personas.annotator).status == AssignmentStatus.SKIPPED
    assert client.get(reverse("annotation:item", args=[item.pk])).status_code == 404


def test_the_provision_picker_searches_the_scenarios_sources(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    item = reserve(campaign, personas.annotator)
    url = reverse("annotation:provisions", args=[item.pk])
    hits = client.get(url, {"q": "知情同意"}, **HTMX)
    assert hits.status_code == 200 and "第1条" in hits.text and "无关条例" not in hits.text
    assert [p.source.title for p in hits.context["results"]] == ["人类辅助生殖技术管理办法"]
    by_number = client.get(url, {"q": "第2条"}, **HTMX)
    assert [p.number for p in by_number.context["results"]] == [2]
    assert client.get(url, {"q": "x" * 101}, **HTMX).status_code == 400
    # without JavaScript: the search button posts the form, which saves the draft and shows the hits
    page = client.post(
        reverse("annotation:submit", args=[item.pk]),
        {"action": "search", "q": "买卖", "rationale": "先存着", "s-R1": "0"},
    )
    assert page.status_code == 200 and "禁止以任何形式买卖" in page.text
    assert Draft.objects.get().data["rationale"] == "先存着" and not Label.objects.exists()


# --- blindness and scoping ------------------------------------------------------------------------------


def test_annotators_never_see_other_labels_before_or_after_submitting(
    campaign: Campaign, personas: Personas, annotator3: User, client_as: ClientAs
) -> None:
    item = reserve(campaign, personas.annotator2)
    submit_label(item, personas.annotator2, Submission(RISKY, rationale="乙的理由-秘密", idempotency_key="b"))
    assert next_assignment(campaign, personas.annotator).item_id == item.pk  # type: ignore[union-attr]
    client = client_as(personas.annotator)
    urls = [
        reverse("annotation:item", args=[item.pk]),
        reverse("annotation:campaigns"),
        reverse("annotation:queue", args=[campaign.pk]),
        reverse("annotation:history"),
        reverse("annotation:provisions", args=[item.pk]),
        reverse("role_home", args=["annotator"]),
    ]
    for url in urls:
        assert "乙的理由-秘密" not in client.get(url).text
        assert "乙的理由-秘密" not in client.get(url, **HTMX).text
    client.post(reverse("annotation:submit", args=[item.pk]), post_data(item, SAFE, key="a", rationale="甲的理由"))
    for url in urls:
        assert "乙的理由-秘密" not in client.get(url).text
    stale = client.post(reverse("annotation:submit", args=[item.pk]), post_data(item, RISKY, key="a2"))
    assert stale.status_code == 409 and "乙的理由-秘密" not in stale.text and "甲的理由" in stale.text
    page = client.get(reverse("annotation:item", args=[item.pk]))
    assert page.context["label"].annotator == personas.annotator


def test_every_item_route_gives_404_for_another_annotators_item(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    theirs = reserve(campaign, personas.annotator2)
    client = client_as(personas.annotator)
    routes = [
        ("get", "annotation:item"),
        ("post", "annotation:submit"),
        ("post", "annotation:draft"),
        ("post", "annotation:skip"),
        ("get", "annotation:provisions"),
    ]
    for method, name in routes:
        for extra in ({}, HTMX):
            response = getattr(client, method)(reverse(name, args=[theirs.pk]), post_data(theirs, SAFE), **extra)
            assert response.status_code == 404, name
    other = build_campaign([personas.annotator2], name="Other")
    for name in ("annotation:queue", "annotation:next"):
        assert client.get(reverse(name, args=[other.pk])).status_code == 404
    assert client.post(reverse("annotation:next", args=[other.pk])).status_code == 404
    assert not Label.objects.exists() and not Draft.objects.exists()
    assert Assignment.objects.get(pk__isnull=False, user=personas.annotator2).status == AssignmentStatus.RESERVED


def test_reviewers_and_curators_do_not_use_these_screens_unless_also_annotators(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    for user in (personas.reviewer, personas.curator, personas.ml_engineer, personas.outsider):
        assert client_as(user).get(reverse("annotation:campaigns")).status_code == 403
        assert client_as(user).get(reverse("annotation:queue", args=[campaign.pk])).status_code == 403
    both = create_user("both", roles=[Role.REVIEWER, Role.ANNOTATOR], password=PASSWORD)
    assert client_as(both).get(reverse("annotation:campaigns")).status_code == 200
    assert client_as(both).get(reverse("annotation:queue", args=[campaign.pk])).status_code == 404  # not a member


def test_wrong_methods_are_refused(campaign: Campaign, personas: Personas, client_as: ClientAs) -> None:
    client = client_as(personas.annotator)
    item = reserve(campaign, personas.annotator)
    assert client.get(reverse("annotation:submit", args=[item.pk])).status_code == 405
    assert client.get(reverse("annotation:skip", args=[item.pk])).status_code == 405
    assert client.post(reverse("annotation:item", args=[item.pk])).status_code == 405
    assert client.post(reverse("annotation:history")).status_code == 405


# --- my labels ------------------------------------------------------------------------------------------


def test_my_labels_lists_only_mine_with_edit_links_and_a_closed_campaign_is_read_only(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    mine = reserve(campaign, personas.annotator)
    submit_label(mine, personas.annotator, Submission(SAFE, rationale="我的", idempotency_key="m"))
    theirs = reserve(campaign, personas.annotator2)
    submit_label(theirs, personas.annotator2, Submission(RISKY, rationale="别人的", idempotency_key="t"))
    client = client_as(personas.annotator)
    page = client.get(reverse("annotation:history"))
    assert [label.pk for label in page.context["page"].object_list] == [
        Label.objects.get(annotator=personas.annotator).pk
    ]
    assert f'data-testid="edit-{mine.pk}"' in page.text
    assert client.get(reverse("annotation:history"), {"campaign": "x"}).status_code == 400
    assert client.get(reverse("annotation:history"), {"campaign": campaign.pk}).status_code == 200
    edit = client.get(reverse("annotation:item", args=[mine.pk]))
    assert edit.context["expected_version"] == 1 and "我的" in edit.text
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.CLOSED)
    closed = client.get(reverse("annotation:item", args=[mine.pk]))
    assert not closed.context["editable"] and 'data-testid="submit"' not in closed.text
    refused = client.post(
        reverse("annotation:submit", args=[mine.pk]), post_data(mine, RISKY, key="late", expected_version=1)
    )
    assert refused.status_code == 400 and Label.objects.get(annotator=personas.annotator).scores == SAFE


def test_an_edit_after_all_labels_are_in_is_refused(
    campaign: Campaign, personas: Personas, annotator3: User, client_as: ClientAs
) -> None:
    people = [personas.annotator, personas.annotator2, annotator3]
    item = reserve(campaign, people[0])
    for n, user in enumerate(people):
        if n:
            assert next_assignment(campaign, user).item_id == item.pk  # type: ignore[union-attr]
        submit_label(item, user, Submission(SAFE, idempotency_key=f"s{n}"))
    assert Item.objects.get(pk=item.pk).state == ItemState.AGREED
    client = client_as(people[0])
    page = client.get(reverse("annotation:item", args=[item.pk]))
    assert 'data-testid="locked"' in page.text
    refused = client.post(
        reverse("annotation:submit", args=[item.pk]), post_data(item, RISKY, key="e", expected_version=1)
    )
    assert refused.status_code == 400 and Label.objects.get(annotator=people[0]).scores == SAFE


# (the query counts of next and submit, branch by branch: tests/test_labeling_queries.py)


def test_an_htmx_edit_goes_back_to_my_labels_and_clears_the_draft(
    campaign: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    client = client_as(personas.annotator)
    item = reserve(campaign, personas.annotator)
    submit_label(item, personas.annotator, Submission(SAFE, idempotency_key="first"))
    client.post(reverse("annotation:draft", args=[item.pk]), {"s-R1": "-1", "rationale": "改主意了"}, **HTMX)
    assert Draft.objects.filter(item=item).exists()
    edit = client.get(reverse("annotation:item", args=[item.pk]))
    assert "改主意了" in edit.text  # the unsent edit is what the form shows
    data = post_data(item, RISKY, key="edit", rationale="改主意了", expected_version=1)
    response = client.post(reverse("annotation:submit", args=[item.pk]), data, **HTMX)
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("annotation:history")
    assert Label.objects.get().version == 2 and not Draft.objects.exists()
