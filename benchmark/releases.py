"""Releases: freeze the accepted scenarios, split them dev/test by scene, and export them the same way
every time (canonical JSONL, MedES CSV, datasheet)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from benchmark.models import (
    Provision,
    Release,
    ReleaseItem,
    Scenario,
    ScenarioKind,
    ScenarioOrigin,
    ScenarioStatus,
    Source,
)
from benchmark.prompts import medes_objective_query
from medes_site import audit, files
from medes_site.spreadsheet import safe_cell

LICENCE = "Research use; see the datasheet of each release for the sources' terms."
ITEMS_PER_QUERY = 2000  # items an export reads from the database at a time


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


def item_scenes(item: dict[str, Any]) -> list[str]:
    """The scenes a released item is filed under, the primary first (releases before issue 14 name one)."""
    scenes: list[str] = item.get("scenes") or [item["scene"]]
    return scenes


def release_items(release: Release) -> list[dict[str, Any]]:
    """Every item of a release in memory: for small releases and tests. Exports stream ``iter_release_items``."""
    return list(iter_release_items(release))


def iter_release_items(release: Release, *, split: str | None = None) -> Iterator[dict[str, Any]]:
    """The items of a release in release order (of one split, if given), read ``ITEMS_PER_QUERY`` at a time (on
    PostgreSQL through a server-side cursor): every export writes from this, so the memory an export takes does
    not grow with the release."""
    items = release.items.order_by("position")
    if split is not None:
        items = items.filter(split=split)
    return items.values_list("payload", flat=True).iterator(chunk_size=ITEMS_PER_QUERY)


def canonical_line(item: dict[str, Any]) -> bytes:
    """One item of the canonical JSONL: keys sorted, UTF-8, no spaces, a newline."""
    return json.dumps(item, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def canonical_jsonl(items: Iterable[dict[str, Any]]) -> bytes:
    """One item a line, keys sorted, UTF-8, no spaces: the same release is the same bytes every time."""
    return b"".join(canonical_line(item) for item in items)


def canonical_checksum(items: Iterable[dict[str, Any]]) -> str:
    """The SHA-256 of the items' canonical JSONL, hashed a line at a time (the release's ``checksum``)."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(canonical_line(item))
    return digest.hexdigest()


def medes_csv(items: Iterable[dict[str, Any]], *, for_spreadsheets: bool = False) -> bytes:
    """``scene, query, reference, type`` as the MedES tools read it (UTF-8 with BOM, like the originals): see
    ``write_medes_csv``."""
    buffer = io.StringIO()
    write_medes_csv(items, buffer, for_spreadsheets=for_spreadsheets)
    return buffer.getvalue().encode()


def write_medes_csv(items: Iterable[dict[str, Any]], out: IO[str], *, for_spreadsheets: bool = False) -> None:
    """Write ``scene, query, reference, type`` rows to ``out`` (text, to be encoded as UTF-8), an item at a time.

    Byte for byte what the MedES tools and the importer read back, so its cells are not escaped: a stem written as
    ``=HYPERLINK(…)`` stays so. ``for_spreadsheets`` gives the variant to open in Excel or LibreOffice, every text
    cell that a spreadsheet would run as a formula prefixed with a single quote (medes_site.spreadsheet)."""
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    cell: Callable[[Any], Any] = safe_cell if for_spreadsheets else (lambda value: value)
    writer.writerow(["scene", "query", "reference", "type"])
    for item in items:
        if item["kind"] == ScenarioKind.OBJECTIVE:
            row = [medes_objective_query(item["stem"], item["options"]), item["key"], "客观题"]
        else:
            row = [item["stem"], item["norm"], "主观题"]
        for scene in item_scenes(item):  # one row per scene, as the MedES files list an item under each
            writer.writerow([cell(value) for value in (scene, *row)])


# --- the datasheet ----------------------------------------------------------------------------------------------
# One set of facts (``datasheet_facts``), two renderings: the downloadable file (``datasheet``: Markdown, always
# in English, as the README's release section says, so every copy of a release reads the same), and the release
# page (templates/benchmark/release_detail.html: HTML in the reader's language).


@dataclass(frozen=True)
class SourceCoverage:
    """One version of one source as the release cites it."""

    source_id: int
    title: str
    version: str  # the source's own version field ("" when it has none)
    superseded_by: str  # the title of the version that supersedes it ("" when none does)
    items: int  # items citing it
    cited: int  # distinct provisions cited
    total: int  # provisions the source has

    @property
    def share(self) -> float:
        return self.cited / self.total if self.total else 0.0

    @property
    def percent(self) -> int:
        return round(self.share * 100)

    @property
    def name(self) -> str:
        return f"{self.title} ({self.version})" if self.version else self.title


@dataclass(frozen=True)
class AgreementRow:
    dimension: str
    alpha: float | None
    alpha_note: str
    kappa: float | None
    kappa_note: str
    items: int
    ratings: int


@dataclass(frozen=True)
class AgreementTable:
    """One labeling campaign on the release: agreement per dimension (annotation.datasheet builds these)."""

    campaign: str
    overlap: int
    rows: list[AgreementRow]


# Sections later apps add to every datasheet (annotation adds agreement figures): benchmark imports nothing from
# the apps built on it, so they register here, each a function of the release returning its agreement tables.
DATASHEET_SECTIONS: list[Callable[[Release], list[AgreementTable]]] = []


@dataclass(frozen=True)
class SceneRow:
    scene: str
    items: int
    test: int


SPLITS = {"dev": pgettext_lazy("release split", "dev"), "test": pgettext_lazy("release split", "test")}
CHANGE_KINDS = {
    "added": pgettext_lazy("release changes", "Added"),
    "removed": pgettext_lazy("release changes", "Removed"),
    "changed": pgettext_lazy("release changes", "Changed"),
}


def _shown(pairs: list[tuple[str, int]], labels: dict[str, Any]) -> list[tuple[str, int]]:
    """Codes as the reader reads them (the active language); a code no label knows stays as it is."""
    return [(str(labels.get(code, code)), n) for code, n in pairs]


@dataclass(frozen=True)
class DatasheetFacts:
    """What a release's datasheet says; kinds, splits, origins and change kinds as stored codes."""

    release: Release
    by_kind: list[tuple[str, int]]
    by_split: list[tuple[str, int]]
    by_origin: list[tuple[str, int]]
    scenes: list[SceneRow]
    listed: int  # (item, scene) rows: more than the items when an item is filed under several scenes
    items: int
    sources: list[SourceCoverage]
    agreement: list[AgreementTable]
    changes: list[tuple[str, int]]

    # the same counts labelled in the active language, for the release page
    @property
    def kinds_shown(self) -> list[tuple[str, int]]:
        return _shown(self.by_kind, dict(ScenarioKind.choices))

    @property
    def splits_shown(self) -> list[tuple[str, int]]:
        return _shown(self.by_split, SPLITS)

    @property
    def origins_shown(self) -> list[tuple[str, int]]:
        return _shown(self.by_origin, dict(ScenarioOrigin.choices))

    @property
    def changes_shown(self) -> list[tuple[str, int]]:
        return _shown(self.changes, CHANGE_KINDS)


# A provision as the coverage counts it: (its pk, its source's pk). Plain tuples, not model rows: a release of a
# million items cites millions of links, and building a model instance for each took most of the datasheet's time.
Cited = tuple[int, int]


class _Coverage:
    """Provision coverage counted a chunk of items at a time (the datasheet of a large release never holds all its
    items): what it keeps grows with the provisions cited, never with the items.

    An item's ``provisions`` ("title label") resolve to the provision its scenario still cites under that name, if
    that provision's source existed when the release was made; otherwise (the scenario was re-cited since) to the
    provision of that name in the latest source that did exist then. So a release made before a re-cite keeps
    counting the version it cited, and one made after counts the new version."""

    def __init__(self, release: Release) -> None:
        self.release = release
        self.by_name: dict[str, Cited | None] = {}  # names no live link resolves: the latest older source's, if any
        self.items: Counter[int] = Counter()  # per source: items citing it
        self.cited: dict[int, set[int]] = defaultdict(set)  # per source: the provisions cited

    def add(self, chunk: list[tuple[int, dict[str, Any]]]) -> None:
        """Count a chunk of (scenario id, released item)."""
        for provisions in self._resolve(chunk):
            self.items.update({source_id for _, source_id in provisions})  # an item counts once per source
            for provision_id, source_id in provisions:
                self.cited[source_id].add(provision_id)

    def _resolve(self, chunk: list[tuple[int, dict[str, Any]]]) -> Iterator[list[Cited]]:
        made = self.release.created_at
        live: dict[int, dict[str, Cited]] = defaultdict(dict)
        links = (
            Scenario.provisions.through.objects.filter(
                scenario_id__in=[sid for sid, _ in chunk], provision__source__created_at__lte=made
            )
            # of two cited provisions of one name, the later source's (as for the names resolved below)
            .order_by("provision__source__created_at", "provision__source_id", "pk")
            .values_list(
                "scenario_id", "provision_id", "provision__source_id", "provision__source__title", "provision__label"
            )
        )
        for sid, provision_id, source_id, title, label in links:
            live[sid][f"{title} {label}"] = (provision_id, source_id)
        missing = {
            name
            for sid, data in chunk
            for name in data.get("provisions", [])
            if name not in live[sid] and name not in self.by_name
        }
        if missing:
            self.by_name.update(dict.fromkeys(missing))
            labels = {name.rsplit(" ", 1)[-1] for name in missing}
            older = (
                Provision.objects.filter(label__in=labels, source__created_at__lte=made)
                .order_by("source__created_at", "source_id")
                .values_list("pk", "source_id", "source__title", "label")
            )
            for provision_id, source_id, title, label in older:
                name = f"{title} {label}"
                if name in missing:
                    self.by_name[name] = (provision_id, source_id)  # a later source of the same title and label wins
        for sid, data in chunk:
            found = [live[sid].get(name) or self.by_name.get(name) for name in data.get("provisions", [])]
            yield [provision for provision in found if provision is not None]

    def rows(self) -> list[SourceCoverage]:
        """Per source version cited: items citing it, distinct provisions cited, provisions it has."""
        sources = Source.objects.in_bulk(list(self.cited))
        totals = dict(
            Provision.objects.filter(source_id__in=sources).values_list("source_id").annotate(n=Count("pk")).order_by()
        )
        newer = dict(
            Source.objects.filter(supersedes_id__in=sources).order_by("pk").values_list("supersedes_id", "title")
        )
        rows = [
            SourceCoverage(
                pk, s.title, s.version, newer.get(pk, ""), self.items[pk], len(self.cited[pk]), totals.get(pk, 0)
            )
            for pk, s in sources.items()
        ]
        return sorted(rows, key=lambda row: (row.title, row.version, row.source_id))


# The keys of an item the datasheet counts: read from the database on their own, the items' stems and options are
# neither sent nor parsed (they were most of the datasheet's time). The text keys as text (a scene named "1" stays a
# string on SQLite too), the lists as JSON.
_SUMMARY_TEXT = ("kind", "split", "scene")
_SUMMARY_JSON = ("scenes", "provisions")


def _item_chunks(release: Release) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """(scenario id, the item's ``kind``, ``split``, ``scene``, ``scenes`` and ``provisions``) in release order,
    ``ITEMS_PER_QUERY`` at a time; a key an item does not have (``scenes`` before issue 14) is left out."""
    keys = (*_SUMMARY_TEXT, *_SUMMARY_JSON)
    rows = release.items.order_by("position").values_list(
        "scenario_id",
        *(KeyTextTransform(key, "payload") for key in _SUMMARY_TEXT),
        *(KeyTransform(key, "payload") for key in _SUMMARY_JSON),
    )
    for chunk in _chunks(rows.iterator(chunk_size=ITEMS_PER_QUERY), ITEMS_PER_QUERY):
        yield [
            (sid, {key: value for key, value in zip(keys, values, strict=True) if value is not None})
            for sid, *values in chunk
        ]


def _chunks(values: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(values, size)):
        yield chunk


def provision_coverage(release: Release) -> list[SourceCoverage]:
    """Per source version the release cites: items citing it, distinct provisions cited, provisions it has."""
    coverage = _Coverage(release)
    for chunk in _item_chunks(release):
        coverage.add(chunk)
    return coverage.rows()


def datasheet_facts(release: Release) -> DatasheetFacts:
    """What the datasheet says, counted in one pass over the items (never all of them in memory)."""
    kinds: Counter[str] = Counter()
    splits: Counter[str] = Counter()
    by_scene: Counter[str] = Counter()  # an item counts in each of its scenes
    test_by_scene: Counter[str] = Counter()
    coverage = _Coverage(release)
    for chunk in _item_chunks(release):
        for _scenario_id, item in chunk:
            kinds[item["kind"]] += 1
            splits[item["split"]] += 1
            scenes = item_scenes(item)
            by_scene.update(scenes)
            if item["split"] == "test":
                test_by_scene.update(set(scenes))
        coverage.add(chunk)
    origins = release.items.values_list("scenario__origin").annotate(n=Count("pk")).order_by()
    return DatasheetFacts(
        release=release,
        by_kind=sorted(kinds.items()),
        by_split=sorted(splits.items()),
        by_origin=sorted(origins),
        scenes=[SceneRow(scene, n, test_by_scene[scene]) for scene, n in sorted(by_scene.items())],
        listed=sum(by_scene.values()),
        items=sum(kinds.values()),
        sources=[c for c in coverage.rows() if c.total],
        agreement=[table for section in DATASHEET_SECTIONS for table in section(release)],
        changes=[(what, len(ids)) for what, ids in release.changes.items()],
    )


def _counts(pairs: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{k} {v}" for k, v in pairs)


def _figure(value: float | None, note: str) -> str:
    return f"{value:.3f}" if value is not None else f"– ({note})"


def datasheet(release: Release) -> str:
    """The datasheet file: Markdown in English (the documented language of every release file)."""
    facts = datasheet_facts(release)
    lines = [
        f"# {release.name}",
        "",
        "Language: English (the workbench shows this datasheet in its reader's language).",
        "",
        f"- items: {release.item_count} ({_counts(facts.by_kind)})",
        f"- split: {_counts(facts.by_split)} (stratified by scene)",
        f"- origin: {_counts(facts.by_origin)}",
        f"- SHA-256 of the canonical JSONL: `{release.checksum}`",
        f"- published: {release.created_at:%Y-%m-%d}",
        f"- licence: {LICENCE}",
        "",
        "## Items by scene",
        "",
    ]
    if facts.listed != facts.items:
        lines += [
            f"An item listed under several scenes counts in each: {facts.listed} (item, scene) rows for "
            f"{facts.items} items.",
            "",
        ]
    lines += [
        "| scene | items | test |",
        "|---|---|---|",
        *(f"| {r.scene} | {r.items} | {r.test} |" for r in facts.scenes),
    ]
    lines += [
        "",
        "## Sources and provision coverage",
        "",
        "Each version of a source is counted as the items cite it; a superseded version names the one after it.",
        "",
        "| source | items citing it | provisions cited | provisions in source | coverage | superseded by |",
        "|---|---|---|---|---|---|",
        *(
            f"| {c.name} | {c.items} | {c.cited} | {c.total} | {c.share:.0%} | {c.superseded_by or '–'} |"
            for c in facts.sources
        ),
        "" if facts.sources else "(no provisions linked yet)",
        "",
        "## Expert agreement",
        "",
    ]
    for table in facts.agreement:
        lines += [
            f"Campaign *{table.campaign}* (k = {table.overlap}):",
            "",
            "| dimension | Krippendorff's α (nominal) | Fleiss' κ | items | ratings |",
            "|---|---|---|---|---|",
            *(
                f"| {r.dimension} | {_figure(r.alpha, r.alpha_note)} | {_figure(r.kappa, r.kappa_note)} | "
                f"{r.items} | {r.ratings} |"
                for r in table.rows
            ),
            "",
        ]
    if not facts.agreement:
        lines += ["No labeling campaign has labels on this release yet.", ""]
    if facts.changes:
        lines += ["## Changes since the previous release", ""]
        lines += [f"- {what}: {n}" for what, n in facts.changes]
    return "\n".join(lines) + "\n"
