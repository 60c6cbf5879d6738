"""Agreement statistics against hand computations and published examples, with counts and undefined cases."""

from __future__ import annotations

import pytest

from annotation.agreement import (
    against_reference,
    cohen_kappa,
    dimension_agreement,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)
from tests.factories import KRIPPENDORFF_2011, hand_alpha, ratings_table


def test_cohen_kappa_equals_the_hand_computation() -> None:
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15.
    # p_o = 35/50 = 0.7; p_e = 0.5·0.6 + 0.5·0.4 = 0.5; kappa = (0.7 − 0.5) / (1 − 0.5) = 0.4
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    ratings = {n: {"a": x, "b": y} for n, (x, y) in enumerate(pairs)}
    figure = cohen_kappa(ratings, "a", "b")
    assert figure.value == pytest.approx(0.4)
    assert (figure.items, figure.ratings, figure.annotators) == (50, 100, ("a", "b"))


def test_fleiss_kappa_equals_the_published_example() -> None:
    # Fleiss (1971) as tabulated on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa = 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    ratings = {}
    for item, counts in enumerate(table):
        values = [category for category, n in enumerate(counts) for _ in range(n)]
        ratings[item] = {f"r{r}": v for r, v in enumerate(values)}
    figure = fleiss_kappa(ratings)
    assert figure.value == pytest.approx(0.20993, abs=1e-4)
    assert (figure.items, figure.ratings, figure.note) == (10, 140, "")


def test_krippendorff_alpha_equals_the_paper_and_a_hand_computation() -> None:
    ratings = ratings_table(KRIPPENDORFF_2011)
    nominal = krippendorff_alpha(ratings, "nominal")
    assert nominal.value == pytest.approx(0.743, abs=5e-4)  # the paper's figure
    assert nominal.value == pytest.approx(hand_alpha(ratings, "nominal"))
    # unit 12 has one value only: not pairable, so 11 units and 40 values enter
    assert (nominal.items, nominal.ratings) == (11, 40)
    ordinal = krippendorff_alpha(ratings, "ordinal")
    assert ordinal.value == pytest.approx(hand_alpha(ratings, "ordinal"))
    assert ordinal.value != pytest.approx(nominal.value)


def test_undefined_figures_say_why_instead_of_nan() -> None:
    same = {n: {"a": 0, "b": 0, "c": 0} for n in range(5)}
    assert cohen_kappa(same, "a", "b").value is None and "no variation" in cohen_kappa(same, "a", "b").note
    assert fleiss_kappa(same).value is None and "no variation" in fleiss_kappa(same).note
    assert krippendorff_alpha(same).value is None
    assert percent_agreement(same).value == 1.0
    lonely = {1: {"a": 0}, 2: {"b": -1}}
    assert cohen_kappa(lonely, "a", "b").note == "fewer than two items rated by both"
    assert fleiss_kappa(lonely).note == "no item has two ratings"
    assert krippendorff_alpha(lonely).value is None


def test_fleiss_uses_the_common_rating_count_and_reports_what_it_left_out() -> None:
    ratings = {n: {"a": n % 2, "b": n % 2, "c": (n // 2) % 2} for n in range(8)}
    ratings[8] = {"a": 1, "b": 0}
    figure = fleiss_kappa(ratings)
    assert figure.items == 8 and figure.note == "1 items with another number of ratings left out"


def test_dimension_summary_and_annotators_against_consensus() -> None:
    ratings = {n: {"a": n % 2, "b": n % 2, "c": 1 - n % 2 if n < 2 else n % 2} for n in range(10)}
    summary = dimension_agreement("R1", ratings)
    assert (summary.items, summary.annotators, summary.ratings) == (10, 3, 30)
    assert [p.annotators for p in summary.cohen_pairwise] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert summary.cohen_pairwise[0].value == pytest.approx(1.0)
    consensus = {n: n % 2 for n in range(10)}
    versus = against_reference(ratings, consensus)
    assert versus["a"].value == pytest.approx(1.0) and versus["c"].value < 1 and versus["c"].items == 10
    assert summary.as_dict()["alpha_nominal"]["items"] == 10
