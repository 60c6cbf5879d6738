"""A campaign's current guideline as the labeling screen shows it, without a query per request. Guideline rows
never change (a new text is a new version, a new row; the admin shows them read-only), so each process keeps the
ones it has shown by primary key (annotation.markdown caches their HTML); a request learns which one is current
from a subquery of a query it makes anyway (``latest_pk``) and hands it to ``remember_current``."""

from __future__ import annotations

import functools
from typing import Any

from django.db.models import OuterRef, Subquery

from annotation.models import Campaign, Guideline


def latest_pk(campaign: Any = None) -> Subquery:
    """The primary key of the campaign's latest guideline, as a subquery (``campaign``: an expression for the
    campaign's id; by default the outer row's ``campaign_id``)."""
    ref = OuterRef("campaign_id") if campaign is None else campaign
    return Subquery(Guideline.objects.filter(campaign=ref).order_by("-version").values("pk")[:1])


@functools.lru_cache(maxsize=512)
def cached(pk: int) -> Guideline | None:
    return Guideline.objects.filter(pk=pk).first()


def remember_current(campaign: Campaign, pk: int | None) -> None:
    """Tell ``annotation.services.current_guideline`` which guideline is the campaign's current one (read in the
    caller's query), so it asks nothing more."""
    campaign._current_guideline = [cached(pk) if pk is not None else None]  # type: ignore[attr-defined]


def forget_all() -> None:
    cached.cache_clear()
