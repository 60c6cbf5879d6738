"""Panels on the role home pages. Each app contributes its own (registered in its AppConfig.ready), so
the home view needs no import of the apps to its right."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from medes_site.http import AuthedRequest
from medes_site.roles import Role

PanelContext = Callable[[AuthedRequest], dict[str, Any]]


@dataclass(frozen=True)
class Panel:
    template: str
    context: PanelContext


PANELS: dict[Role, list[Panel]] = defaultdict(list)


def home_panel(*roles: Role, template: str) -> Callable[[PanelContext], PanelContext]:
    def register(context: PanelContext) -> PanelContext:
        for role in roles:
            PANELS[role].append(Panel(template=template, context=context))
        return context

    return register


def panels_for(request: AuthedRequest, role: Role) -> list[dict[str, Any]]:
    return [{"template": panel.template, "context": panel.context(request)} for panel in PANELS[role]]
