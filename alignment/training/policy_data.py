"""The training rows of a policy run: SFT chat rows and DPO preference rows, read from JSONL and checked.

SFT rows are ``{"messages": [...]}`` with at least one assistant turn; DPO rows are TRL's conversational
preference rows ``{"prompt": [messages], "chosen": [assistant message], "rejected": [assistant message]}``. A
message is ``{"role": "system"|"user"|"assistant"|"tool", "content": text}``. Only the keys TRL reads are kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignment.training.common import jsonl_lines
from alignment.training.errors import DataError

ROLES = ("system", "user", "assistant", "tool")
MAX_PROBLEMS = 10  # bad lines named in one DataError


def _message_problem(value: Any, roles: Sequence[str] = ROLES) -> str:
    if not isinstance(value, dict):
        return f"a message must be an object, got {type(value).__name__}"
    if value.get("role") not in roles:
        return f"role must be one of {', '.join(roles)}, got {json.dumps(value.get('role'), ensure_ascii=False)}"
    if not isinstance(value.get("content"), str):
        return "content must be text"
    return ""


def _messages_problem(value: Any, key: str, *, roles: Sequence[str] = ROLES, single: bool = False) -> str:
    if value is None:
        return f"missing {key!r}"
    if not isinstance(value, list) or not value:
        return f"{key!r} must be a non-empty list of messages"
    if single and len(value) != 1:
        return f"{key!r} must hold exactly one message, got {len(value)}"
    for n, message in enumerate(value):
        problem = _message_problem(message, roles)
        if problem:
            return f"{key}[{n}]: {problem}"
    return ""


def row_problems(row: dict[str, Any], stage: str) -> list[str]:
    """What is wrong with one decoded row for ``stage`` ("sft" or "dpo"); empty when it can be trained on."""
    if stage == "sft":
        problem = _messages_problem(row.get("messages"), "messages")
        if problem:
            return [problem]
        if not any(m["role"] == "assistant" for m in row["messages"]):
            return ["'messages' has no assistant turn to learn from"]
        return []
    problems = [_messages_problem(row.get("prompt"), "prompt", roles=ROLES)]
    for key in ("chosen", "rejected"):
        problems.append(_messages_problem(row.get(key), key, roles=("assistant",), single=True))
    return [p for p in problems if p]


def read_rows(path: str | Path, stage: str) -> list[dict[str, Any]]:
    """The training rows of ``path`` for ``stage``, only the keys TRL reads; raises DataError naming every bad
    line (up to ten) and what is wrong with it."""
    keys = ("messages",) if stage == "sft" else ("prompt", "chosen", "rejected")
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for line in jsonl_lines(path):
        if line.problem:
            problems.append(f"{line.where}: {line.problem}")
            continue
        if not isinstance(line.value, dict):
            problems.append(f"{line.where}: expected a JSON object, got {type(line.value).__name__}")
            continue
        found = row_problems(line.value, stage)
        problems.extend(f"{line.where}: {p}" for p in found)
        if not found:
            rows.append({k: line.value[k] for k in keys})
    if problems:
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise DataError(f"{stage} data: " + "; ".join(problems[:MAX_PROBLEMS]) + more)
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows
