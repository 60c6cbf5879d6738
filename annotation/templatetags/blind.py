"""``{% may_see_labels campaign as sees %}``: the blind-labeling rule (annotation.review.may_see_labels) for
templates that link to a campaign's labels, agreement, annotators or exports."""

from __future__ import annotations

from typing import Any

from django import template

from annotation import review

register = template.Library()


@register.simple_tag(takes_context=True)
def may_see_labels(context: dict[str, Any], campaign: Any) -> bool:
    request = context.get("request")
    return request is not None and review.may_see_labels(request.user, campaign)
