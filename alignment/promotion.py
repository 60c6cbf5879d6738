"""Is a guardian version worse than the active one? (issue 14, item 8a)

A version's figures are measured on its own test split. Two versions are compared only on the same split:

- the new version's ``baseline`` is the version that was active when it was trained, scored on the new
  version's test split: when that is the version active now, the two sets of figures are comparable;
- two versions trained on the same data and split (equal ``data_hash``, which covers the rows and their split
  assignment) are comparable on their own figures.

Otherwise the splits differ and nothing is compared: promotion then needs a confirmation that says so. A drop
in macro-F1 or in the risk flag's F1 on the same split needs a confirmation that names it. A version with no
figures, or an active version with none, is not compared (there is nothing to say).

A confirmation holds only for the active version it was given against (``PromotionCheck.active_pk``, posted back
as ``against``): if another version became active meanwhile, the drop the user saw is not the drop they would
cause, and ``services.promote`` asks again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from alignment.models import GuardianVersion
from alignment.runtime import version_dir

# (label, where in a version's metrics)
FIGURES: tuple[tuple[str, tuple[str, ...]], ...] = (("macro-F1", ("macro_f1",)), ("risk-flag F1", ("risk", "f1")))
EPSILON = 1e-9  # float noise is no drop


@dataclass(frozen=True)
class Drop:
    figure: str
    active: float
    candidate: float

    def __str__(self) -> str:
        delta = self.candidate - self.active
        return f"{self.figure} {self.active:.2f} → {self.candidate:.2f} ({'−' if delta < 0 else '+'}{abs(delta):.2f})"


@dataclass(frozen=True)
class PromotionCheck:
    """What promoting ``candidate`` over ``active`` would change, as far as the figures tell."""

    candidate: int
    active: int | None
    split: str = ""  # the split compared on, in words; empty when none
    drops: list[Drop] = field(default_factory=list)
    splits_differ: bool = False
    active_pk: int | None = None  # the active version compared with (what a confirmation is bound to)

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.drops) or self.splits_differ

    def message(self) -> str:
        if self.drops:
            return _(
                "Guardian v%(new)d scores lower than the active v%(old)d on the same split (%(split)s): %(drops)s. "
                "Confirm to make it active anyway."
            ) % {
                "new": self.candidate,
                "old": self.active,
                "split": self.split,
                "drops": "; ".join(str(d) for d in self.drops),
            }
        if self.splits_differ:
            return _(
                "Guardian v%(new)d and the active v%(old)d were measured on different test splits (%(split)s), so "
                "their figures cannot be compared. Confirm to make it active anyway."
            ) % {"new": self.candidate, "old": self.active, "split": self.split}
        return ""


def _figure(metrics: dict[str, Any] | None, path: tuple[str, ...]) -> float | None:
    value: Any = metrics or {}
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _has_figures(metrics: dict[str, Any] | None) -> bool:
    return any(_figure(metrics, path) is not None for _label, path in FIGURES)


def _same_directory(baseline: dict[str, Any], active: GuardianVersion) -> bool:
    compared = str(baseline.get("model_dir") or "")
    return bool(compared) and compared in (str(version_dir(active)), active.model_dir)


def check(candidate: GuardianVersion, active: GuardianVersion | None) -> PromotionCheck:
    """Compare ``candidate`` with ``active`` on the same test split (see the module's docstring)."""
    if active is None or active.pk == candidate.pk:
        return PromotionCheck(candidate.number, None)
    baseline = candidate.baseline or {}
    if _same_directory(baseline, active) and _has_figures(baseline.get("metrics")):
        theirs, split = (
            baseline["metrics"],
            _("v%(n)d's test split, data %(hash)s, %(rows)s rows")
            % {
                "n": candidate.number,
                "hash": candidate.data_hash[:12] or "?",
                "rows": (candidate.metrics or {}).get("n", "?"),
            },
        )
    elif candidate.data_hash and candidate.data_hash == active.data_hash:
        theirs, split = (
            active.metrics,
            _("data %(hash)s, %(rows)s test rows")
            % {"hash": candidate.data_hash[:12], "rows": (candidate.metrics or {}).get("n", "?")},
        )
    else:
        if not (_has_figures(candidate.metrics) and _has_figures(active.metrics)):
            return PromotionCheck(candidate.number, active.number, active_pk=active.pk)  # nothing to compare
        split = _("v%(new)d on data %(a)s, v%(old)d on data %(b)s") % {
            "new": candidate.number,
            "a": candidate.data_hash[:12] or "?",
            "old": active.number,
            "b": active.data_hash[:12] or "?",
        }
        return PromotionCheck(candidate.number, active.number, split=split, splits_differ=True, active_pk=active.pk)
    drops = []
    for label, path in FIGURES:
        before, after = _figure(theirs, path), _figure(candidate.metrics, path)
        if before is not None and after is not None and after < before - EPSILON:
            drops.append(Drop(label, before, after))
    return PromotionCheck(candidate.number, active.number, split=split, drops=drops, active_pk=active.pk)
