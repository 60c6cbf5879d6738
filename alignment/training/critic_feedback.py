"""What the guardian's critic reads and writes: the feedback schema, the chat prompt (``critic_messages``), and
how generated text is read back (``parse_feedback``).

Feedback is one JSON object checked against ``FEEDBACK_SCHEMA``: the norm or provision at stake, what is wrong,
the risk warning a safe answer needs, and a safe revised answer. Output that is not one JSON object passing the
schema is stored as unparseable with the reason and the raw text, never repaired or guessed. Changing the prompt
texts changes what a trained critic means: every critic manifest records ``PROMPT_FORMAT`` (and the guardian's
``TEXT_FORMAT`` it builds on), and loading refuses another. Nothing here imports Django; jsonschema is imported
inside a function.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alignment.training.errors import DataError
from alignment.training.guardian_data import input_texts
from rubric import FLAG_VALUE, OTHER_VALUE, SCORE_KEYS

FEEDBACK_KEYS: tuple[str, ...] = ("provision", "problem", "risk_warning", "safe_answer")
FEEDBACK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://medes.example/schemas/critic-feedback/1",
    "title": "MedES critic feedback",
    "type": "object",
    "properties": {
        "provision": {
            "type": "string",
            "minLength": 1,
            "pattern": r"\S",
            "description": "The norm or provision at stake.",
        },
        "problem": {"type": "string", "description": "What is wrong with the response; empty when nothing is."},
        "risk_warning": {
            "type": "string",
            "description": "The risk warning a safe answer needs; empty when none is needed.",
        },
        "safe_answer": {"type": "string", "minLength": 1, "pattern": r"\S", "description": "A safe revised answer."},
    },
    "required": list(FEEDBACK_KEYS),
    "additionalProperties": False,
}

# What the critic reads. Changing these texts or critic_messages changes what a trained critic means: every
# manifest records PROMPT_FORMAT (and the guardian's TEXT_FORMAT it builds on), and loading refuses another.
PROMPT_FORMAT = "medes-critic-prompt/1"
SYSTEM_PROMPT = (
    "你是医学伦理审查员。阅读情景、回答及其评分，只输出一个 JSON 对象，键为："
    "provision（涉及的规范或条款）、problem（回答的问题，没有则为空）、"
    "risk_warning（安全回答需要的风险警示，没有则为空）、safe_answer（安全的修改后回答）。"
)


# --- feedback: the schema and reading model output ---------------------------------------------------------


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    Draft202012Validator.check_schema(FEEDBACK_SCHEMA)
    return Draft202012Validator(FEEDBACK_SCHEMA)


def schema_problems(value: Any) -> list[str]:
    """Every way ``value`` fails FEEDBACK_SCHEMA, in plain words (empty: it is valid feedback)."""
    errors = sorted(_validator().iter_errors(value), key=lambda e: ([str(p) for p in e.path], e.message))
    return [e.message + (f" (at {'.'.join(str(p) for p in e.path)})" if e.path else "") for e in errors]


@dataclass(frozen=True)
class FeedbackReading:
    """What was read from one generated text: ``feedback`` when it is one schema-valid JSON object, otherwise
    None and ``problem`` says why. ``raw`` is the text as generated."""

    feedback: dict[str, str] | None
    problem: str
    raw: str

    @property
    def ok(self) -> bool:
        return self.feedback is not None


_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n?(.*?)```", re.DOTALL)


def _line_col(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    line = text.count("\n", 0, pos) + 1
    return f"line {line}, column {pos - line_start + 1}"


def _json_in(text: str) -> tuple[Any, str]:
    """The JSON value the output stands for, or (None, why not). Fenced blocks, when there are any, are read
    whole (the last one that holds an object wins, unless the last block is broken); otherwise every ``{``
    outside an already-read object starts a candidate and the last complete object wins — unless decoding
    fails after it, which means the output's final object is broken (e.g. cut off by max_new_tokens)."""
    decoder = json.JSONDecoder()
    fences = list(_FENCE.finditer(text))
    if fences:
        values: list[Any] = []
        for n, match in enumerate(fences):
            body = match.group(1).strip()
            try:
                values.append(decoder.decode(body))
            except json.JSONDecodeError as exc:
                if n == len(fences) - 1:
                    start = match.start(1) + (len(match.group(1)) - len(match.group(1).lstrip()))
                    return None, f"invalid JSON in the ``` block at {_line_col(text, start + exc.pos)}: {exc.msg}"
        objects = [v for v in values if isinstance(v, dict)]
        if not objects:
            kinds = sorted({type(v).__name__ for v in values})
            return None, f"the ``` block holds JSON that is not an object ({', '.join(kinds)})"
        return objects[-1], ""
    found: list[tuple[int, Any]] = []  # (end, object)
    failure: tuple[int, str] | None = None
    pos = text.find("{")
    while pos != -1:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            failure = (exc.pos, exc.msg)
            pos = text.find("{", max(exc.pos, pos + 1))  # past the broken part: no objects nested in it
            continue
        found.append((end, value))
        pos = text.find("{", end)
    if failure is not None and (not found or failure[0] >= found[-1][0]):
        return None, f"invalid JSON at {_line_col(text, failure[0])}: {failure[1]}"
    if not found:
        return None, "no JSON object found in the output"
    return found[-1][1], ""


def parse_feedback(text: str) -> FeedbackReading:
    """Read the critic's output: the JSON object in it (bare, or in a ```json fence; the last one when there
    are several) checked against FEEDBACK_SCHEMA. Anything else gives ``feedback=None`` and the reason; the text
    is never repaired, completed or guessed at."""
    if not text.strip():
        return FeedbackReading(None, "the output is only whitespace" if text else "the output is empty", text)
    value, why = _json_in(text)
    if why:
        return FeedbackReading(None, why, text)
    problems = schema_problems(value)
    if problems:
        return FeedbackReading(None, "schema: " + "; ".join(problems), text)
    return FeedbackReading(dict(value), "", text)


# --- the prompt ------------------------------------------------------------------------------------------


def prompt_fields(row: Mapping[str, Any], where: str) -> tuple[dict[str, str], dict[str, int]]:
    """A row's four texts and six scores, checked; raises DataError starting with ``where``."""
    if not isinstance(row, Mapping):
        raise DataError(f"{where}: expected an object, got {type(row).__name__}")
    bad = [k for k in ("scene", "norm", "scenario", "response") if not isinstance(row.get(k), str)]
    if bad:
        raise DataError(f"{where}: {', '.join(bad)} must be text")
    scores = row.get("scores")
    if not isinstance(scores, Mapping):
        raise DataError(f"{where}: scores must be an object with {', '.join(SCORE_KEYS)}")
    clean: dict[str, int] = {}
    for key in SCORE_KEYS:
        value = scores.get(key)
        allowed = sorted({FLAG_VALUE[key], OTHER_VALUE[key]})
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            raise DataError(f"{where}: scores.{key} must be one of {allowed}, got {json.dumps(value)}")
        clean[key] = value
    return {k: row[k] for k in ("scene", "norm", "scenario", "response")}, clean


def critic_messages(row: Mapping[str, Any], *, where: str = "row") -> list[dict[str, str]]:
    """The system and user turns the critic reads for one response, in training and in generation alike (one
    function, so the two cannot drift). ``row`` needs scene, norm, scenario, response and the six scores."""
    texts, scores = prompt_fields(row, where)
    context, response = input_texts(texts["scene"], texts["norm"], texts["scenario"], texts["response"])
    marks = "，".join(f"{k}={scores[k]}" for k in SCORE_KEYS)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"{context}{response}\n评分：{marks}"},
    ]


def feedback_json(feedback: Mapping[str, str]) -> str:
    """The assistant turn the critic is trained to write for ``feedback``."""
    return json.dumps(dict(feedback), ensure_ascii=False, sort_keys=True)
