"""A reasoning model's reply: the reasoning it thinks aloud in ``<think>…</think>`` and the final answer after it.

Reasoning models (DeepSeek-R1, QwQ, Qwen3 …) write a ``<think>`` block, often in another language than the
question, and then the answer; an inference server may strip the opening tag, leaving only ``</think>``. Only
the final answer is what the model says: a judge reply's scores are read from it (alignment.judge_replies) and a
policy's answer is checked for degenerate text on it (benchmark.degenerate). One rule, here, for both:

- the final answer is what follows the last ``</think>`` (``<thinking>`` too, any case);
- a ``<think>`` that is never closed means the reply was cut off while reasoning: there is no final answer;
- a reply with neither tag is all answer.

Plain Python, no Django.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Reply", "final_answer", "split_reply"]

THINK_OPEN = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
THINK_CLOSE = re.compile(r"</think(?:ing)?>", re.IGNORECASE)


class Reply(NamedTuple):
    """A reply split at its reasoning."""

    answer: str | None  # after the last </think>, or the whole reply; None when a <think> is never closed
    reasoned: bool  # there was a reasoning block (closed or not)


def split_reply(text: str) -> Reply:
    """The final answer of ``text`` and whether it reasoned first (the rules are in the module's docstring)."""
    text = text or ""
    closes = list(THINK_CLOSE.finditer(text))
    if closes:
        return Reply(text[closes[-1].end() :], True)
    if THINK_OPEN.search(text):
        return Reply(None, True)
    return Reply(text, False)


def final_answer(text: str) -> str | None:
    """What follows the reasoning (the whole text when there is none); None when the reasoning never ended."""
    return split_reply(text).answer
