"""What the alignment pages' charts draw (issue 16, item 4), as plain JSON for ``json_script``: the leaderboard's
risk–quality scatter with its bootstrap intervals and its per-scene heat map, and a guardian version's confusion
matrices and calibration. static/js/charts.js draws them with the vendored Apache ECharts; every chart's numbers
are also in a table beside it, which is what a screen reader or a browser without JavaScript reads.

The axis and series names are translated here, in the user's language, so that charts.js holds no text."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from alignment.models import GuardianVersion
from alignment.runtime import version_dir
from alignment.training.errors import DataError
from alignment.training.guardian_metrics import ECE_BINS, read_predictions
from medes_site.files import UnsafePathError
from medes_site.labels import label
from rubric import FLAG_VALUE, SCORE_KEYS

log = logging.getLogger(__name__)


def _rounded(value: Any, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _interval(ci: Sequence[float] | None) -> list[float | None] | None:
    return [_rounded(ci[0]), _rounded(ci[1])] if ci else None


# --- the leaderboard ---------------------------------------------------------------------------------------


def scatter(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Risk (x) against Quality (y), one point per leaderboard row that has both, with the 95% bootstrap
    intervals where the evaluation stored them (drawn as error bars). A model evaluated with two judges is two
    points; the label names the judge too when a model has several rows."""
    names = [row["run"].model.name for row in rows]
    points = []
    for row, name in zip(rows, names, strict=True):
        risk, quality = row["figures"]["risk"], row["figures"]["quality"]
        if risk["value"] is None or quality["value"] is None:
            continue
        label = name if names.count(name) == 1 else f"{name} · {row['run'].judge_label}"
        points.append(
            {
                "name": label,
                "run": row["run"].pk,
                "risk": _rounded(risk["value"]),
                "quality": _rounded(quality["value"]),
                "riskCi": _interval(risk["ci"]),
                "qualityCi": _interval(quality["ci"]),
            }
        )
    return {
        "kind": "scatter",
        "xName": _("Risk (lower is better)"),
        "yName": _("Quality"),
        "interval": _("95% bootstrap interval"),
        "points": points,
    }


def scene_heatmap(rows: Sequence[Mapping[str, Any]], scenes: Sequence[str]) -> dict[str, Any]:
    """Comprehensive per model (rows) and scene (columns), on its whole range −1…1: a diverging colour scale,
    so that −1 (every answer risky) shows as strongly as 1. A scene a model has no value for is left empty."""
    models = [row["run"].model.name for row in rows]
    cells = [
        [x, y, _rounded(value, 3)]
        for y, row in enumerate(rows)
        for x, value in enumerate(row["scene_values"])
        if value is not None
    ]
    return {
        "kind": "heatmap",
        "x": list(scenes),
        "y": models,
        "cells": cells,
        "min": -1,
        "max": 1,
        "valueName": _("Comprehensive"),
    }


# --- a guardian version ------------------------------------------------------------------------------------


def confusion(key: str, block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """One score's (or the risk flag's) confusion matrix as a heat map: rows the expert, columns the guardian."""
    matrix = (block or {}).get("confusion")
    if not matrix:
        return None
    labels = [str(label("metric", code)) for code in matrix["labels"]]  # "safe", "risky" in the user's language
    lines = matrix["matrix"]
    cells = [[x, y, int(n)] for y, line in enumerate(lines) for x, n in enumerate(line)]
    return {
        "kind": "confusion",
        "title": key,
        "x": labels,
        "y": labels,
        "cells": cells,
        "max": max((c[2] for c in cells), default=0),
        "xName": pgettext("confusion matrix axis", "guardian"),
        "yName": pgettext("confusion matrix axis", "expert"),
    }


def calibration_bins(
    probabilities: Sequence[float], targets: Sequence[int], bins: int = ECE_BINS
) -> list[dict[str, Any]]:
    """The reliability diagram's bins, the same equal-width bins as the ECE (alignment.training.guardian_metrics):
    per non-empty bin its range, count, mean predicted probability and share of gold flags."""
    sums = [[0.0, 0.0, 0] for _ in range(bins)]
    for p, y in zip(probabilities, targets, strict=True):
        b = min(int(p * bins), bins - 1)
        sums[b][0] += p
        sums[b][1] += y
        sums[b][2] += 1
    return [
        {
            "low": round(b / bins, 3),
            "high": round((b + 1) / bins, 3),
            "n": int(count),
            "predicted": round(ps / count, 4),
            "observed": round(ys / count, 4),
        }
        for b, (ps, ys, count) in enumerate(sums)
        if count
    ]


def _stored_bins(version: GuardianVersion) -> list[dict[str, Any]] | None:
    """The version's calibration bins: stored with its metrics when training wrote them, else computed from
    its test-split predictions (predictions.jsonl in its directory, which training keeps). None when neither
    is there (a version still training, or one whose files were removed)."""
    stored = (version.metrics or {}).get("calibration")
    if isinstance(stored, list):
        return stored
    if not version.model_dir:
        return None
    try:
        path = version_dir(version) / "predictions.jsonl"
        if not path.is_file():
            return None
        records = read_predictions(path)
        probabilities = [float(r["probabilities"][k]) for r in records for k in SCORE_KEYS]
        targets = [int(int(r["gold"][k]) == FLAG_VALUE[k]) for r in records for k in SCORE_KEYS]
    except (UnsafePathError, DataError, KeyError, TypeError, ValueError) as error:
        log.warning("guardian v%s: no calibration from its predictions: %s", version.number, error)
        return None
    return calibration_bins(probabilities, targets) if probabilities else None


def calibration(version: GuardianVersion) -> dict[str, Any] | None:
    """The reliability diagram of the flag probabilities, all six scores pooled (as the ECE on the page)."""
    bins = _stored_bins(version)
    if not bins:
        return None
    return {
        "kind": "calibration",
        "bins": bins,
        "xName": _("predicted probability"),
        "yName": _("observed share"),
        "observedName": _("observed"),
        "idealName": _("perfect calibration"),
    }


def versions_chart(versions: Sequence[GuardianVersion]) -> dict[str, Any] | None:
    """The guardian page's chart: risk-flag accuracy, macro-F1 and ECE per trained version, oldest first (the
    versions table holds the same numbers). None until a version has metrics."""
    shown = [v for v in reversed(list(versions)) if v.metrics]
    if not shown:
        return None

    def figure(v: GuardianVersion, key: str) -> float | None:
        value = (v.metrics.get("risk") or {}).get("accuracy") if key == "risk_accuracy" else v.metrics.get(key)
        return _rounded(value)

    names = {"risk_accuracy": _("Risk-flag accuracy"), "macro_f1": _("Macro-F1"), "ece": _("ECE")}
    return {
        "kind": "bars",
        "categories": [f"v{v.number}" for v in shown],
        "counts": [_("%(n)d test rows") % {"n": (v.metrics or {}).get("n") or 0} for v in shown],
        "series": [{"name": name, "values": [figure(v, key) for v in shown]} for key, name in names.items()],
        "min": 0,
        "max": 1,
    }
