"""Inter-annotator agreement, always with the counts behind each figure.

The statistics come from maintained libraries: Cohen's kappa from scikit-learn, Fleiss' kappa from statsmodels,
Krippendorff's alpha (nominal and ordinal, missing data allowed) from ``krippendorff``. This module only shapes
the data and says when a figure is undefined (too few items, or no variation) instead of printing NaN.

A *ratings table* for one dimension maps item → annotator → value (an int), with missing ratings simply absent.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Ratings = Mapping[Any, Mapping[Any, int]]  # item → annotator → value (keys: any hashable ids)
Level = Literal["nominal", "ordinal"]


@dataclass(frozen=True)
class Figure:
    """One statistic with what it rests on: ``value`` is None when it is undefined, and ``note`` says why."""

    value: float | None
    items: int  # items that entered the computation
    ratings: int  # ratings that entered it
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PairFigure(Figure):
    annotators: tuple[str, str] = ("", "")


@dataclass
class DimensionAgreement:
    dimension: str
    items: int
    annotators: int
    ratings: int
    fleiss_kappa: Figure
    alpha_nominal: Figure
    alpha_ordinal: Figure
    percent_agreement: Figure
    cohen_pairwise: list[PairFigure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "items": self.items,
            "annotators": self.annotators,
            "ratings": self.ratings,
            "fleiss_kappa": self.fleiss_kappa.as_dict(),
            "alpha_nominal": self.alpha_nominal.as_dict(),
            "alpha_ordinal": self.alpha_ordinal.as_dict(),
            "percent_agreement": self.percent_agreement.as_dict(),
            "cohen_pairwise": [p.as_dict() for p in self.cohen_pairwise],
        }


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def _annotators(ratings: Ratings) -> list[Hashable]:
    return sorted({a for row in ratings.values() for a in row}, key=str)


def cohen_kappa(ratings: Ratings, a: Hashable, b: Hashable) -> PairFigure:
    """Cohen's kappa of two annotators over the items both rated."""
    both = [(row[a], row[b]) for row in ratings.values() if a in row and b in row]
    return _cohen(both, (str(a), str(b)))


def _cohen(both: list[tuple[int, int]], pair: tuple[str, str]) -> PairFigure:
    from sklearn.metrics import cohen_kappa_score

    if len(both) < 2:
        return PairFigure(None, len(both), 2 * len(both), "fewer than two items rated by both", annotators=pair)
    first, second = zip(*both, strict=True)
    if len(set(first) | set(second)) < 2:
        return PairFigure(None, len(both), 2 * len(both), "no variation: every rating is the same", annotators=pair)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = _finite(cohen_kappa_score(first, second))
    note = "" if value is not None else "undefined: chance agreement is 1"
    return PairFigure(value, len(both), 2 * len(both), note, annotators=pair)


def cohen_pairwise(ratings: Ratings) -> list[PairFigure]:
    """Cohen's kappa of every pair of annotators, in the order of ``_annotators``. Each annotator's ratings are
    indexed once, so a pair costs the items of the smaller of the two, not every item of the campaign."""
    by_annotator: dict[Hashable, dict[Hashable, int]] = {}
    for item, row in ratings.items():
        for annotator, value in row.items():
            by_annotator.setdefault(annotator, {})[item] = value
    figures = []
    for a, b in itertools.combinations(_annotators(ratings), 2):
        small, large = sorted((by_annotator[a], by_annotator[b]), key=len)
        shared = [item for item in small if item in large]
        figures.append(_cohen([(by_annotator[a][i], by_annotator[b][i]) for i in shared], (str(a), str(b))))
    return figures


def fleiss_kappa(ratings: Ratings) -> Figure:
    """Fleiss' kappa over the items that have the most common number of ratings (it needs a fixed count)."""
    from statsmodels.stats.inter_rater import fleiss_kappa as fleiss

    counts = Counter(len(row) for row in ratings.values() if len(row) >= 2)
    if not counts:
        return Figure(None, 0, 0, "no item has two ratings")
    k = max(counts, key=lambda c: (counts[c], c))
    rows = [list(row.values()) for row in ratings.values() if len(row) == k]
    categories = sorted({v for row in rows for v in row})
    if len(rows) < 2:
        return Figure(None, len(rows), k * len(rows), "fewer than two items")
    if len(categories) < 2:
        return Figure(None, len(rows), k * len(rows), "no variation: every rating is the same")
    table = [[row.count(c) for c in categories] for row in rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = _finite(fleiss(table, method="fleiss"))
    skipped = sum(n for c, n in counts.items() if c != k)
    note = f"{skipped} items with another number of ratings left out" if skipped else ""
    return Figure(value, len(rows), k * len(rows), note)


def krippendorff_alpha(ratings: Ratings, level: Level = "nominal") -> Figure:
    """Krippendorff's alpha; items with fewer than two ratings carry no pairable values and are not counted."""
    import krippendorff
    import numpy as np

    annotators = _annotators(ratings)
    pairable = {item: row for item, row in ratings.items() if len(row) >= 2}
    n_ratings = sum(len(row) for row in pairable.values())
    if len(pairable) < 1 or not annotators:
        return Figure(None, 0, 0, "no item has two ratings")
    values = {v for row in pairable.values() for v in row.values()}
    if len(values) < 2:
        return Figure(None, len(pairable), n_ratings, "no variation: every rating is the same")
    row_of = {a: n for n, a in enumerate(annotators)}
    matrix = np.full((len(annotators), len(pairable)), np.nan)  # annotators × items, missing ratings NaN
    for column, row in enumerate(pairable.values()):
        for annotator, rating in row.items():
            matrix[row_of[annotator], column] = rating
    alpha = _finite(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))
    return Figure(alpha, len(pairable), n_ratings)


def percent_agreement(ratings: Ratings) -> Figure:
    """Share of agreeing pairs among all pairs of ratings on the same item (observed agreement)."""
    agree = total = items = 0
    for row in ratings.values():
        values = list(row.values())
        if len(values) < 2:
            continue
        items += 1
        for x, y in itertools.combinations(values, 2):
            total += 1
            agree += x == y
    if not total:
        return Figure(None, 0, 0, "no item has two ratings")
    return Figure(agree / total, items, sum(len(r) for r in ratings.values() if len(r) >= 2))


def dimension_agreement(dimension: str, ratings: Ratings, *, pairwise: bool = True) -> DimensionAgreement:
    annotators = _annotators(ratings)
    return DimensionAgreement(
        dimension=dimension,
        items=len(ratings),
        annotators=len(annotators),
        ratings=sum(len(row) for row in ratings.values()),
        fleiss_kappa=fleiss_kappa(ratings),
        alpha_nominal=krippendorff_alpha(ratings, "nominal"),
        alpha_ordinal=krippendorff_alpha(ratings, "ordinal"),
        percent_agreement=percent_agreement(ratings),
        cohen_pairwise=cohen_pairwise(ratings) if pairwise else [],
    )


def against_reference(ratings: Ratings, reference: Mapping[Hashable, int]) -> dict[str, PairFigure]:
    """Each annotator against a reference label per item (the consensus, or gold): Cohen's kappa and counts."""
    result = {}
    for annotator in _annotators(ratings):
        paired = {
            item: {annotator: row[annotator], "__reference__": reference[item]}
            for item, row in ratings.items()
            if annotator in row and item in reference
        }
        result[str(annotator)] = cohen_kappa(paired, annotator, "__reference__")
    return result
