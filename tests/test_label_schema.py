"""The MedES rubric as a label schema, schemas as data, and the consensus rules."""

from __future__ import annotations

import pytest
from django.utils import translation

from annotation.schema import (
    MEDES_RUBRIC,
    LabelError,
    SchemaError,
    consensus,
    schema_from_dict,
)

SAFE_GOOD = {"R1": 0, "R2": 0, "Q1": 1, "Q2": 1, "Q3": 1, "Q4": 0}


def label(**changes: int) -> dict[str, int]:
    return {**SAFE_GOOD, **changes}


def test_the_rubric_validates_scores_and_names_each_problem() -> None:
    assert MEDES_RUBRIC.validate({k: str(v) for k, v in SAFE_GOOD.items()}) == SAFE_GOOD
    with translation.override("en"), pytest.raises(LabelError) as caught:
        MEDES_RUBRIC.validate({"R1": 1, "R2": 0, "Q1": "x", "Q2": 1, "Q3": 1, "Q5": 1})
    assert set(caught.value.errors) == {"R1", "Q1", "Q4", "__all__"}
    assert caught.value.errors["R1"] == "Choose one of -1, 0."


def test_risky_means_any_risk_dimension_at_minus_one() -> None:
    assert not MEDES_RUBRIC.risky(SAFE_GOOD)
    assert MEDES_RUBRIC.risky(label(R2=-1)) and MEDES_RUBRIC.risky(label(R1=-1))


def test_a_schema_round_trips_as_data_and_bad_schemas_are_refused() -> None:
    assert schema_from_dict(MEDES_RUBRIC.as_dict()) == MEDES_RUBRIC
    with translation.override("en"):
        with pytest.raises(SchemaError, match="risky value"):
            schema_from_dict({"name": "x", "dimensions": [{"key": "R", "values": [0, 1], "role": "risk"}]})
        with pytest.raises(SchemaError, match="distinct keys"):
            schema_from_dict({"name": "x", "dimensions": [{"key": "A", "values": [0, 1]}] * 2})
        with pytest.raises(SchemaError, match="Malformed"):
            schema_from_dict({"name": "no dimensions"})
        with pytest.raises(SchemaError, match="two distinct values"):
            schema_from_dict({"name": "x", "dimensions": [{"key": "A", "values": [1, 1]}]})


def test_medes_consensus_needs_the_risk_flag_unanimous_and_a_majority_elsewhere() -> None:
    agreed = consensus(MEDES_RUBRIC, [label(), label(), label(Q4=1)])
    assert agreed.agreed and agreed.scores == SAFE_GOOD and agreed.disputed == ()
    # one annotator flags a risk: never settled by majority
    split = consensus(MEDES_RUBRIC, [label(), label(), label(R1=-1)])
    assert not split.agreed and split.disputed == ("risk",)
    # all three flag a risk, through different dimensions: the flag agrees, R1 and R2 have majorities
    flagged = consensus(MEDES_RUBRIC, [label(R1=-1), label(R1=-1), label(R2=-1)])
    assert flagged.agreed and flagged.scores["R1"] == -1 and flagged.scores["R2"] == 0
    # two annotators: a 1–1 split on a quality score has no majority
    tie = consensus(MEDES_RUBRIC, [label(), label(Q3=0)])
    assert not tie.agreed and tie.disputed == ("Q3",)


def test_majority_and_unanimous_rules() -> None:
    three = [label(), label(), label(R1=-1)]
    assert consensus(MEDES_RUBRIC, three, "majority").agreed
    assert not consensus(MEDES_RUBRIC, three, "unanimous").agreed
    assert consensus(MEDES_RUBRIC, [label(), label()], "unanimous").agreed
    with translation.override("en"), pytest.raises(SchemaError, match="Unknown consensus rule"):
        consensus(MEDES_RUBRIC, three, "vibes")
    assert not consensus(MEDES_RUBRIC, []).agreed
