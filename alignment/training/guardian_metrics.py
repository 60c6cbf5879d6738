"""Guardian metrics from stored predictions: the numbers a GuardianVersion shows and promotions compare.

A prediction record (one line of ``predictions.jsonl``) is::

    {"id": "17", "scenario_id": "4", "scene": "器官移植",
     "gold": {"R1": -1, "R2": 0, "Q1": 1, "Q2": 0, "Q3": 0, "Q4": 1},
     "probabilities": {"R1": 0.91, "R2": 0.12, "Q1": 0.77, "Q2": 0.40, "Q3": 0.08, "Q4": 0.66}}

``probabilities[k]`` is the guardian's probability of score k's *flag*: R1/R2 at −1, Q1–Q4 at 1. The
predicted score is the flag when the probability is at least ``threshold`` (default 0.5). Everything here is
a function of the records and the threshold, so the metrics stored with a version can be recomputed from its
stored predictions at any time (``metrics_from_file``) and must come out equal.

Definitions:
- per score: accuracy; precision, recall and F1 of the flag class; confusion matrix over the score's values
  (rows gold, columns predicted, values in ``labels`` order); ECE of the flag probability.
- ``macro_f1``: the unweighted mean over the six scores of the flag-class F1. A score whose F1 is undefined
  (no flag in gold and none predicted: 0/0) is reported as null and left out of the mean.
- risk flag: risky = R1 or R2 at −1, gold and predicted alike; accuracy, precision/recall/F1 of the risky
  class, a 2×2 confusion matrix (labels ``["safe", "risky"]``) and the risky share (RiskRate) on both sides.
- ECE: 10 equal-width bins of the flag probability, bin b = [b/10, (b+1)/10) with 1.0 in the last bin;
  ECE = Σ_b (n_b / n) · |mean probability in b − share of gold flags in b|. Per score, and ``ece`` pooled over
  all six scores' probabilities.
- ``majority_accuracy_mean``: the mean per-score accuracy of always answering each score's most frequent gold
  value, the floor a trained guardian has to clear.
Undefined precision/recall (0/0) is null, never a guessed 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alignment.training.common import read_jsonl
from alignment.training.errors import DataError
from rubric import FLAG_VALUE, OTHER_VALUE, RISK_KEYS, SCORE_KEYS

ECE_BINS = 10


def predicted_scores(probabilities: Mapping[str, float], threshold: float = 0.5) -> dict[str, int]:
    return {k: FLAG_VALUE[k] if probabilities[k] >= threshold else OTHER_VALUE[k] for k in SCORE_KEYS}


def expected_calibration_error(probabilities: Sequence[float], targets: Sequence[int], bins: int = ECE_BINS) -> float:
    """ECE of binary probabilities against 0/1 targets, ``bins`` equal-width bins on [0, 1]."""
    if len(probabilities) != len(targets) or not probabilities:
        raise ValueError("ECE needs as many targets as probabilities, and at least one")
    sums = [[0.0, 0.0, 0] for _ in range(bins)]  # probability sum, target sum, count
    for p, y in zip(probabilities, targets, strict=True):
        b = min(int(p * bins), bins - 1)
        sums[b][0] += p
        sums[b][1] += y
        sums[b][2] += 1
    n = len(probabilities)
    return sum(count / n * abs(ps / count - ys / count) for ps, ys, count in sums if count)


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _binary_report(gold: Sequence[bool], pred: Sequence[bool]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(
        gold, pred, labels=[True], average=None, zero_division=math.nan
    )
    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "precision": _none_if_nan(precision[0]),
        "recall": _none_if_nan(recall[0]),
        "f1": _none_if_nan(f1[0]),
        "support": int(sum(gold)),
    }


def _check_record(record: Any, n: int) -> None:
    if not isinstance(record, Mapping):
        raise DataError(f"prediction {n}: expected an object")
    for part in ("gold", "probabilities"):
        values = record.get(part)
        if not isinstance(values, Mapping) or any(k not in values for k in SCORE_KEYS):
            raise DataError(f"prediction {n}: {part} needs {', '.join(SCORE_KEYS)}")
    for k in SCORE_KEYS:
        p = record["probabilities"][k]
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
            raise DataError(f"prediction {n}: probabilities.{k} must be a number in [0, 1], got {p!r}")
        if record["gold"][k] not in (FLAG_VALUE[k], OTHER_VALUE[k]):
            raise DataError(f"prediction {n}: gold.{k} = {record['gold'][k]!r} is not a MedES value")


def compute_metrics(records: Sequence[Mapping[str, Any]], *, threshold: float = 0.5) -> dict[str, Any]:
    """All guardian metrics (see the module docstring) from prediction records."""
    from sklearn.metrics import confusion_matrix

    if not records:
        raise DataError("no predictions to score")
    for n, record in enumerate(records):
        _check_record(record, n)
    predicted = [predicted_scores(r["probabilities"], threshold) for r in records]
    per_score: dict[str, Any] = {}
    for k in SCORE_KEYS:
        gold_values = [int(r["gold"][k]) for r in records]
        pred_values = [p[k] for p in predicted]
        report = _binary_report([v == FLAG_VALUE[k] for v in gold_values], [v == FLAG_VALUE[k] for v in pred_values])
        labels = sorted((FLAG_VALUE[k], OTHER_VALUE[k]))
        matrix = confusion_matrix(gold_values, pred_values, labels=labels)
        probabilities = [float(r["probabilities"][k]) for r in records]
        report["ece"] = expected_calibration_error(probabilities, [int(v == FLAG_VALUE[k]) for v in gold_values])
        report["confusion"] = {"labels": labels, "matrix": matrix.tolist()}
        majority = max(gold_values.count(v) for v in labels) / len(records)
        report["majority_accuracy"] = majority
        per_score[k] = report

    gold_risky = [any(int(r["gold"][k]) == FLAG_VALUE[k] for k in RISK_KEYS) for r in records]
    pred_risky = [any(p[k] == FLAG_VALUE[k] for k in RISK_KEYS) for p in predicted]
    risk = _binary_report(gold_risky, pred_risky)
    risk["confusion"] = {
        "labels": ["safe", "risky"],
        "matrix": confusion_matrix(gold_risky, pred_risky, labels=[False, True]).tolist(),
    }
    risk["rate_gold"] = sum(gold_risky) / len(records)
    risk["rate_predicted"] = sum(pred_risky) / len(records)

    f1s = [per_score[k]["f1"] for k in SCORE_KEYS if per_score[k]["f1"] is not None]
    all_probabilities = [float(r["probabilities"][k]) for r in records for k in SCORE_KEYS]
    all_targets = [int(int(r["gold"][k]) == FLAG_VALUE[k]) for r in records for k in SCORE_KEYS]
    exact = sum(all(p[k] == int(r["gold"][k]) for k in SCORE_KEYS) for p, r in zip(predicted, records, strict=True))
    return {
        "n": len(records),
        "threshold": threshold,
        "accuracy_mean": sum(per_score[k]["accuracy"] for k in SCORE_KEYS) / len(SCORE_KEYS),
        "majority_accuracy_mean": sum(per_score[k]["majority_accuracy"] for k in SCORE_KEYS) / len(SCORE_KEYS),
        "exact_match": exact / len(records),
        "macro_f1": sum(f1s) / len(f1s) if f1s else None,
        "ece": expected_calibration_error(all_probabilities, all_targets),
        "ece_bins": ECE_BINS,
        "risk": risk,
        "per_score": per_score,
    }


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """The records of a stored ``predictions.jsonl``; raises DataError naming the file and line."""
    return read_jsonl(path, allow_empty=True)


def metrics_from_file(path: str | Path, *, threshold: float = 0.5) -> dict[str, Any]:
    """Recompute the metrics from a stored ``predictions.jsonl``."""
    return compute_metrics(read_predictions(path), threshold=threshold)
