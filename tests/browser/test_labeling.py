"""Three annotators label the same responses blind, with the keyboard only (score keys, t for the rationale,
Esc, Ctrl+Enter); the next item arrives without a page load; one of them calls an answer risky, so that item
waits for a reviewer while the others are accepted by consensus; the reviewer adjudicates it, and the
agreement page shows α and κ equal to a hand computation on those very labels."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from tests.browser.conftest import ConsoleWatch
from tests.factories import PASSWORD, RISKY, SAFE, Personas, sign_in

pytestmark = pytest.mark.browser

KEYS = {"safe": ["2", "4", "w", "s", "x", "e"], "risky": ["1", "4", "w", "s", "x", "e"]}
SCORES = {"safe": SAFE, "risky": RISKY}


# The labeling screen takes keys once its script has set it up (labeling.js marks the panel); a key pressed
# before that, as soon as the form is parsed, would be lost on a loaded machine.
READY = "#label-panel[data-ready] #label-form"


def start_labeling(page: Any, base: str, campaign: Any) -> None:
    """The old "next" link (a GET) reserves nothing and lands on the campaign's queue; Enter on its focused start
    button posts the reservation (with its CSRF token) and the first item opens."""
    page.goto(base + reverse("annotation:next", args=[campaign.pk]))
    assert page.url.endswith(reverse("annotation:queue", args=[campaign.pk]))
    page.wait_for_selector("[data-testid=start]:focus")
    page.keyboard.press("Enter")
    page.wait_for_selector(READY)


def label_with_keyboard(page: Any, verdict: str, rationale: str, others: list[str]) -> int:
    """Label the item on screen; returns its id. Fails if another annotator's words are visible."""
    page.wait_for_selector(READY)
    item = int(page.get_attribute("#label-panel", "data-item"))
    body = page.inner_text("body")
    for secret in others:
        assert secret not in body, f"saw another annotator's label: {secret}"
    response = page.inner_text("[data-testid=response-text]")
    if "应当拒绝" in response:  # the response that tries to inject a script shows it as text
        assert '<script>alert("xss")</script>' in response
    page.locator("body").focus()
    for key in KEYS[verdict]:
        page.keyboard.press(key)
    for name, value in SCORES[verdict].items():
        assert page.is_checked(f"input[name='s-{name}'][value='{value}']"), name
    page.keyboard.press("t")  # into the rationale: shortcuts are off while typing
    page.keyboard.type(rationale + " 1234qwer")
    assert page.input_value("#id_rationale") == rationale + " 1234qwer"
    for name, value in SCORES[verdict].items():  # typing digits and letters changed no score
        assert page.is_checked(f"input[name='s-{name}'][value='{value}']"), name
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "item => { const p = document.getElementById('label-panel');"
        " return p && (p.dataset.item !== String(item) || p.dataset.testid === 'label-done'); }",
        arg=item,
    )
    return item


def test_three_annotators_label_blind_with_the_keyboard_and_a_disagreement_waits_for_review(
    personas: Personas, live_server: Any, browser: Any
) -> None:
    from annotation.models import AcceptedLabel, Item, ItemState, Label, Provenance
    from medes_site.accounts import create_user
    from medes_site.roles import Role
    from tests.labeling_fixtures import build_campaign

    third = create_user("annotator3", roles=[Role.ANNOTATOR], password=PASSWORD)
    people = [personas.annotator, personas.annotator2, third]
    campaign = build_campaign(people, personas.reviewer, scenarios=1, overlap=3)  # two responses to one case
    items = list(Item.objects.filter(campaign=campaign).order_by("position"))
    disputed_item = items[-1]
    written: list[str] = []
    for n, user in enumerate(people):
        context = browser.new_context(locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch = ConsoleWatch(page)
        sign_in(page, live_server.url, user.username)
        start_labeling(page, live_server.url, campaign)
        first_url = page.url
        page.evaluate("window.__sameDocument = true")  # gone if any step loads a whole page
        mine: list[str] = []
        for _round in range(len(items)):
            item_id = int(page.get_attribute("#label-panel", "data-item") or 0)
            verdict = "risky" if n == 2 and item_id == disputed_item.pk else "safe"
            rationale = f"理由-{user.username}-{item_id}"
            label_with_keyboard(page, verdict, rationale, others=written)
            mine.append(rationale)
        page.wait_for_selector("[data-testid=label-done]")
        assert page.evaluate("window.__sameDocument === true")  # every next item came without a page load
        assert page.url != first_url  # the address follows the swapped panels (HX-Push-Url)
        # my labels: only mine
        page.goto(live_server.url + reverse("annotation:history"))
        history = page.inner_text("main")
        for secret in written:
            assert secret not in history
        assert watch.errors == [], watch.errors
        context.close()
        written.extend(mine)
        assert Label.objects.filter(annotator=user).count() == len(items)
    risky = Label.objects.get(annotator=third, item=disputed_item)
    assert risky.scores == SCORES["risky"] and risky.rationale == f"理由-annotator3-{disputed_item.pk} 1234qwer"
    disputed_item.refresh_from_db()
    assert disputed_item.state == ItemState.DISPUTED
    agreed = [item for item in items if item.pk != disputed_item.pk]
    assert AcceptedLabel.objects.filter(item__in=agreed).count() == len(agreed)
    assert not AcceptedLabel.objects.filter(item=disputed_item).exists()
    assert all(Item.objects.get(pk=item.pk).state == ItemState.AGREED for item in agreed)

    # the reviewer sees the three labels side by side, with names, and decides
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server.url, personas.reviewer.username)
    page.goto(live_server.url + reverse("annotation:campaign_queue", args=[campaign.pk]))
    assert page.get_attribute("[data-testid=adjudication]", "data-item") == str(disputed_item.pk)
    assert page.locator("th[data-annotator=annotator3]").count() == 1
    page.check('input[name="s-R1"][value="-1"]')
    page.fill("textarea[name=note]", "采纳第三位标注者的意见")
    page.click("[data-testid=adjudicate]")
    page.wait_for_selector("[data-testid=queue-empty]")
    decided = AcceptedLabel.objects.get(item=disputed_item)
    assert decided.provenance == Provenance.ADJUDICATION and decided.scores == SCORES["risky"]
    assert decided.source_labels.count() == 3
    # R1 by hand: item 1 (0, 0, 0), item 2 (0, 0, −1); 6 values, five 0 and one −1.
    #   Krippendorff nominal: coincidences o(0,0) = 3 + 1, o(0,−1) = o(−1,0) = 1; D_o = 2/6, D_e = 2·5·1/(6·5) = 1/3;
    #   α = 1 − D_o/D_e = 0.
    #   Fleiss: P_1 = 1, P_2 = (2·1)/(3·2) = 1/3, P̄ = 2/3; p(0) = 5/6, p(−1) = 1/6, P_e = 26/36;
    #   κ = (2/3 − 26/36)/(1 − 26/36) = −0.2.
    page.goto(live_server.url + reverse("annotation:campaign_agreement", args=[campaign.pk]))
    section = page.locator("section[data-dimension=R1]")
    assert section.locator("tr[data-figure='α nominal'] [data-value]").get_attribute("data-value") == "0.000"
    assert section.locator("tr[data-figure='Fleiss κ'] [data-value]").get_attribute("data-value") == "-0.200"
    context.close()


def test_a_failed_save_is_never_shown_as_saved_and_the_browser_keeps_the_draft(
    personas: Personas, live_server: Any, page: Any
) -> None:
    from annotation.models import Draft
    from tests.labeling_fixtures import build_campaign

    campaign = build_campaign([personas.annotator], scenarios=1, overlap=1)
    sign_in(page, live_server.url, "annotator")
    start_labeling(page, live_server.url, campaign)
    page.keyboard.press("1")
    page.keyboard.press("t")
    page.keyboard.type("服务器上的草稿")
    page.wait_for_selector("#draft-status [data-state=saved]")
    assert Draft.objects.get().data["rationale"] == "服务器上的草稿"
    # the server goes away: the next autosave fails, and the page says so
    page.route("**/draft/", lambda route: route.abort())
    page.keyboard.type("，断网后继续写")
    page.wait_for_selector("#draft-status [data-state=error]")
    assert page.query_selector("#draft-status [data-state=saved]") is None
    page.console_watch.errors.clear()  # the aborted request is logged by Chromium itself
    assert Draft.objects.get().data["rationale"] == "服务器上的草稿"
    # a reload restores the newer words from this browser and saves them once the server answers
    page.unroute("**/draft/")
    page.reload()
    assert page.input_value("#id_rationale") == "服务器上的草稿，断网后继续写"
    assert page.is_checked("input[name='s-R1'][value='-1']")
    page.wait_for_selector("#draft-status [data-state=saved]")
    assert Draft.objects.get().data["rationale"] == "服务器上的草稿，断网后继续写"


def test_an_expired_session_keeps_the_page_and_a_sign_in_elsewhere_lets_the_submit_through(
    personas: Personas, live_server: Any, page: Any
) -> None:
    from annotation.models import Label
    from tests.labeling_fixtures import build_campaign

    campaign = build_campaign([personas.annotator], scenarios=1, overlap=1)
    sign_in(page, live_server.url, "annotator")
    start_labeling(page, live_server.url, campaign)
    item = page.get_attribute("#label-panel", "data-item")
    for key in KEYS["safe"]:
        page.keyboard.press(key)
    page.keyboard.press("t")
    page.keyboard.type("会话过期前写的理由")
    page.keyboard.press("Escape")
    page.context.clear_cookies(name="sessionid")  # the session expires; the year-long CSRF cookie stays
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("[data-testid=signed-out]:not([hidden])")
    page.console_watch.errors.clear()  # Chromium logs the refused request itself
    assert page.input_value("#id_rationale") == "会话过期前写的理由"
    assert page.get_attribute("#label-panel", "data-item") == item and not Label.objects.exists()
    # sign in again in another tab, come back, submit again
    other = page.context.new_page()
    sign_in(other, live_server.url, "annotator")
    other.close()
    page.keyboard.press("Control+Enter")  # the page sends the new CSRF token; the next item arrives
    page.wait_for_function("item => document.getElementById('label-panel').dataset.item !== item", arg=item)
    label = Label.objects.get()
    assert label.rationale == "会话过期前写的理由" and str(label.item_id) == item
    # back on the labeled item, "n" asks for the next one: a POST from the page's form, not a link
    page.goto(live_server.url + reverse("annotation:item", args=[int(item)]))
    page.locator("body").focus()
    page.keyboard.press("n")
    page.wait_for_function("item => document.getElementById('label-panel').dataset.item !== item", arg=item)
