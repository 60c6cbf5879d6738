"""Releases: freeze the accepted scenarios, split them dev/test by scene, and export them the same way
every time (canonical JSONL, MedES CSV, datasheet)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from benchmark.models import Provision, Release, ReleaseItem, Scenario, ScenarioKind, ScenarioStatus
from benchmark.prompts import medes_objective_query
from medes_site import audit, files
from medes_site.spreadsheet import safe_cell

LICENCE = "Research use; see the datasheet of each release for the sources' terms."


class ReleaseError(ValueError):
    pass


def payload(scenario: Scenario) -> dict[str, Any]:
    """The item as researchers receive it: everything needed to run and score it, nothing internal."""
    return {
        "id": scenario.pk,
        "kind": scenario.kind,
        "scene": scenario.scene.name,
        "scenes": scenario.scene_names(),  # every scene it is filed under, the primary first
        "stem": scenario.stem,
        "options": dict(sorted(scenario.options.items())),
        "key": scenario.key,
        "norm": scenario.norm,
        "reference_answer": scenario.reference_answer,
        "principles": sorted(p.key for p in scenario.principles.all()),
        "provisions": sorted(f"{p.source.title} {p.label}" for p in scenario.provisions.all()),
        "content_hash": scenario.content_hash,
    }


def _split(items: list[dict[str, Any]], test_fraction: float, seed: str) -> dict[int, str]:
    """Stratified by scene, deterministic: within each scene, items ordered by a seeded hash; the first
    share goes to test."""
    by_scene: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_scene[item["scene"]].append(item)
    split: dict[int, str] = {}
    for scene_items in by_scene.values():
        ordered = sorted(scene_items, key=lambda i: hashlib.sha256(f"{seed}:{i['content_hash']}".encode()).hexdigest())
        cut = round(len(ordered) * test_fraction)
        for n, item in enumerate(ordered):
            split[item["id"]] = "test" if n < cut else "dev"
    return split


@transaction.atomic
def publish_release(name: str, *, user: User | None = None, test_fraction: float = 0.5, notes: str = "") -> Release:
    try:
        name = files.check_name(name)  # the name of every download of the release
    except ValueError as error:
        raise ReleaseError(str(error)) from None
    if Release.objects.filter(name=name).exists():
        raise ReleaseError(_("There is already a release named %(name)s; releases never change.") % {"name": name})
    if not 0 <= test_fraction <= 1:
        raise ReleaseError(_("The test share must be between 0 and 1."))
    scenarios = (
        Scenario.objects.filter(status=ScenarioStatus.ACCEPTED)
        .select_related("scene")
        .prefetch_related("principles", "provisions__source", "scenes")
        .order_by("pk")
    )
    items = [payload(s) for s in scenarios]
    if not items:
        raise ReleaseError(_("There are no accepted scenarios to release."))
    split = _split(items, test_fraction, seed=name)
    for item in items:
        item["split"] = split[item["id"]]
    previous = Release.objects.order_by("-created_at", "-pk").first()
    release = Release.objects.create(
        name=name,
        previous=previous,
        checksum=hashlib.sha256(canonical_jsonl(items)).hexdigest(),
        item_count=len(items),
        test_fraction=test_fraction,
        notes=notes,
        created_by=user,
        changes=_changes(previous, items),
    )
    ReleaseItem.objects.bulk_create(
        [
            ReleaseItem(release=release, scenario_id=i["id"], position=n, split=i["split"], payload=i)
            for n, i in enumerate(items)
        ],
        batch_size=1000,
    )
    audit.record(
        "release.publish", actor=user, obj=release, details={"items": len(items), "checksum": release.checksum}
    )
    return release


def _changes(previous: Release | None, items: list[dict[str, Any]]) -> dict[str, list[int]]:
    if previous is None:
        return {}
    before = {i.scenario_id: i.payload["content_hash"] for i in previous.items.all()}
    after = {i["id"]: i["content_hash"] for i in items}
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(pk for pk in set(after) & set(before) if after[pk] != before[pk]),
    }


# Sections later apps add to every datasheet (annotation adds agreement figures): benchmark imports nothing
# from the apps built on it, so they register here, each a function of the release returning Markdown lines.
DATASHEET_SECTIONS: list[Callable[[Release], list[str]]] = []


def provision_coverage(release: Release) -> dict[str, dict[str, int]]:
    """Per cited source: items citing it, distinct provisions cited, provisions the source has."""
    cited = (
        Provision.objects.filter(scenarios__release_items__release=release)
        .values("source_id", "source__title")
        .annotate(items=Count("scenarios__release_items", distinct=True), cited=Count("pk", distinct=True))
    )
    totals = dict(
        Provision.objects.filter(source_id__in=[c["source_id"] for c in cited])
        .values_list("source_id")
        .annotate(n=Count("pk"))
    )
    return {
        c["source__title"]: {"items": c["items"], "cited": c["cited"], "total": totals[c["source_id"]]} for c in cited
    }


def item_scenes(item: dict[str, Any]) -> list[str]:
    """The scenes a released item is filed under, the primary first (releases before issue 14 name one)."""
    scenes: list[str] = item.get("scenes") or [item["scene"]]
    return scenes


def release_items(release: Release) -> list[dict[str, Any]]:
    return [item.payload for item in release.items.order_by("position")]


def canonical_jsonl(items: list[dict[str, Any]]) -> bytes:
    """One item a line, keys sorted, UTF-8, no spaces: the same release is the same bytes every time."""
    return b"".join(
        json.dumps(item, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n" for item in items
    )


def medes_csv(items: list[dict[str, Any]], *, for_spreadsheets: bool = False) -> bytes:
    """``scene, query, reference, type`` as the MedES tools read it (UTF-8 with BOM, like the originals).

    Byte for byte what the MedES tools and the importer read back, so its cells are not escaped: a stem written as
    ``=HYPERLINK(…)`` stays so. ``for_spreadsheets`` gives the variant to open in Excel or LibreOffice, every text
    cell that a spreadsheet would run as a formula prefixed with a single quote (medes_site.spreadsheet)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    cell: Callable[[Any], Any] = safe_cell if for_spreadsheets else (lambda value: value)
    writer.writerow(["scene", "query", "reference", "type"])
    for item in items:
        if item["kind"] == ScenarioKind.OBJECTIVE:
            row = [medes_objective_query(item["stem"], item["options"]), item["key"], "客观题"]
        else:
            row = [item["stem"], item["norm"], "主观题"]
        for scene in item_scenes(item):  # one row per scene, as the MedES files list an item under each
            writer.writerow([cell(value) for value in (scene, *row)])
    return ("\ufeff" + buffer.getvalue()).encode()


def datasheet(release: Release) -> str:
    items = release_items(release)
    by_scene = Counter(scene for i in items for scene in item_scenes(i))  # an item counts in each of its scenes
    listed = sum(by_scene.values())
    by_kind = Counter(i["kind"] for i in items)
    by_split = Counter(i["split"] for i in items)
    by_origin = Counter(release.items.values_list("scenario__origin", flat=True))
    coverage = provision_coverage(release)
    lines = [
        f"# {release.name}",
        "",
        f"- items: {release.item_count} ({', '.join(f'{k} {v}' for k, v in sorted(by_kind.items()))})",
        f"- split: {', '.join(f'{k} {v}' for k, v in sorted(by_split.items()))} (stratified by scene)",
        f"- origin: {', '.join(f'{k} {v}' for k, v in sorted(by_origin.items()))}",
        f"- SHA-256 of the canonical JSONL: `{release.checksum}`",
        f"- published: {release.created_at:%Y-%m-%d}",
        f"- licence: {LICENCE}",
        "",
        "## Items by scene",
        "",
        *(
            [
                f"An item listed under several scenes counts in each: {listed} (item, scene) rows for "
                f"{len(items)} items.",
                "",
            ]
            if listed != len(items)
            else []
        ),
        "| scene | items | test |",
        "|---|---|---|",
        *(
            f"| {scene} | {n} | {sum(1 for i in items if scene in item_scenes(i) and i['split'] == 'test')} |"
            for scene, n in sorted(by_scene.items())
        ),
        "",
        "## Sources and provision coverage",
        "",
        "| source | items citing it | provisions cited | provisions in source | coverage |",
        "|---|---|---|---|---|",
        *(
            f"| {title} | {c['items']} | {c['cited']} | {c['total']} | {c['cited'] / c['total']:.0%} |"
            for title, c in sorted(coverage.items())
            if c["total"]
        ),
        "" if coverage else "(no provisions linked yet)",
        "",
        "## Expert agreement",
        "",
        *(line for section in DATASHEET_SECTIONS for line in section(release)),
    ]
    if not any(section(release) for section in DATASHEET_SECTIONS):
        lines += ["No labeling campaign has labels on this release yet.", ""]
    if release.changes:
        lines += ["## Changes since the previous release", ""]
        lines += [f"- {what}: {len(ids)}" for what, ids in release.changes.items()]
    return "\n".join(lines) + "\n"
