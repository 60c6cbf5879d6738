"""Re-citing after an amendment: point a scenario's citations of a superseded source at the new version's
articles, so a re-accepted scenario grounds itself in the law in force and a new release counts that version.

``proposals`` lists, for one amendment, every live (not retired) scenario still citing a provision of the
superseded source, each citation with the new version's matching article:

1. the article the comparison (``benchmark.amendments.diff_items``) paired it with: the same number with the same
   or rewritten text, or the same text under another number;
2. for an article the comparison found removed, the new version's article whose text reads most like it
   (``difflib`` ratio at least ``MATCH_FLOOR``; one that kept the number wins a near tie), since a deleted article's
   rule often lives on merged into another;
3. otherwise no match: the curator chooses one with the provision picker (benchmark.picker).

``recite`` is the one writer: it swaps the cited provisions of one scenario in one transaction under optimistic
locking (``expected_version``, 409 in the views), bumps the scenario's version, leaves history and an audit
entry, and repeating it is a no-op with the same result. Status does not change here: a flagged scenario still
goes through review before it is accepted again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from benchmark.amendments import BIGRAM_FILTER, SAME_NUMBER_BONUS, bigrams, inline_diff, plain_text
from benchmark.models import Amendment, ChangeKind, Provision, Scenario, ScenarioStatus, Source
from benchmark.scenarios import ScenarioError, StaleEdit
from medes_site import audit

# Below this, a removed article's best text match is no match and the curator chooses: unrelated articles of one
# law score up to about 0.3 (benchmark.amendments), an article merged into another well above half.
MATCH_FLOOR = 0.5
REASON_LENGTH = 100  # simple_history's history_change_reason column


@dataclass(frozen=True)
class Citation:
    """One provision of the superseded source a scenario cites, and what it would cite instead."""

    old: Provision
    new: Provision | None
    kind: str  # the comparison's verdict on ``old``: unchanged, changed or removed (ChangeKind)
    how: str  # "paired" (by the comparison), "text" (best text match for a removed article) or "" (none)
    similarity: float

    @property
    def diff(self) -> tuple[list[tuple[bool, str]], list[tuple[bool, str]]]:
        """Cited old text and proposed new text as highlighted runs (the old text alone without a match)."""
        if self.new is None:
            return [(False, self.old.text)], []
        return inline_diff(self.old.text, self.new.text)


@dataclass
class Proposal:
    """A scenario still citing the superseded source, with a proposal for each such citation."""

    scenario: Scenario
    flagged: bool  # the comparison flagged it (it cites a changed or removed article)
    citations: list[Citation] = field(default_factory=list)

    @property
    def matched(self) -> list[Citation]:
        return [c for c in self.citations if c.new is not None]


def citing(amendment: Amendment) -> QuerySet[Scenario]:
    """The live scenarios citing any provision of the superseded source (retired ones are never released), those
    the comparison flagged first."""
    cites = Scenario.provisions.through.objects.filter(
        scenario_id=OuterRef("pk"), provision__source=amendment.old_source_id
    )
    was_flagged = Amendment.flagged.through.objects.filter(amendment_id=amendment.pk, scenario_id=OuterRef("pk"))
    return (
        Scenario.objects.filter(Exists(cites))
        .exclude(status=ScenarioStatus.RETIRED)
        .annotate(was_flagged=Exists(was_flagged))
        .select_related("scene")
        .order_by("-was_flagged", "pk")
    )


def _best_text_match(old: Provision, candidates: list[Provision]) -> tuple[Provision | None, float]:
    text = plain_text(old.text)
    grams = bigrams(text)
    best: tuple[float, Provision | None, float] = (0.0, None, 0.0)
    for new in candidates:
        other = plain_text(new.text)
        same_number = (new.number, new.suffix) == (old.number, old.suffix)
        other_grams = bigrams(other)
        overlap = 2 * len(grams & other_grams) / (len(grams) + len(other_grams))
        if overlap < BIGRAM_FILTER and not same_number:
            continue
        ratio = SequenceMatcher(None, text, other, autojunk=False).ratio()
        score = ratio + (SAME_NUMBER_BONUS if same_number else 0.0)
        if ratio >= MATCH_FLOOR and score > best[0]:
            best = (score, new, ratio)
    return best[1], best[2]


def matches(amendment: Amendment, old_provisions: Iterable[Provision]) -> dict[int, Citation]:
    """old provision pk → its citation with the proposed new article (see the module docstring)."""
    wanted = {p.pk: p for p in old_provisions}
    rows = {
        row.old_provision_id: row
        for row in amendment.changes.filter(old_provision_id__in=wanted).select_related("new_provision__source")
    }
    candidates: list[Provision] | None = None
    out: dict[int, Citation] = {}
    for pk, old in wanted.items():
        row = rows.get(pk)
        if row is not None and row.new_provision is not None:
            out[pk] = Citation(old, row.new_provision, row.kind, "paired", row.similarity)
            continue
        if candidates is None:
            candidates = list(amendment.new_source.provisions.select_related("source").order_by("position"))
        new, ratio = _best_text_match(old, candidates)
        kind = row.kind if row is not None else ChangeKind.REMOVED
        out[pk] = Citation(old, new, kind, "text" if new is not None else "", ratio)
    return out


def proposals(amendment: Amendment, scenarios: Iterable[Scenario] | None = None) -> list[Proposal]:
    """Every scenario citing the superseded source, flagged ones first; or, given ``scenarios`` (a page of
    ``citing``, or one scenario), those of them, in their order."""
    found = list(citing(amendment) if scenarios is None else scenarios)
    through = Scenario.provisions.through
    links = through.objects.filter(
        scenario_id__in=[s.pk for s in found], provision__source=amendment.old_source_id
    ).values_list("scenario_id", "provision_id")
    by_scenario: dict[int, list[int]] = {}
    for scenario_id, provision_id in links:
        by_scenario.setdefault(scenario_id, []).append(provision_id)
    olds = Provision.objects.select_related("source").filter(pk__in={p for ps in by_scenario.values() for p in ps})
    proposed = matches(amendment, olds)
    flagged = set(amendment.flagged.filter(pk__in=by_scenario).values_list("pk", flat=True))
    return [
        Proposal(
            scenario,
            scenario.pk in flagged,
            sorted((proposed[p] for p in by_scenario[scenario.pk]), key=lambda c: c.old.position),
        )
        for scenario in found
        if scenario.pk in by_scenario and scenario.status != ScenarioStatus.RETIRED
    ]


def is_later_version(new: Source, old: Source) -> bool:
    """Whether ``new`` supersedes ``old``, directly or through versions in between."""
    seen: set[int] = set()
    step: Source | None = new.supersedes
    while step is not None and step.pk not in seen:
        if step.pk == old.pk:
            return True
        seen.add(step.pk)
        step = step.supersedes
    return False


@transaction.atomic
def recite(scenario_id: int, changes: dict[int, int], *, expected_version: int, user: User | None) -> Scenario:
    """Replace each cited old provision (key of ``changes``) with the new one (its value) in one step.

    Already done (no old one cited, every new one cited): a no-op returning the scenario as it is. Otherwise the
    scenario must still be at ``expected_version`` (else ``StaleEdit`` with the current one), cite every old
    provision, and each new provision must belong to a later version of its old provision's source."""
    if not changes:
        raise ScenarioError(_("Choose at least one citation to re-cite."))
    scenario = Scenario.objects.select_for_update().get(pk=scenario_id)
    cited = set(scenario.provisions.values_list("pk", flat=True))
    if not cited & set(changes) and set(changes.values()) <= cited:
        return scenario
    if scenario.version != expected_version:
        raise StaleEdit(scenario)
    provisions = Provision.objects.select_related("source__supersedes").in_bulk([*changes, *changes.values()])
    pairs: list[tuple[Provision, Provision]] = []
    for old_id, new_id in changes.items():
        old, new = provisions.get(old_id), provisions.get(new_id)
        if old is None or new is None:
            raise ScenarioError(_("That article no longer exists; reload the page."))
        if old_id not in cited:
            raise ScenarioError(
                _("Scenario %(pk)d no longer cites %(label)s; reload the page.") % {"pk": scenario.pk, "label": old}
            )
        if not is_later_version(new.source, old.source):
            raise ScenarioError(
                _("%(new)s is not in a later version of “%(title)s”.") % {"new": new, "title": old.source.title}
            )
        pairs.append((old, new))
    scenario.provisions.remove(*(old for old, _new in pairs))
    scenario.provisions.add(*(new for _old, new in pairs))
    scenario.version += 1  # the row is locked (select_for_update), so this cannot race
    reason = "re-cited " + "; ".join(f"{old.label} → {new.label}" for old, new in pairs)
    scenario._change_reason = reason[:REASON_LENGTH]  # type: ignore[attr-defined]
    scenario.save(update_fields=["version", "updated_at"])
    audit.record(
        "scenario.recite",
        actor=user,
        obj=scenario,
        details={
            "changes": [[old.pk, new.pk] for old, new in pairs],
            "labels": [[str(old), str(new)] for old, new in pairs],
            "version": scenario.version,
        },
    )
    return scenario


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def recite_many(picks: Iterable[tuple[int, int, int, int]], *, user: User | None) -> BulkResult:
    """``picks``: (scenario, old provision, new provision, version seen) each; one ``recite`` per scenario, so
    a scenario saved meanwhile is left alone (``stale``) and the others go through."""
    grouped: dict[int, tuple[int, dict[int, int]]] = {}
    for scenario_id, old_id, new_id, version in picks:
        grouped.setdefault(scenario_id, (version, {}))[1][old_id] = new_id
    result = BulkResult()
    for scenario_id, (version, changes) in sorted(grouped.items()):
        try:
            recite(scenario_id, changes, expected_version=version, user=user)
        except StaleEdit:
            result.stale.append(scenario_id)
        except (ScenarioError, Scenario.DoesNotExist) as error:
            result.refused.append(f"#{scenario_id}: {error}")
        else:
            result.done.append(scenario_id)
    return result
