"""The critic's training examples, built from accepted labels: a reviewer's feedback as it is, or feedback built
from the label's rationale, provisions and reference answer; rows that cannot teach the critic are skipped and
counted (``CriticExamples.counts()``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alignment.training.critic_feedback import FEEDBACK_KEYS, critic_messages, feedback_json, schema_problems
from alignment.training.errors import DataError
from alignment.training.guardian_data import parse_rows

log = logging.getLogger(__name__)

_WARNING_PREFIXES = ("风险警示", "警示")  # a rationale line "警示：…" is the risk warning, not the problem
_WARNING_LINE = re.compile(rf"^\s*(?:{'|'.join(_WARNING_PREFIXES)})\s*[：:]\s*(.*?)\s*$")


def _optional_text(row: Mapping[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{where}: {key} must be text, got {type(value).__name__}")
    return value.strip()


def _provisions(row: Mapping[str, Any], where: str) -> list[str]:
    value = row.get("provisions")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise DataError(f"{where}: provisions must be a list of texts")
    return [p.strip() for p in value if p.strip()]


def split_rationale(rationale: str) -> tuple[str, str]:
    """(problem, risk_warning) from a reviewer's rationale: lines starting "警示：" or "风险警示：" are the
    warning (joined by newlines when there are several), the rest is the problem."""
    problem: list[str] = []
    warnings: list[str] = []
    for line in rationale.strip().splitlines():
        match = _WARNING_LINE.match(line)
        if match:
            warnings.append(match.group(1))
        else:
            problem.append(line)
    return "\n".join(problem).strip(), "\n".join(w for w in warnings if w)


# Why a labeled row gives no training example (the keys of CriticExamples.counts()["skipped"]).
SKIP_NO_RATIONALE = "no rationale and no valid feedback"
SKIP_NO_PROVISION = "no provisions and no norm"
SKIP_NO_ANSWER = "no reference answer"
SKIP_TOO_LONG = "longer than max_length tokens"


@dataclass
class CriticExamples:
    """Chat examples for SFT, in row order, and what happened to every row."""

    examples: list[dict[str, list[dict[str, str]]]]
    ids: list[str]
    sources: list[str]  # per example: "feedback" (the reviewer's, as is), "rationale" (built) or "merged" (both)
    skipped: list[tuple[str, str]]  # (row id, reason)
    invalid_feedback: list[tuple[str, str]] = field(default_factory=list)  # (row id, schema problem)

    def counts(self) -> dict[str, Any]:
        return {
            "rows": len(self.ids) + len(self.skipped),
            "used": len(self.ids),
            "from_feedback": self.sources.count("feedback"),
            "from_rationale": self.sources.count("rationale"),
            "merged": self.sources.count("merged"),
            "invalid_feedback": len(self.invalid_feedback),
            "skipped": dict(sorted(Counter(reason for _, reason in self.skipped).items())),
        }

    def data_hash(self) -> str:
        """sha256 over the canonical JSON of the examples in id order: equal hashes, equal training data."""
        items = sorted(zip(self.ids, self.examples, strict=True), key=lambda item: item[0])
        canonical = json.dumps(items, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def target_feedback(row: Mapping[str, Any], where: str = "row") -> tuple[dict[str, str] | None, str, str]:
    """(feedback, source, problem) for one labeled row: a reviewer's schema-valid ``feedback`` as is; otherwise
    one built from the rationale (provision: the provisions joined by "；", or the norm; problem: the rationale
    without its 警示 lines; risk_warning: those lines; safe_answer: the reference answer), with the non-empty
    parts of a reviewer's partial feedback in place of the built ones (source "merged"). ``feedback`` is None
    when no schema-valid feedback results, and ``problem`` is the skip reason."""
    given = row.get("feedback")
    given_problem = ""
    if given is not None:
        problems = schema_problems(given)
        if not problems:
            return dict(given), "feedback", ""
        given_problem = "; ".join(problems)
    rationale = _optional_text(row, "rationale", where)
    # a reviewer's partial feedback (say, no provision named): the parts they wrote win over the built ones
    written = {
        key: given[key].strip()
        for key in FEEDBACK_KEYS
        if isinstance(given, Mapping) and isinstance(given.get(key), str) and given[key].strip()
    }
    if not rationale and not written:
        return None, "", SKIP_NO_RATIONALE
    problem, warning = split_rationale(rationale)
    built = {
        "provision": "；".join(_provisions(row, where)) or str(row.get("norm", "")).strip(),
        "problem": problem,
        "risk_warning": warning,
        "safe_answer": _optional_text(row, "reference_answer", where),
    }
    built.update(written)
    if not built["provision"]:
        return None, "", SKIP_NO_PROVISION
    if not built["safe_answer"]:
        return None, "", SKIP_NO_ANSWER
    problems = schema_problems(built)
    if problems:  # the checks above cover the schema today; this keeps a schema change from slipping through
        return None, "", "built feedback fails the schema: " + "; ".join(problems)
    return built, "merged" if written else "rationale", given_problem


def critic_rows(rows: Sequence[Mapping[str, Any]], *, source: str = "rows") -> CriticExamples:
    """Chat examples ``{"messages": [system, user, assistant]}`` from accepted-label rows (guardian_data's row
    plus rationale, provisions, reference_answer and an optional reviewer's ``feedback``). Malformed rows raise
    DataError (the export is broken); rows that cannot teach the critic are skipped and counted."""
    labeled = parse_rows(rows, source)  # scene/norm/scenario/response/scores, ids, duplicates
    out = CriticExamples(examples=[], ids=[], sources=[], skipped=[])
    for n, (row, checked) in enumerate(zip(rows, labeled, strict=True)):
        where = f"{source}[{n}]"
        feedback, origin, problem = target_feedback(row, where)
        if feedback is None:
            out.skipped.append((checked.id, problem))
            continue
        if problem:  # a reviewer's feedback that fails the schema; the rationale stood in for it
            out.invalid_feedback.append((checked.id, problem))
            log.warning("%s: feedback fails the schema (%s); built from the rationale instead", where, problem)
        messages = critic_messages(checked.as_dict(), where=where)
        out.examples.append({"messages": [*messages, {"role": "assistant", "content": feedback_json(feedback)}]})
        out.ids.append(checked.id)
        out.sources.append(origin)
    return out


def drop_too_long(data: CriticExamples, tokenizer: Any, max_length: int) -> None:
    """Skip examples over max_length tokens: cut, they would teach the critic to stop mid-JSON."""
    keep = []
    for i, example in enumerate(data.examples):
        ids = tokenizer.apply_chat_template(example["messages"], tokenize=True, return_dict=True)["input_ids"]
        if len(ids) > max_length:
            data.skipped.append((data.ids[i], SKIP_TOO_LONG))
        else:
            keep.append(i)
    data.examples = [data.examples[i] for i in keep]
    data.ids = [data.ids[i] for i in keep]
    data.sources = [data.sources[i] for i in keep]
