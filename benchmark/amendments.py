"""Amendments: a new version of a source compared, provision by provision, with the source it supersedes;
scenarios grounded in a changed or removed provision go back to review.

The comparison (``diff_items``, plain Python) pairs old and new articles in three passes:

1. the same number and suffix with the same text (whitespace ignored): unchanged;
2. the same text under another number: unchanged, *renumbered* (an article inserted or deleted earlier
   shifts every later number, as amended Chinese laws routinely do);
3. similar text (``difflib.SequenceMatcher`` ratio, after a cheap character-bigram filter), best pairs
   first: changed. Different numbers need ``SIMILAR``; an article that kept its number needs only
   ``SAME_NUMBER`` (it is the same article, rewritten). Unrelated articles of one law score about 0.1–0.3.

What stays unpaired is removed (old) or added (new). Decisions on scenarios (``flag_scenarios``):
an ACCEPTED scenario citing a changed or removed provision becomes NEEDS_REREVIEW through
``benchmark.scenarios.change_status`` (history and audit carry the reason); a draft, in-review or
already-flagged one keeps its status, since it must pass review anyway, and gets an audit entry; a
retired one is left alone. Each scenario is handled once per (old, new) pair, so re-parsing the new
version, or the old one, does not send a scenario a reviewer has since accepted back again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from benchmark.models import (
    Amendment,
    AmendmentChange,
    ChangeKind,
    ParseStatus,
    Scenario,
    ScenarioStatus,
    Source,
)
from benchmark.scenarios import change_status
from medes_site import audit

SIMILAR = 0.6
SAME_NUMBER = 0.4
BIGRAM_FILTER = 0.3  # below this character-bigram overlap, SequenceMatcher is not even asked
SAME_NUMBER_BONUS = 0.05  # between equally similar candidates, prefer the one that kept its number


@dataclass(frozen=True)
class Item:
    number: int
    suffix: int
    label: str
    text: str
    ref: Any = None  # what it came from (a Provision)

    @property
    def key(self) -> tuple[int, int]:
        return (self.number, self.suffix)


@dataclass(frozen=True)
class Row:
    kind: ChangeKind
    old: Item | None
    new: Item | None
    similarity: float

    @property
    def renumbered(self) -> bool:
        return self.old is not None and self.new is not None and self.old.key != self.new.key


def plain_text(text: str) -> str:
    return "".join(text.split())


def bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)} or {text}


def diff_items(old: Sequence[Item], new: Sequence[Item]) -> list[Row]:
    """Pair ``old`` and ``new`` articles (see the module docstring); rows in the new version's order, each
    removed article right after the old article it followed."""
    old_text, new_text = [plain_text(i.text) for i in old], [plain_text(i.text) for i in new]
    pairs: dict[int, int] = {}  # old index → new index
    similarity: dict[int, float] = {}
    new_by_key = {item.key: j for j, item in enumerate(new)}
    for i, item in enumerate(old):  # 1. same number, same text
        j = new_by_key.get(item.key)
        if j is not None and old_text[i] == new_text[j]:
            pairs[i] = j
    used = set(pairs.values())
    by_text: dict[str, list[int]] = {}
    for j, text in enumerate(new_text):
        if j not in used:
            by_text.setdefault(text, []).append(j)
    for i, text in enumerate(old_text):  # 2. same text, another number
        if i not in pairs and by_text.get(text):
            pairs[i] = by_text[text].pop(0)
            used.add(pairs[i])
    free_new = [j for j in range(len(new)) if j not in used]
    new_grams = {j: bigrams(new_text[j]) for j in free_new}
    candidates: list[tuple[float, int, int, float]] = []
    for i in (i for i in range(len(old)) if i not in pairs):  # 3. similar text
        grams = bigrams(old_text[i])
        for j in free_new:
            same_number = old[i].key == new[j].key
            overlap = 2 * len(grams & new_grams[j]) / (len(grams) + len(new_grams[j]))
            if overlap < BIGRAM_FILTER and not same_number:
                continue
            ratio = SequenceMatcher(None, old_text[i], new_text[j], autojunk=False).ratio()
            if ratio >= (SAME_NUMBER if same_number else SIMILAR):
                candidates.append((-(ratio + (SAME_NUMBER_BONUS if same_number else 0.0)), i, j, ratio))
    for _score, i, j, ratio in sorted(candidates):
        if i not in pairs and j not in used:
            pairs[i], similarity[i] = j, ratio
            used.add(j)

    rows: list[tuple[tuple[int, int, int], Row]] = []
    for i, j in pairs.items():
        kind = ChangeKind.UNCHANGED if old_text[i] == new_text[j] else ChangeKind.CHANGED
        rows.append(((j, 0, 0), Row(kind, old[i], new[j], similarity.get(i, 1.0))))
    for j in (j for j in range(len(new)) if j not in used):
        rows.append(((j, 0, 0), Row(ChangeKind.ADDED, None, new[j], 0.0)))
    anchor = -1
    for i in range(len(old)):
        if i in pairs:
            anchor = pairs[i]
        else:
            rows.append(((anchor, 1, i), Row(ChangeKind.REMOVED, old[i], None, 0.0)))
    return [row for _key, row in sorted(rows, key=lambda entry: entry[0])]


def inline_diff(old: str, new: str) -> tuple[list[tuple[bool, str]], list[tuple[bool, str]]]:
    """Both texts cut into (changed?, text) runs, for highlighting side by side. Rendered with the
    template's escaping: the texts are never marked safe."""
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    left: list[tuple[bool, str]] = []
    right: list[tuple[bool, str]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            left.append((False, old[i1:i2]))
            right.append((False, new[j1:j2]))
            continue
        if i2 > i1:
            left.append((True, old[i1:i2]))
        if j2 > j1:
            right.append((True, new[j1:j2]))
    return left, right


# --- the stored comparison and its effect on scenarios ------------------------------------------------


class AmendmentError(ValueError):
    """No comparison can be made as asked; the message says why."""


def _items(source: Source) -> list[Item]:
    return [Item(p.number, p.suffix, p.label, p.text, p) for p in source.provisions.order_by("position")]


def _not_comparable(new: Source, old: Source) -> str:
    if new.parse_status != ParseStatus.PARSED:
        return _("“%(title)s” is not parsed (its status: %(status)s); it is compared once its parse succeeds.") % {
            "title": new.title,
            "status": new.get_parse_status_display(),
        }
    if old.parse_status != ParseStatus.PARSED or not old.provisions.exists():
        return _(
            "The version it supersedes, “%(title)s”, is not parsed (its status: %(status)s). Parse it, and the "
            "comparison runs when that parse succeeds; no scenario was flagged."
        ) % {"title": old.title, "status": old.get_parse_status_display()}
    return ""


@transaction.atomic
def compare_sources(new_source: Source, *, user: User | None = None) -> Amendment:
    """Compare ``new_source`` with the source it supersedes, store the rows (replacing an earlier
    comparison) and flag the scenarios. When either side is not parsed, the amendment records why
    (``error``), holds no rows and flags nothing."""
    old = new_source.supersedes
    if old is None:
        raise AmendmentError(_("This source does not supersede another one; there is nothing to compare."))
    amendment, _created = Amendment.objects.select_for_update().get_or_create(
        new_source=new_source, defaults={"old_source": old}
    )
    if amendment.old_source_id != old.pk:  # it supersedes another source now: a new pair, flagged afresh
        amendment.old_source = old
        amendment.flagged.clear()
    amendment.changes.all().delete()
    amendment.computed_at, amendment.created_by = timezone.now(), user
    amendment.error = _not_comparable(new_source, old)
    if amendment.error:
        amendment.counts = {}
        amendment.save()
        audit.record("source.amendment_failed", actor=user, obj=new_source, details={"error": amendment.error})
        return amendment
    rows = diff_items(_items(old), _items(new_source))
    AmendmentChange.objects.bulk_create(
        [
            AmendmentChange(
                amendment=amendment,
                position=position,
                kind=row.kind,
                renumbered=row.renumbered,
                similarity=round(row.similarity, 4),
                old_provision=row.old.ref if row.old else None,
                new_provision=row.new.ref if row.new else None,
                old_label=row.old.label if row.old else "",
                new_label=row.new.label if row.new else "",
                old_text=row.old.text if row.old else "",
                new_text=row.new.text if row.new else "",
            )
            for position, row in enumerate(rows, start=1)
        ],
        batch_size=500,
    )
    counts: dict[str, int] = {kind.value: 0 for kind in ChangeKind}
    counts.update(Counter(row.kind.value for row in rows))
    counts["renumbered"] = sum(row.renumbered for row in rows)
    amendment.save()
    moved = flag_scenarios(amendment, rows, user=user)
    counts["sent_to_rereview"] = moved
    counts["affected_scenarios"] = amendment.flagged.count()
    amendment.counts = counts
    amendment.save(update_fields=["counts"])
    audit.record("source.amendment", actor=user, obj=new_source, details={"old_source": old.pk, **counts})
    return amendment


def flag_scenarios(amendment: Amendment, rows: Sequence[Row], *, user: User | None) -> int:
    """Send the accepted scenarios citing a changed or removed old provision to re-review (see the module
    docstring for the other statuses). Returns how many changed status now."""
    labels = {
        row.old.ref.pk: row.old.label
        for row in rows
        if row.old is not None and row.kind in (ChangeKind.CHANGED, ChangeKind.REMOVED)
    }
    citing: dict[int, list[str]] = {}
    through = Scenario.provisions.through
    for scenario_id, provision_id in through.objects.filter(provision_id__in=labels).values_list(
        "scenario_id", "provision_id"
    ):
        citing.setdefault(scenario_id, []).append(labels[provision_id])
    done = set(amendment.flagged.values_list("pk", flat=True))
    title = amendment.new_source.title
    moved = 0
    for scenario in Scenario.objects.filter(pk__in=set(citing) - done).order_by("pk"):
        cited = "、".join(sorted(set(citing[scenario.pk])))
        reason = f"amended by {title}: {cited} changed or removed"
        if scenario.status == ScenarioStatus.RETIRED:
            continue
        if scenario.status == ScenarioStatus.ACCEPTED:
            change_status(scenario.pk, ScenarioStatus.NEEDS_REREVIEW, user=user, reason=reason)
            moved += 1
        else:
            audit.record(
                "scenario.provision_amended",
                actor=user,
                obj=scenario,
                details={"amendment": amendment.pk, "provisions": cited, "status": scenario.status},
            )
        amendment.flagged.add(scenario)
    return moved


def describe(amendment: Amendment) -> str:
    """One line for a job log or a message."""
    if amendment.error:
        return amendment.error
    c = amendment.counts
    return _(
        "Compared with “%(old)s”: %(changed)d changed, %(added)d added, %(removed)d removed, %(unchanged)d "
        "unchanged (%(renumbered)d renumbered); %(moved)d accepted scenarios sent to re-review."
    ) % {
        "old": amendment.old_source.title,
        "changed": c["changed"],
        "added": c["added"],
        "removed": c["removed"],
        "unchanged": c["unchanged"],
        "renumbered": c["renumbered"],
        "moved": c["sent_to_rereview"],
    }


def compare_after_parse(source: Source, *, user: User | None = None) -> list[str]:
    """Called when ``source`` has just been parsed: compare it with the version it supersedes, and compare
    each parsed newer version with it (its provisions may have changed). One line per comparison."""
    lines = []
    if source.supersedes_id is not None:
        lines.append(describe(compare_sources(source, user=user)))
    for newer in Source.objects.filter(supersedes=source, parse_status=ParseStatus.PARSED).order_by("pk"):
        lines.append(describe(compare_sources(newer, user=user)))
    return lines


def set_supersedes(source: Source, old: Source | None, *, user: User | None) -> Amendment | None:
    """Say which source ``source`` supersedes (or none), then compare them when both are parsed."""
    if old is not None:
        if old.pk == source.pk:
            raise AmendmentError(_("A source cannot supersede itself."))
        seen: set[int] = set()
        step: Source | None = old
        while step is not None and step.pk not in seen:
            if step.pk == source.pk:
                raise AmendmentError(
                    _(
                        "“%(title)s” already comes after this source; a source cannot supersede a later version of "
                        "itself."
                    )
                    % {"title": old.title}
                )
            seen.add(step.pk)
            step = step.supersedes
    with transaction.atomic():
        source.supersedes = old
        source.save(update_fields=["supersedes"])
        audit.record("source.supersedes", actor=user, obj=source, details={"supersedes": old.pk if old else None})
        if old is None:
            Amendment.objects.filter(new_source=source).delete()
            return None
        return compare_sources(source, user=user)
