"""The annotation app's panel on the home page: the annotator's queue."""

from __future__ import annotations

from typing import Any

from annotation.views_label import queue_rows
from medes_site.home import home_panel
from medes_site.http import AuthedRequest
from medes_site.roles import Role


@home_panel(Role.ANNOTATOR, template="annotation/partials/_queue_panel.html")
def queue_panel(request: AuthedRequest) -> dict[str, Any]:
    return {"rows": queue_rows(request)}
