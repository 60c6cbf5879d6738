"""Inter-annotator agreement, always with the counts behind each figure.

The statistics come from maintained libraries: Cohen's kappa from scikit-learn, Fleiss' kappa from statsmodels,
Krippendorff's alpha (nominal and ordinal, missing data allowed) from ``krippendorff``. This module only shapes
the data and says when a figure is undefined (too few items, or no variation) instead of printing NaN.

A *ratings table* for one dimension maps item → annotator → value (an int), with missing ratings simply absent.
Every statistic works on its array form, a ``Table`` (annotators × items, NaN where an annotator did not rate
an item): built from such a mapping, or straight from the database rows (``annotation.campaign_agreement``), so
that a campaign of 100,000 items costs array operations, not a Python loop per item (issue 17).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

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


class Table:
    """A ratings table as arrays: ``values[annotator, item]`` (float, NaN where missing), the annotators in the
    order of ``_annotators`` (by their text) and ``items`` the ids of the columns. A column may be empty (an item
    in the mapping with no rating): it counts as an item of the dimension, as in the mapping."""

    def __init__(self, annotators: Sequence[Hashable], items: Sequence[Hashable] | np.ndarray, values: np.ndarray):
        self.annotators, self.items, self.values = list(annotators), items, values

    @classmethod
    def of(cls, ratings: Ratings | Table) -> Table:
        if isinstance(ratings, Table):
            return ratings
        annotators = _annotators(ratings)
        row_of = {a: n for n, a in enumerate(annotators)}
        values = np.full((len(annotators), len(ratings)), np.nan)
        for column, row in enumerate(ratings.values()):
            for annotator, value in row.items():
                values[row_of[annotator], column] = value
        return cls(annotators, list(ratings), values)

    @cached_property
    def present(self) -> np.ndarray:
        present: np.ndarray = ~np.isnan(self.values)
        return present

    @cached_property
    def per_item(self) -> np.ndarray:
        """The number of ratings of each item."""
        per_item: np.ndarray = self.present.sum(axis=0)
        return per_item

    @cached_property
    def categories(self) -> np.ndarray:
        return np.unique(self.values[self.present])

    @cached_property
    def counts(self) -> np.ndarray:
        """items × categories: how many ratings of each item are each category."""
        if not len(self.categories):
            return np.zeros((len(self.per_item), 0), dtype=np.int64)
        return np.stack([(self.values == c).sum(axis=0) for c in self.categories], axis=1)

    @property
    def ratings(self) -> int:
        return int(self.per_item.sum())


def cohen_kappa(ratings: Ratings | Table, a: Hashable, b: Hashable) -> PairFigure:
    """Cohen's kappa of two annotators over the items both rated."""
    table = Table.of(ratings)
    if a not in table.annotators or b not in table.annotators:
        return _cohen(np.empty(0), np.empty(0), (str(a), str(b)))
    first, second = table.annotators.index(a), table.annotators.index(b)
    both = table.present[first] & table.present[second]
    return _cohen(table.values[first, both], table.values[second, both], (str(a), str(b)))


def _cohen(first: np.ndarray, second: np.ndarray, pair: tuple[str, str]) -> PairFigure:
    from sklearn.metrics import cohen_kappa_score

    n = len(first)
    if n < 2:
        return PairFigure(None, n, 2 * n, "fewer than two items rated by both", annotators=pair)
    if len(np.union1d(first, second)) < 2:
        return PairFigure(None, n, 2 * n, "no variation: every rating is the same", annotators=pair)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = _finite(cohen_kappa_score(first.astype(np.int64), second.astype(np.int64)))
    note = "" if value is not None else "undefined: chance agreement is 1"
    return PairFigure(value, n, 2 * n, note, annotators=pair)


def cohen_pairwise(ratings: Ratings | Table) -> list[PairFigure]:
    """Cohen's kappa of every pair of annotators, in the order of ``_annotators``."""
    table = Table.of(ratings)
    figures = []
    for a, b in itertools.combinations(range(len(table.annotators)), 2):
        both = table.present[a] & table.present[b]
        pair = (str(table.annotators[a]), str(table.annotators[b]))
        figures.append(_cohen(table.values[a, both], table.values[b, both], pair))
    return figures


def fleiss_kappa(ratings: Ratings | Table) -> Figure:
    """Fleiss' kappa over the items that have the most common number of ratings (it needs a fixed count)."""
    from statsmodels.stats.inter_rater import fleiss_kappa as fleiss

    table = Table.of(ratings)
    sizes, how_many = np.unique(table.per_item[table.per_item >= 2], return_counts=True)
    if not len(sizes):
        return Figure(None, 0, 0, "no item has two ratings")
    k, n_rows = max(zip(sizes.tolist(), how_many.tolist(), strict=True), key=lambda s: (s[1], s[0]))
    rows = table.per_item == k
    if n_rows < 2:
        return Figure(None, n_rows, k * n_rows, "fewer than two items")
    counts = table.counts[rows]
    used = counts.sum(axis=0) > 0  # the categories these items were rated with
    if used.sum() < 2:
        return Figure(None, n_rows, k * n_rows, "no variation: every rating is the same")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = _finite(fleiss(counts[:, used], method="fleiss"))
    skipped = int(how_many.sum()) - n_rows
    note = f"{skipped} items with another number of ratings left out" if skipped else ""
    return Figure(value, n_rows, k * n_rows, note)


def krippendorff_alpha(ratings: Ratings | Table, level: Level = "nominal") -> Figure:
    """Krippendorff's alpha; items with fewer than two ratings carry no pairable values and are not counted."""
    import krippendorff

    table = Table.of(ratings)
    pairable = table.per_item >= 2
    n_items, n_ratings = int(pairable.sum()), int(table.per_item[pairable].sum())
    if n_items < 1 or not table.annotators:
        return Figure(None, 0, 0, "no item has two ratings")
    matrix = table.values[:, pairable]  # annotators × items, missing ratings NaN
    if len(np.unique(matrix[~np.isnan(matrix)])) < 2:
        return Figure(None, n_items, n_ratings, "no variation: every rating is the same")
    alpha = _finite(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))
    return Figure(alpha, n_items, n_ratings)


def percent_agreement(ratings: Ratings | Table) -> Figure:
    """Share of agreeing pairs among all pairs of ratings on the same item (observed agreement)."""
    table = Table.of(ratings)
    pairable = table.per_item >= 2
    if not pairable.any():
        return Figure(None, 0, 0, "no item has two ratings")
    n, counts = table.per_item[pairable].astype(np.int64), table.counts[pairable].astype(np.int64)
    total = int((n * (n - 1) // 2).sum())
    agree = int((counts * (counts - 1) // 2).sum())
    return Figure(agree / total, int(pairable.sum()), int(n.sum()))


def dimension_agreement(dimension: str, ratings: Ratings | Table, *, pairwise: bool = True) -> DimensionAgreement:
    table = Table.of(ratings)
    return DimensionAgreement(
        dimension=dimension,
        items=table.values.shape[1],
        annotators=len(table.annotators),
        ratings=table.ratings,
        fleiss_kappa=fleiss_kappa(table),
        alpha_nominal=krippendorff_alpha(table, "nominal"),
        alpha_ordinal=krippendorff_alpha(table, "ordinal"),
        percent_agreement=percent_agreement(table),
        cohen_pairwise=cohen_pairwise(table) if pairwise else [],
    )


def against_reference(ratings: Ratings | Table, reference: Mapping[Any, int] | np.ndarray) -> dict[str, PairFigure]:
    """Each annotator against a reference label per item (the consensus, or gold): Cohen's kappa and counts.
    ``reference`` maps item → value, or is an array along the table's items (NaN where there is none)."""
    table = Table.of(ratings)
    if isinstance(reference, np.ndarray):
        wanted = reference
    else:
        wanted = np.array([reference.get(item, np.nan) for item in table.items], dtype=float)
    known = ~np.isnan(wanted)
    result = {}
    for row, annotator in enumerate(table.annotators):
        both = table.present[row] & known
        result[str(annotator)] = _cohen(table.values[row, both], wanted[both], (str(annotator), "__reference__"))
    return result
