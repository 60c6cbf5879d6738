"""One way to page a filtered list: the page, and the query string that keeps the filters on its links."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest


def paginate(
    request: HttpRequest, queryset: QuerySet[Any], page_number: int | None, per_page: int, *, drop: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Context for ``partials/_pager.html``: ``page`` and ``query`` (the current filters without ``page``, nor the
    parameters named in ``drop``: those that chose this page and must not follow to the next)."""
    params = request.GET.copy()
    for name in ("page", *drop):
        params.pop(name, None)
    return {"page": Paginator(queryset, per_page).get_page(page_number or 1), "query": params.urlencode()}
