"""Curator fixes to a mis-parsed provision: edit, split in two, merge with the next one.

Every fix runs under optimistic locking (``Provision.version``: a stale edit raises ``StaleProvision``
with the current row), keeps a history row (django-simple-history, with the curator and a reason) and an
audit entry, and marks the provision ``edited_by_hand`` so that a later re-parse keeps it (see
``benchmark.services._store_provisions``). ``curated_keys`` remembers which parsed articles a fixed
provision stands for, so the re-parse does not bring back an article that was merged away or renumbered.

A fix corrects how the text was read, not what the norm says, so scenarios citing the provision keep their
status (a new version of the norm is an amendment: see ``benchmark.amendments``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from benchmark.models import Provision, Scenario, Source
from benchmark.parsing import chinese_numeral
from medes_site import audit

EDITABLE = ("number", "suffix", "text", "book", "part", "chapter", "section")
PARKED = 1_000_000  # positions are unique per source: rows are moved out of the way before a shift


class ProvisionError(ValueError):
    """The fix cannot be made as asked; the message says why, for the curator."""


class StaleProvision(ProvisionError):  # noqa: N818 - reads as what happened
    """Someone changed the provision since this fix started; ``current`` is the provision as it is now."""

    def __init__(self, current: Provision) -> None:
        super().__init__(
            _("Someone else changed %(label)s meanwhile (now version %(v)d).")
            % {"label": current.label, "v": current.version}
        )
        self.current = current


def article_label(number: int, suffix: int) -> str:
    """(10, 0) → 第十条, (10, 1) → 第十条之一: the same labels the parser writes."""
    base = f"第{chinese_numeral(number)}条"
    return f"{base}之{chinese_numeral(suffix)}" if suffix else base


def _locked(pk: int, expected_version: int | None) -> Provision:
    """The provision, locked for this transaction; with ``expected_version``, refused if it moved on."""
    provision = Provision.objects.select_for_update().select_related("source").filter(pk=pk).first()
    if provision is None:
        raise ProvisionError(_("This provision no longer exists (merged into another, or removed by a re-parse)."))
    if expected_version is not None and provision.version != expected_version:
        raise StaleProvision(provision)
    return provision


def _check_number_free(source: Source, number: int, suffix: int, *, exclude: int | None = None) -> None:
    if number < 1 or suffix < 0:
        raise ProvisionError(_("An article number starts at 1 and a suffix at 0."))
    taken = Provision.objects.filter(source=source, number=number, suffix=suffix)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ProvisionError(
            _("%(label)s already exists in this source; choose another number or suffix.")
            % {"label": article_label(number, suffix)}
        )


def _save(provision: Provision, *, user: User | None, reason: str) -> None:
    provision.version += 1  # the row is locked (select_for_update), so this cannot race
    provision.edited_by_hand = True
    provision._change_reason = reason  # type: ignore[attr-defined]
    provision._history_user = user  # type: ignore[attr-defined]
    provision.save()


@transaction.atomic
def edit_provision(pk: int, *, expected_version: int, changes: dict[str, Any], user: User | None) -> Provision:
    """Change text, number/suffix or headings. Saving what is already there is a no-op (no new version),
    even from a stale form: a double submit of the same edit gives the same result, not a conflict."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ProvisionError(f"These fields cannot be edited here: {', '.join(sorted(unknown))}.")
    provision = _locked(pk, None)
    changes = {name: value.strip() if isinstance(value, str) else value for name, value in changes.items()}
    changed = sorted(name for name, value in changes.items() if getattr(provision, name) != value)
    if not changed:
        return provision
    if provision.version != expected_version:
        raise StaleProvision(provision)
    if "text" in changes and not changes["text"]:
        raise ProvisionError(_("A provision needs its text."))
    old_key, old_label = [provision.number, provision.suffix], provision.label
    for name in changed:
        setattr(provision, name, changes[name])
    if "number" in changed or "suffix" in changed:
        _check_number_free(provision.source, provision.number, provision.suffix, exclude=provision.pk)
        provision.label = article_label(provision.number, provision.suffix)
        if old_key not in provision.curated_keys:  # a re-parse must not bring the old number back
            provision.curated_keys = [*provision.curated_keys, old_key]
    _save(provision, user=user, reason=f"edit: {', '.join(changed)}")
    audit.record("provision.edit", actor=user, obj=provision, details={"fields": changed, "was": old_label})
    return provision


def split_point(text: str, *, at_paragraph: int | None, at_offset: int | None) -> tuple[str, str]:
    """The two texts of a split: before paragraph ``at_paragraph`` (1 = the first paragraph), or before
    character ``at_offset``. Exactly one of the two is given, and both parts must keep some text."""
    if (at_paragraph is None) == (at_offset is None):
        raise ProvisionError(_("Split either at a paragraph or at a character offset, not both or neither."))
    if at_paragraph is not None:
        paragraphs = text.split("\n")
        if not 2 <= at_paragraph <= len(paragraphs):
            raise ProvisionError(
                _("This provision has %(n)d paragraphs; the second part can start at paragraph 2 to %(n)d.")
                % {"n": len(paragraphs)}
            )
        first, second = "\n".join(paragraphs[: at_paragraph - 1]), "\n".join(paragraphs[at_paragraph - 1 :])
    else:
        at_offset = at_offset or 0
        if not 0 < at_offset < len(text):
            raise ProvisionError(
                _("The offset must lie inside the text (1 to %(n)d characters).") % {"n": len(text) - 1}
            )
        first, second = text[:at_offset], text[at_offset:]
    first, second = first.strip(), second.strip()
    if not first or not second:
        raise ProvisionError(_("Both parts of a split need some text."))
    return first, second


@transaction.atomic
def split_provision(
    pk: int,
    *,
    expected_version: int,
    new_number: int,
    new_suffix: int,
    user: User | None,
    at_paragraph: int | None = None,
    at_offset: int | None = None,
) -> tuple[Provision, Provision]:
    """Cut a provision in two; the second part becomes a new provision right after it, numbered as the
    curator says (e.g. 第十条之一), in the same divisions. Scenarios keep citing the first part."""
    provision = _locked(pk, expected_version)
    first, second = split_point(provision.text, at_paragraph=at_paragraph, at_offset=at_offset)
    _check_number_free(provision.source, new_number, new_suffix)
    later = Provision.objects.filter(source=provision.source_id, position__gt=provision.position)
    later.update(position=F("position") + PARKED + 1)
    Provision.objects.filter(source=provision.source_id, position__gt=PARKED).update(position=F("position") - PARKED)
    provision.text = first
    _save(provision, user=user, reason=f"split: the rest became {article_label(new_number, new_suffix)}")
    part = Provision(
        source=provision.source,
        position=provision.position + 1,
        number=new_number,
        suffix=new_suffix,
        label=article_label(new_number, new_suffix),
        text=second,
        book=provision.book,
        part=provision.part,
        chapter=provision.chapter,
        section=provision.section,
        edited_by_hand=True,
    )
    part._change_reason = f"split off {provision.label}"  # type: ignore[attr-defined]
    part._history_user = user  # type: ignore[attr-defined]
    part.save()
    Source.objects.filter(pk=provision.source_id).update(article_count=F("article_count") + 1)
    audit.record(
        "provision.split",
        actor=user,
        obj=provision,
        details={"new": part.label, "new_id": part.pk, "at_paragraph": at_paragraph, "at_offset": at_offset},
    )
    return provision, part


def next_provision(provision: Provision) -> Provision | None:
    return (
        Provision.objects.filter(source=provision.source_id, position__gt=provision.position)
        .order_by("position")
        .first()
    )


@transaction.atomic
def merge_with_next(pk: int, *, expected_version: int, next_pk: int, next_version: int, user: User | None) -> Provision:
    """Append the next provision's text to this one and delete the next one. ``next_pk``/``next_version``
    are the next provision as the curator saw it: if another fix changed it since, the merge is refused.
    Scenarios citing the merged-away provision are re-pointed to this one, so none loses its grounding."""
    provision = _locked(pk, expected_version)
    following = next_provision(provision)
    if following is None:
        raise ProvisionError(
            _("%(label)s is the last provision; there is nothing to merge it with.") % {"label": provision.label}
        )
    following = Provision.objects.select_for_update().get(pk=following.pk)
    if following.pk != next_pk or following.version != next_version:
        raise StaleProvision(provision)
    provision.text = f"{provision.text}\n{following.text}"
    keys = [*provision.curated_keys, [following.number, following.suffix], *following.curated_keys]
    provision.curated_keys = [list(key) for key in dict.fromkeys(tuple(key) for key in keys)]
    _save(provision, user=user, reason=f"merged {following.label} into it")
    citing = list(Scenario.objects.filter(provisions=following).values_list("pk", flat=True))
    through = Scenario.provisions.through
    links = through.objects.filter(provision_id=provision.pk, scenario_id__in=citing)
    already = set(links.values_list("scenario_id", flat=True))
    through.objects.bulk_create(
        [through(scenario_id=sid, provision_id=provision.pk) for sid in citing if sid not in already]
    )
    merged_label, merged_pk = following.label, following.pk
    following._change_reason = f"merged into {provision.label}"  # type: ignore[attr-defined]
    following._history_user = user  # type: ignore[attr-defined]
    following.delete()
    Source.objects.filter(pk=provision.source_id).update(article_count=F("article_count") - 1)
    audit.record(
        "provision.merge",
        actor=user,
        obj=provision,
        details={"merged": merged_label, "merged_id": merged_pk, "repointed_scenarios": sorted(citing)},
    )
    return provision
