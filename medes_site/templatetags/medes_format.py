"""One way to show dates and numbers in every template: ``{% load medes_format %}``, then ``{{ when|when }}``
(date and time, in TIME_ZONE), ``{{ when|day }}`` (the date only) and ``{{ value|num }}`` / ``{{ value|num:3 }}``
(a number with at most that many decimals, trailing zeros dropped; ``—`` for none); ``{{ code|label:"job" }}``
shows a stored code (a job kind, an audit action, a metric, a history reason) in the user's language
(medes_site/labels.py).

The formats are the same in both languages (ISO-like ``2026-12-07 18:05``), which clinicians in China and the
team's engineers read alike; a value that is not a date or a number is shown unchanged, never as a traceback."""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils import timezone

from medes_site import labels

register = template.Library()

EMPTY = "—"


def _local(value: dt.datetime) -> dt.datetime:
    if timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def _moment(value: object, with_time: str) -> str:
    """``value`` (a datetime, a date or an ISO string) as ``YYYY-MM-DD`` plus ``with_time`` for a datetime, in
    the site's time zone; ``—`` for none, anything else unchanged."""
    if value in (None, ""):
        return EMPTY
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        return _local(value).strftime("%Y-%m-%d" + with_time)
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    return str(value)


@register.filter
def when(value: object) -> str:
    """A moment as ``YYYY-MM-DD HH:MM`` in the site's time zone (``—`` for none)."""
    return _moment(value, " %H:%M")


@register.filter
def day(value: object) -> str:
    """A date (or the date of a moment, in the site's time zone) as ``YYYY-MM-DD``."""
    return _moment(value, "")


@register.filter
def num(value: object, digits: int | str = 3) -> str:
    """A number with at most ``digits`` decimals (halves rounded up, as ``floatformat`` does) and no trailing
    zeros: 0.8333333 → 0.833, 1.0 → 1, −0.5 → −0.5, 0.125 → 0.13 (two decimals)."""
    if value is None or value == "":
        return EMPTY
    try:
        places = int(digits)
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return str(value)
    if not number.is_finite():
        return str(value) if not isinstance(value, float) or not math.isnan(value) else EMPTY
    try:
        text = f"{number.quantize(Decimal(1).scaleb(-max(places, 0)), rounding=ROUND_HALF_UP):f}"
    except InvalidOperation:  # more digits than Decimal's precision holds: far past any figure a page shows
        return str(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


@register.filter
def label(value: object, vocabulary: str) -> str:
    """A stored code as the user reads it: ``{{ job.kind|label:"job" }}`` (medes_site.labels.label)."""
    return labels.label(vocabulary, value)


@register.filter
def metric_rows(metrics: object) -> list[tuple[str, str]]:
    """A job's metrics as (label, shown value) rows: keys through the "metric" vocabulary, numbers through
    ``num``, moments through ``when``; a nested figure shows its plain values (``agreement · accepted``) and the
    rest is left to the page that shows the result (the loss curve is drawn, never listed)."""
    rows: list[tuple[str, str]] = []
    if not isinstance(metrics, dict):
        return rows
    for key, value in metrics.items():
        if key == "loss_curve":
            continue
        name = labels.label("metric", key)
        if isinstance(value, dict):
            rows += [(f"{name} · {labels.label('metric', k)}", _shown(k, v)) for k, v in value.items() if _plain(v)]
        elif _plain(value):
            rows.append((name, _shown(key, value)))
    return rows


def _plain(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | Decimal)


def _shown(key: str, value: object) -> str:
    if key.endswith("_at"):
        return when(value)
    if isinstance(value, bool | str):
        return str(value)
    return num(value, 4)
