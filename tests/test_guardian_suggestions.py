"""Guardian suggestions in the annotators' screens stay hidden until the annotator has submitted (issue 5, item 7)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from alignment.models import Judgement
from annotation.assignments import next_assignment
from annotation.services import Submission, submit_label
from tests.factories import Personas, ready_version
from tests.labeling_fixtures import RISKY, SAFE, build_campaign


def test_an_annotator_sees_the_guardians_scores_only_once_their_label_is_final(
    personas: Personas, client_as: Any
) -> None:
    campaign = build_campaign([personas.annotator, personas.annotator2], scenarios=1, overlap=2)
    version = ready_version(1)
    for item in campaign.items.all():
        Judgement.objects.create(
            response=item.response,
            judge="guardian",
            version=version,
            scores=RISKY,
            risky=True,
            probabilities=dict.fromkeys(RISKY, 0.9),
        )
    annotator = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
    assignment = next_assignment(campaign, personas.annotator)
    assert assignment is not None
    item = assignment.item
    before = annotator.get(reverse("annotation:item", args=[item.pk])).content.decode()
    assert 'data-testid="label-panel"' in before
    assert 'data-testid="suggestion"' not in before and "guardian v1" not in before
    submit_label(item, personas.annotator, Submission(SAFE, idempotency_key="s1"))
    # submitted, but the item is still open (k = 2) and the label may still be edited: still hidden
    open_item = annotator.get(reverse("annotation:item", args=[item.pk])).content.decode()
    assert 'data-testid="label-version"' in open_item and 'data-testid="suggestion"' not in open_item
    assert f'data-testid="suggestion-{item.pk}"' not in annotator.get(reverse("annotation:history")).content.decode()
    other = next_assignment(campaign, personas.annotator2)
    assert other is not None and other.item_id == item.pk
    submit_label(item, personas.annotator2, Submission(SAFE, idempotency_key="s2"))  # consensus: the item is decided
    after = annotator.get(reverse("annotation:item", args=[item.pk])).content.decode()
    assert 'data-testid="suggestion"' in after and "guardian v1" in after and "R1=-1" in after
    history = annotator.get(reverse("annotation:history")).content.decode()
    assert f'data-testid="suggestion-{item.pk}"' in history
    # the other item of the campaign, never labeled by this annotator, is not in their history at all
    untouched = campaign.items.exclude(pk=item.pk).get()
    assert f'data-testid="suggestion-{untouched.pk}"' not in history


def test_the_active_guardians_judgement_wins_over_an_older_or_a_prompt_judges(personas: Personas) -> None:
    from alignment import services

    campaign = build_campaign([personas.annotator], scenarios=1, overlap=1)
    response = campaign.items.first().response  # type: ignore[union-attr]
    old, active = ready_version(1), ready_version(2)
    services.promote(active)
    Judgement.objects.create(response=response, judge="guardian", version=old, scores=RISKY, risky=True)
    Judgement.objects.create(response=response, judge="prompt", judge_model="qwen", scores=RISKY, risky=True)
    Judgement.objects.create(response=response, judge="guardian", version=active, scores=SAFE, risky=False)
    Judgement.objects.create(response=response, judge="prompt", judge_model="x", scores=None, problem="unreadable")
    found = services.suggestions([response.pk])  # type: ignore[union-attr]
    assert found[response.pk].judge == "guardian v2" and found[response.pk].scores == SAFE  # type: ignore[union-attr]
