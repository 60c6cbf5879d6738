"""A scenario written by hand: one service creates it whole (the row, its scenes, principles and cited
provisions), refuses an item identical to one in the bank, and writes the audit entry and the first history row.
Edits go through ``benchmark.scenarios.update_scenario`` (optimistic locking), status moves through
``change_status``: a hand-written item is a draft like any other."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from benchmark.models import Principle, Provision, Scenario, ScenarioKind, ScenarioOrigin, ScenarioStatus, Scene
from benchmark.scenarios import ScenarioError, content_hash, normalise_key, set_related, validate
from medes_site import audit


class DuplicateScenario(ScenarioError):  # noqa: N818 - reads as what happened
    """The bank already holds this item word for word; ``existing`` is it."""

    def __init__(self, existing: Scenario) -> None:
        super().__init__(_("The bank already holds this item word for word: scenario %(pk)d.") % {"pk": existing.pk})
        self.existing = existing


@transaction.atomic
def write_scenario(
    *,
    user: User,
    kind: str,
    stem: str,
    scene: Scene,
    options: dict[str, str] | None = None,
    key: str = "",
    norm: str = "",
    reference_answer: str = "",
    rubric_notes: str = "",
    difficulty: int | None = None,
    other_scenes: list[Scene] | None = None,
    principles: list[Principle] | None = None,
    provisions: list[Provision] | None = None,
) -> Scenario:
    """Create a draft written by ``user``; an item the bank already holds is refused (DuplicateScenario)."""
    options = options if kind == ScenarioKind.OBJECTIVE else {}
    options = dict(options or {})
    key = normalise_key(key) if kind == ScenarioKind.OBJECTIVE else ""
    stem = stem.strip()
    validate(kind, stem, options, key, norm)
    digest = content_hash(kind, stem, options, key)
    existing = Scenario.objects.filter(content_hash=digest).first()
    if existing is not None:
        raise DuplicateScenario(existing)
    scenario = Scenario(
        kind=kind,
        stem=stem,
        options=options,
        key=key,
        norm=norm.strip(),
        reference_answer=reference_answer.strip(),
        rubric_notes=rubric_notes.strip(),
        difficulty=difficulty,
        scene=scene,
        origin=ScenarioOrigin.EXPERT,
        status=ScenarioStatus.DRAFT,
        content_hash=digest,
        created_by=user,
    )
    scenario._change_reason = "create"  # type: ignore[attr-defined]
    scenario._history_user = user  # type: ignore[attr-defined]
    scenario.save()
    set_related(scenario, "other_scenes", list(other_scenes or []))
    set_related(scenario, "principles", list(principles or []))
    set_related(scenario, "provisions", list(provisions or []))
    details: dict[str, Any] = {
        "origin": ScenarioOrigin.EXPERT.value,
        "status": ScenarioStatus.DRAFT.value,
        "provisions": [p.pk for p in provisions or []],
    }
    audit.record("scenario.create", actor=user, obj=scenario, details=details)
    return scenario
