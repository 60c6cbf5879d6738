"""The agreement page's chart (issue 16, item 4): κ and α per dimension as grouped bars on −1…1, each bar with
the counts it rests on, as plain JSON for ``json_script``; static/js/charts.js draws it with the vendored Apache
ECharts. The same numbers are in the page's summary table (what a screen reader or a browser without
JavaScript reads), and each dimension's card keeps its full figures with their notes."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

# the chance-corrected figures; percent agreement is not one (it is in the tables)
CHARTED = (
    ("fleiss_kappa", gettext_noop("Fleiss κ")),
    ("alpha_nominal", gettext_noop("α nominal")),
    ("alpha_ordinal", gettext_noop("α ordinal")),
)


def dimension_name(dimension: str) -> str:
    return _("All dimensions together") if dimension == "overall" else dimension


def agreement_chart(view: dict[str, Any]) -> dict[str, Any]:
    """From annotation.campaign_agreement.agreement_view's dimensions: a category per dimension (the overall
    pool last), a series per figure; an undefined figure is a missing bar (null), its reason in the table."""
    dimensions = view["dimensions"]
    series = []
    for key, label in CHARTED:
        values = []
        for dim in dimensions:
            figure = dim.get(key)
            values.append(
                None
                if figure is None
                else {
                    "value": None if figure["value"] is None else round(float(figure["value"]), 4),
                    "items": figure["items"],
                    "ratings": figure["ratings"],
                }
            )
        if any(v is not None for v in values):
            series.append({"name": _(label), "values": values})
    return {
        "kind": "bars",
        "categories": [dimension_name(d["dimension"]) for d in dimensions],
        "counts": [
            _("%(items)d items, %(annotators)d annotators") % {"items": d["items"], "annotators": d["annotators"]}
            for d in dimensions
        ],
        "series": series,
        "min": -1,
        "max": 1,
        "itemsName": _("items"),
        "ratingsName": _("ratings"),
        "undefinedName": _("undefined"),
    }


def summary_rows(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's numbers as table rows: per dimension, each charted figure (or None) with its counts."""
    return [
        {
            "dimension": dim["dimension"],
            "name": dimension_name(dim["dimension"]),
            "items": dim["items"],
            "annotators": dim["annotators"],
            "ratings": dim["ratings"],
            "figures": [(name, _(name), dim.get(key)) for key, name in CHARTED],
        }
        for dim in view["dimensions"]
    ]
