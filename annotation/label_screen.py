"""What the labeling screen shows (annotation.views_label serves it): the context of one item's screen, built
from the annotator's own draft or label, a form shown again with its errors, or a label posted after the
session expired and kept for after sign-in; the provision search; and the box a stale edit shows with both
versions.

Blind by construction: the item reaches here through the annotator's own scope (annotation.views_label), and
no context built here holds another person's label, a gold answer, a guardian score before the annotator's
label is final, or the name of the model that wrote the response.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from django.http import QueryDict
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from annotation import suggestions
from annotation.forms_label import LabelForm, opened_token, score_field
from annotation.markdown import render_markdown
from annotation.models import CampaignStatus, Draft, Item, ItemState, Label
from annotation.schema import LabelSchema
from annotation.services import StaleLabelError, Submission, current_guideline, schema_of
from benchmark import picker
from benchmark.models import Provision
from medes_site.http import AuthedRequest, Request

UNSENT = "annotation.unsent_label"  # session key: a label posted after the session expired
PROVISION_RESULTS = 20


# --- never lose work: a POST after the session expired -------------------------------------------------


def keep_unsent(request: Request, item_pk: int) -> None:
    """Keep what was posted (bounded) in the anonymous session; login keeps the session's data, and the
    labeling screen offers it again to the same annotator only (the form says whose it was)."""
    post = request.POST
    annotator = post.get("annotator", "")
    if not annotator.isdigit():
        return
    request.session[UNSENT] = {
        "item": item_pk,
        "annotator": int(annotator),
        "data": {
            "scores": {
                k[2:]: v
                for k, v in ((key, str(post.get(key, ""))) for key in post)
                if k.startswith("s-") and len(k) < 40 and v.lstrip("-").isdigit()
            },
            "rationale": post.get("rationale", "")[:20_000],
            "provisions": [int(v) for v in post.getlist("provisions")[:50] if v.isdigit()],
        },
    }


def _take_unsent(request: AuthedRequest, item: Item) -> dict[str, Any] | None:
    kept = request.session.get(UNSENT)
    if not isinstance(kept, dict) or kept.get("item") != item.pk:
        return None
    del request.session[UNSENT]
    if kept.get("annotator") != request.user.pk:
        return None  # someone else's words, typed in this browser before a sign-out: never shown
    return kept.get("data") if isinstance(kept.get("data"), dict) else None


# --- the screen of an item ------------------------------------------------------------------------------


def _values(schema: LabelSchema, form: LabelForm | None, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the form shows: the posted form when it is re-shown, else saved data (draft, label, kept POST)."""
    if form is not None:
        raw: QueryDict = form.data  # type: ignore[assignment]
        return {
            "scores": {d.key: raw.get(score_field(d.key), "") for d in schema.dimensions},
            "rationale": raw.get("rationale", ""),
            "provisions": [int(v) for v in raw.getlist("provisions") if str(v).isdigit()],
        }
    data = data or {}
    scores: dict[str, Any] = data["scores"] if isinstance(data.get("scores"), dict) else {}
    provisions: list[Any] = data["provisions"] if isinstance(data.get("provisions"), list) else []
    return {
        "scores": {d.key: str(scores.get(d.key, "")) for d in schema.dimensions},
        "rationale": str(data.get("rationale", "")),
        "provisions": [int(p) for p in provisions if str(p).isdigit()],
    }


def _dimensions(schema: LabelSchema, scores: Mapping[str, str], errors: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for d in schema.dimensions:
        keys = list(d.shortcut_keys) + [""] * (len(d.values) - len(d.shortcut_keys))
        rows.append(
            {
                "key": d.key,
                "label": d.label,
                "field": score_field(d.key),
                "role": d.role,
                "errors": errors.get(d.key) or errors.get(score_field(d.key)) or [],
                "options": [
                    {"value": v, "key": k, "checked": str(v) == str(scores.get(d.key, ""))}
                    for v, k in zip(d.values, keys, strict=True)
                ],
            }
        )
    return rows


def _frozen(dimensions: list[dict[str, Any]]) -> tuple[Any, ...]:
    return tuple(
        (
            d["key"],
            str(d["label"]),
            d["field"],
            d["role"],
            tuple(str(error) for error in d["errors"]),
            tuple((o["value"], o["key"], o["checked"]) for o in d["options"]),
        )
        for d in dimensions
    )


def score_fields(dimensions: list[dict[str, Any]], editable: bool) -> tuple[SafeString, SafeString]:
    """The score fieldsets and the shortcut list of the screen. A pure function of the dimensions (what is
    checked, the errors), whether they are editable and the language, rendered once per process for each: about
    half of the screen's template time went to them, on every item, for the same few schemas."""
    return _rendered_score_fields(get_language(), editable, _frozen(dimensions))


@lru_cache(maxsize=256)
def _rendered_score_fields(language: str, editable: bool, frozen: tuple[Any, ...]) -> tuple[SafeString, SafeString]:
    dimensions = [
        {
            "key": key,
            "label": label,
            "field": field,
            "role": role,
            "errors": list(errors),
            "options": [{"value": value, "key": shortcut, "checked": checked} for value, shortcut, checked in options],
        }
        for key, label, field, role, errors, options in frozen
    ]
    context = {"dimensions": dimensions, "editable": editable}
    template = "annotation/partials/_score_fields.html"
    return render_to_string(f"{template}#fields", context), render_to_string(f"{template}#shortcuts", context)


def _grounding_sources(item: Item) -> list[int]:
    return list(Provision.objects.filter(scenarios=item.scenario_id).values_list("source_id", flat=True).distinct())


def screen_context(
    request: AuthedRequest,
    item: Item,
    *,
    form: LabelForm | None = None,
    errors: Mapping[str, Any] | None = None,
    message: str = "",
    conflict: dict[str, Any] | None = None,
    results: Iterable[Provision] | None = None,
    query: str = "",
    fresh: bool = False,
    reserved: bool = False,
) -> dict[str, Any]:
    """The labeling screen's context. ``fresh``: the item was just reserved, so no label or draft exists yet;
    ``reserved``: it is reserved for this user, so they have no label on it yet (a label ends the reservation)."""
    campaign = item.campaign
    schema = schema_of(campaign)
    label = None if fresh or reserved else Label.objects.filter(item=item, annotator=request.user).order_by().first()
    draft = None if fresh else Draft.objects.filter(item=item, user=request.user).order_by().first()
    kept = _take_unsent(request, item) if form is None else None
    if conflict and label is not None:  # the form shows the saved version; "mine" is in the conflict box
        source: dict[str, Any] | None = _label_data(label)
    else:
        source = kept or (draft.data if draft else None) or (_label_data(label) if label else None)
    values = _values(schema, form, source)
    selected = []
    if values["provisions"]:
        selected = list(Provision.objects.filter(pk__in=values["provisions"]).select_related("source"))
        selected.sort(key=lambda p: values["provisions"].index(p.pk))
    guideline = current_guideline(campaign)
    saved = max((t for t in (draft and draft.saved_at, label and label.updated_at) if t), default=None)
    errors = errors or {}
    if kept:
        message = message or _(
            "Your last changes were not sent because you had been signed out. They are back "
            "in the form: check them and submit again."
        )
    # a settled item takes no more labels: edits of one's own label end, and a first label is refused (a gold
    # item, settled by definition, is labeled again as a check)
    open_to_me = item.state == ItemState.OPEN or (label is None and item.is_gold)
    editable = campaign.status == CampaignStatus.ACTIVE and open_to_me
    final = label is not None and not editable
    dimensions = _dimensions(schema, values["scores"], errors)
    fields_html, shortcuts_html = score_fields(dimensions, editable)
    return {
        "campaign": campaign,
        "item": item,
        "scenario": item.scenario,
        # a scenario under review is shown whole, with the provisions it cites; a response, with its case
        "response_text": item.response.text if item.response is not None else None,
        "cited": (
            list(item.scenario.provisions.select_related("source").order_by("source__title", "position"))
            if item.response_id is None
            else []
        ),
        "label": label,
        # what a judge thinks, only once this annotator's label is in and can no longer change: it must never
        # sway a label that counts (an open item's label may still be edited)
        "suggestion": suggestions.for_responses([item.response_id]).get(item.response_id or 0) if final else None,
        "editable": editable,
        "missed": label is None and not open_to_me,  # settled while this annotator's reservation had expired
        "dimensions": dimensions,
        "score_fields": fields_html,
        "score_shortcuts": shortcuts_html,
        "rationale": values["rationale"],
        "rationale_errors": errors.get("rationale", []),
        "form_errors": errors.get("__all__", []),
        "selected": selected,
        "results": list(results) if results is not None else None,
        "query": query,
        "guideline": guideline,
        "guideline_html": render_markdown(guideline.text) if guideline else "",
        "idempotency_key": uuid.uuid4().hex,
        "expected_version": label.version if label else "",
        "opened": opened_token(),
        "saved_ms": int(saved.timestamp() * 1000) if saved else 0,
        "draft_saved_at": draft.saved_at if draft and not kept else None,
        "restored": bool(kept),
        "message": message,
        "conflict": conflict,
    }


def _label_data(label: Label) -> dict[str, Any]:
    return {
        "scores": label.scores,
        "rationale": label.rationale,
        "provisions": list(label.provisions.values_list("pk", flat=True)),
    }


def provision_results(item: Item, query: str) -> list[Provision]:
    """The provision picker's search (law, article number such as 第十二条 or 12, words of the text), among
    the sources the scenario cites (all sources when it cites none)."""
    sources = _grounding_sources(item)
    found = Provision.objects.all()
    if sources:
        found = found.filter(source_id__in=sources)
    return picker.search(query, found, limit=PROVISION_RESULTS)


def conflict_context(schema: LabelSchema, error: StaleLabelError, submission: Submission) -> dict[str, Any]:
    """Both versions, dimension by dimension, and the hidden inputs that overwrite with mine."""
    theirs, mine = error.current, error.mine
    rows = [
        {
            "key": d.key,
            "label": d.label,
            "theirs": theirs.scores.get(d.key),
            "mine": mine["scores"].get(d.key),
            "field": score_field(d.key),
        }
        for d in schema.dimensions
    ]
    their_provisions = list(theirs.provisions.select_related("source"))
    my_provisions = list(Provision.objects.filter(pk__in=submission.provisions).select_related("source"))
    return {
        "theirs": theirs,
        "rows": rows,
        "their_rationale": theirs.rationale,
        "my_rationale": mine.get("rationale", ""),
        "their_provisions": their_provisions,
        "my_provisions": my_provisions,
        "overwrite_key": uuid.uuid4().hex,
    }
