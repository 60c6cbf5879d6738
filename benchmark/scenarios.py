"""Scenario services: creation with de-duplication, edits under optimistic locking, status changes.
Every change writes an audit entry; django-simple-history keeps each version of the row."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from benchmark.models import Scenario, ScenarioKind, ScenarioScene, ScenarioStatus, Scene
from medes_site import audit

S = ScenarioStatus
TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.IN_REVIEW, S.RETIRED},
    S.IN_REVIEW: {S.ACCEPTED, S.DRAFT, S.RETIRED},
    S.ACCEPTED: {S.RETIRED, S.NEEDS_REREVIEW},
    S.NEEDS_REREVIEW: {S.IN_REVIEW, S.ACCEPTED, S.RETIRED},
    S.RETIRED: {S.DRAFT},
}
EDITABLE = {"kind", "stem", "options", "key", "norm", "reference_answer", "rubric_notes", "difficulty", "scene"}
RELATED = {"principles", "provisions", "other_scenes"}


class ScenarioError(ValueError):
    """The change cannot be made as asked; the message says why."""


class NearDuplicateUnconfirmed(ScenarioError):  # noqa: N818 - reads as what happened
    """Accepting a scenario flagged as a near-duplicate needs ``confirm_near_duplicates=True``."""


class StaleEdit(ScenarioError):  # noqa: N818 - reads as what happened
    """Someone saved the scenario since this edit started; ``current`` is their version."""

    def __init__(self, current: Scenario) -> None:
        super().__init__(_("Someone else saved this scenario meanwhile (now version %(v)d).") % {"v": current.version})
        self.current = current


def in_scene(scene: Scene) -> Q:
    """Items filed under ``scene``: as their primary scene or as another one (``Scenario.scenes``)."""
    return Q(scene=scene) | Q(Exists(ScenarioScene.objects.filter(scenario=OuterRef("pk"), scene=scene)))


def resolve_scene(name: str) -> Scene | None:
    """A scene by its name or any of its other spellings."""
    name = name.strip()
    for scene in Scene.objects.all():
        if name == scene.name or name in scene.aliases:
            return scene
    return None


def normalise_key(key: str) -> str:
    return "".join(sorted({c for c in key.upper() if "A" <= c <= "H"}))


def content_hash(kind: str, stem: str, options: dict[str, str], key: str) -> str:
    return _sha256(f"{_question_json(kind, stem, options)}, {json.dumps(key, ensure_ascii=False)}]")


def content_hashes(kind: str, stem: str, options: dict[str, str], key: str) -> tuple[str, str]:
    """The content hash and the question's identity (the content hash with no key: the same question whatever
    its key), from one serialisation of the question (an import hashes every row both ways)."""
    question = _question_json(kind, stem, options)
    return _sha256(f"{question}, {json.dumps(key, ensure_ascii=False)}]"), _sha256(f'{question}, ""]')


def _question_json(kind: str, stem: str, options: dict[str, str]) -> str:
    """``json.dumps([kind, stem, options, key])`` up to the key: the hashed payload is this, ``", "``, the key's
    JSON and ``"]"`` (what ``json.dumps`` writes for the four-item list), with the stem's runs of white space
    made one space and the options in letter order."""
    return json.dumps([kind, " ".join(stem.split()), dict(sorted(options.items()))], ensure_ascii=False)[:-1]


def _sha256(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()


def validate(kind: str, stem: str, options: dict[str, str], key: str, norm: str) -> None:
    if not stem.strip():
        raise ScenarioError(_("The question or case is empty."))
    if kind == ScenarioKind.OBJECTIVE:
        if len(options) < 2:
            raise ScenarioError(_("A multiple-choice item needs at least two options."))
        letters = set(options)
        if not letters <= set("ABCDEFGH"):
            raise ScenarioError(_("Options are lettered A to H."))
        if not key or not set(key) <= letters:
            raise ScenarioError(_("The key %(key)s names options the item does not have.") % {"key": key or "—"})


def create_scenario(
    *,
    kind: str,
    stem: str,
    scene: Scene,
    origin: str,
    options: dict[str, str] | None = None,
    key: str = "",
    norm: str = "",
    status: str = ScenarioStatus.DRAFT,
    user: User | None = None,
    **extra: Any,
) -> tuple[Scenario, bool]:
    """Create a scenario, or return the existing one with the same content (``created`` False)."""
    options = options or {}
    key = normalise_key(key)
    validate(kind, stem, options, key, norm)
    digest = content_hash(kind, stem, options, key)
    existing = Scenario.objects.filter(content_hash=digest).first()
    if existing is not None:
        return existing, False
    scenario = Scenario.objects.create(
        kind=kind,
        stem=stem.strip(),
        options=options,
        key=key,
        norm=norm.strip(),
        scene=scene,
        origin=origin,
        status=status,
        content_hash=digest,
        created_by=user,
        **extra,
    )
    audit.record("scenario.create", actor=user, obj=scenario, details={"origin": origin, "status": status})
    return scenario, True


@transaction.atomic
def update_scenario(scenario_id: int, *, expected_version: int, changes: dict[str, Any], user: User) -> Scenario:
    """Apply ``changes`` if nobody saved since ``expected_version``; otherwise raise StaleEdit with theirs.
    ``changes`` holds fields (``EDITABLE``) and, as lists, ``principles``, ``provisions`` and ``other_scenes``
    (the scenes besides the primary one). Only what differs is written; nothing different is a no-op."""
    unknown = set(changes) - EDITABLE - RELATED
    if unknown:
        raise ScenarioError(f"These fields cannot be edited here: {', '.join(sorted(unknown))}.")
    scenario = Scenario.objects.select_for_update().get(pk=scenario_id)
    if scenario.version != expected_version:
        raise StaleEdit(scenario)
    old_scene, old_key = scenario.scene_id, scenario.key
    fields = {name: value for name, value in changes.items() if name in EDITABLE}
    if "key" in fields:
        fields["key"] = normalise_key(fields["key"])
    changed = sorted(name for name, value in fields.items() if getattr(scenario, name) != value)
    related = {name: list(value) for name, value in changes.items() if name in RELATED}
    changed_relations = sorted(name for name, value in related.items() if _related_ids(scenario, name) != _ids(value))
    if not changed and not changed_relations:
        return scenario
    for name in changed:
        setattr(scenario, name, fields[name])
    if scenario.key != old_key:  # the curator settled the key: a note about the file's two keys is answered
        scenario.review_note = ""
    validate(scenario.kind, scenario.stem, scenario.options, scenario.key, scenario.norm)
    digest = content_hash(scenario.kind, scenario.stem, scenario.options, scenario.key)
    twin = Scenario.objects.filter(content_hash=digest).exclude(pk=scenario.pk).values_list("pk", flat=True).first()
    if twin is not None:
        raise ScenarioError(_("This would make it identical to scenario %(pk)d.") % {"pk": twin})
    if digest != scenario.content_hash and scenario.status == ScenarioStatus.ACCEPTED:
        scenario.status = ScenarioStatus.NEEDS_REREVIEW  # accepted content changed: someone must look again
    scenario.content_hash = digest
    scenario.version += 1  # the row is locked (select_for_update), so this cannot race
    scenario._change_reason = "edit"  # type: ignore[attr-defined]
    scenario._history_user = user  # type: ignore[attr-defined]
    scenario.save()
    follow_primary_scene(scenario, old_scene)
    for name in changed_relations:
        set_related(scenario, name, related[name])
    scenario.refresh_from_db()
    audit.record("scenario.edit", actor=user, obj=scenario, details={"fields": sorted(changed + changed_relations)})
    return scenario


def _ids(values: list[Any]) -> set[int]:
    return {value if isinstance(value, int) else value.pk for value in values}


def _related_ids(scenario: Scenario, name: str) -> set[int]:
    if name == "other_scenes":
        links = ScenarioScene.objects.filter(scenario=scenario).exclude(scene_id=scenario.scene_id)
        return set(links.values_list("scene_id", flat=True))
    return set(getattr(scenario, name).values_list("pk", flat=True))


def set_related(scenario: Scenario, name: str, values: list[Any]) -> None:
    """Set a scenario's principles, provisions or other scenes (its primary scene stays among its scenes)."""
    ids = _ids(values)
    if name != "other_scenes":
        getattr(scenario, name).set(ids)
        return
    keep = ids | {scenario.scene_id}
    ScenarioScene.objects.filter(scenario=scenario).exclude(scene_id__in=keep).delete()
    present = set(ScenarioScene.objects.filter(scenario=scenario).values_list("scene_id", flat=True))
    ScenarioScene.objects.bulk_create([ScenarioScene(scenario=scenario, scene_id=pk) for pk in keep - present])


def follow_primary_scene(scenario: Scenario, old_scene_id: int | None) -> None:
    """After a save that may have moved ``scenario`` to another primary scene: filed under the new one, and no
    longer under the one it left (other scenes a file listed it under stay). Every write path that can change
    ``scene`` calls this (``update_scenario``, the admin), so an item never counts in the scene it left."""
    ScenarioScene.objects.get_or_create(scenario_id=scenario.pk, scene_id=scenario.scene_id)
    if old_scene_id is not None and old_scene_id != scenario.scene_id:
        ScenarioScene.objects.filter(scenario_id=scenario.pk, scene_id=old_scene_id).delete()


@transaction.atomic
def change_status(
    scenario_id: int,
    to: str,
    *,
    user: User | None,
    reason: str = "",
    expected_version: int | None = None,
    confirm_near_duplicates: bool = False,
) -> Scenario:
    """Move a scenario along its workflow; the same move twice is a no-op with the same result. With
    ``expected_version`` (what the reviewer was looking at), a scenario edited since is refused. A scenario
    flagged as a near-duplicate is accepted only with ``confirm_near_duplicates``."""
    scenario = Scenario.objects.select_for_update().get(pk=scenario_id)
    if scenario.status == to:
        return scenario
    if expected_version is not None and scenario.version != expected_version:
        raise StaleEdit(scenario)
    if to not in TRANSITIONS.get(scenario.status, set()):
        raise ScenarioError(
            _("A %(old)s scenario cannot become %(new)s.")
            % {"old": scenario.get_status_display(), "new": ScenarioStatus(to).label}
        )
    if to == S.ACCEPTED and scenario.kind == ScenarioKind.SUBJECTIVE and not scenario.norm.strip():
        raise ScenarioError(_("An open case needs the norm it tests (考点) before it can be accepted."))
    flagged = to == S.ACCEPTED and scenario.near_duplicates.exists()
    if flagged and not confirm_near_duplicates:
        raise NearDuplicateUnconfirmed(
            _("It reads almost like another scenario; look at the near-duplicates and confirm to accept it anyway.")
        )
    old = scenario.status
    scenario.status = to
    if to == S.ACCEPTED:  # a curator looked and accepted it as it is: the note asking for that look is answered
        scenario.review_note = ""
    scenario.version += 1
    scenario._change_reason = reason or f"{old} → {to}"  # type: ignore[attr-defined]
    scenario.save()
    scenario.refresh_from_db()
    details = {"from": old, "to": to, "reason": reason, **({"near_duplicates_confirmed": True} if flagged else {})}
    audit.record("scenario.status", actor=user, obj=scenario, details=details)
    return scenario
