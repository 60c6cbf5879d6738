"""The provision picker: finding a provision by what a person knows of it (the law's title, the article number
written 第十二条 or 12, words of its text), never by an id; the form field every form that cites provisions uses;
and the plain search that serves pages without JavaScript.

``search`` is the one query: current versions first (a source that a newer source supersedes comes after),
then exact article-number matches, then the law's title and the article's position. The search endpoint
(``benchmark.views_authoring.provision_search``), the no-JavaScript fallback of every picker, the labeling
screen's search and the admin's autocomplete all go through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from benchmark.models import Provision, Source
from benchmark.parsing.structure import NUMERAL, numeral
from benchmark.search import estimated_rows, provisions_containing, vendor_of
from medes_site.roles import Role, has_role

RESULTS = 20
MAX_QUERY = 100
MAX_CITED = 50
SNIPPET = 60
SEARCH_BUTTON = "picker-search"  # the fallback's submit button: its value names the picker field to search for
# 第十二条, 第 12 条, 12条, 第十二条之一; the article part of a query such as 民法典第一千二百一十九条 (a Chinese
# numeral needs its 第: "这一条" is words, not article 1)
ARTICLE = re.compile(rf"(?:第\s*({NUMERAL})|(\d+))\s*条(?:\s*之\s*({NUMERAL}))?")
PICKER_ROLES = (Role.CURATOR, Role.REVIEWER)
# A search the database expects to match more provisions than this (患者, 医疗机构) reads the first sources'
# articles in order, a few sources at a time and at most a few rounds, instead of sorting every match.
BROAD = 2000
SOURCES_AT_ONCE = 2
SOURCE_ROUNDS = 4


def visible_provisions(user: User | AnonymousUser) -> QuerySet[Provision]:
    """The provisions a user may find: the corpus is shared by curators and reviewers (an administrator holds
    every role); nobody else searches it here (annotators search their item's sources on the labeling screen)."""
    if not has_role(user, *PICKER_ROLES):
        return Provision.objects.none()
    return Provision.objects.all()


@dataclass(frozen=True)
class Query:
    """A search as understood: words that must each appear (in the title, the label or the text) and, when
    the user wrote one, an article number (and suffix, for 第N条之一)."""

    words: tuple[str, ...]
    number: int | None = None
    suffix: int | None = None
    written_as_article: bool = False  # 第十二条 rather than a bare 12 (which may also be words of a text)


def _as_numeral(text: str) -> int | None:
    try:
        return numeral(text)
    except ValueError:
        return None


def understand(query: str) -> Query:
    """Split a query into words and an article number: "民法典 第十二条", "民法典第12条", "12", "知情同意"."""
    text = " ".join(query.split())[:MAX_QUERY]
    number = suffix = None
    article = False
    found = ARTICLE.search(text)
    if found is not None and _as_numeral(found.group(1) or found.group(2)) is not None:
        number = _as_numeral(found.group(1) or found.group(2))
        suffix = _as_numeral(found.group(3)) if found.group(3) else None
        article = True
        text = (text[: found.start()] + " " + text[found.end() :]).strip()
    words: list[str] = []
    for word in text.split():
        if number is None and word.isdigit() and len(word) <= 5:
            number = int(word)
        else:
            words.append(word)
    return Query(words=tuple(words), number=number, suffix=suffix, written_as_article=article)


def search(query: str, provisions: QuerySet[Provision] | None = None, *, limit: int = RESULTS) -> list[Provision]:
    """The provisions matching ``query`` among ``provisions`` (all when None), best first; an empty query
    lists the first articles of the current versions."""
    provisions = Provision.objects.all() if provisions is None else provisions
    found = ranked(query, provisions)
    wanted = understand(query)
    loose = wanted.number is not None and not wanted.words and not wanted.written_as_article
    if wanted.words and not loose and (estimated_rows(found) or 0) > BROAD:
        first = _from_the_first_sources(query, provisions, limit)
        if first is not None:
            return first
    return list(found[:limit])


def _from_the_first_sources(query: str, provisions: QuerySet[Provision], limit: int) -> list[Provision] | None:
    """A broad search (患者 is in half the corpus): the best matches lie in the first sources of the ranking's
    order (current versions, then by title), so read those sources' articles a few sources at a time, checking
    the text alone, rather than sort every match. None when the first sources hold too few matches."""
    newer = Source.objects.filter(supersedes=OuterRef("pk"))
    first = Source.objects.annotate(superseded=Exists(newer)).order_by("superseded", "title", "pk")
    order = list(first.values_list("pk", flat=True)[: SOURCES_AT_ONCE * SOURCE_ROUNDS])
    found: list[Provision] = []
    for start in range(0, len(order), SOURCES_AT_ONCE):
        some = provisions.filter(source_id__in=order[start : start + SOURCES_AT_ONCE])
        found += ranked(query, some, use_index=False)[: limit - len(found)]
        if len(found) >= limit:
            return found
    return None


def ranked(query: str, provisions: QuerySet[Provision], *, use_index: bool = True) -> QuerySet[Provision]:
    """``search`` as a queryset (the admin's autocomplete pages through it)."""
    wanted = understand(query)
    found = provisions.select_related("source")
    vendor = vendor_of(found)
    for word in wanted.words:
        # the law's title among the few sources first, so the provisions' text index serves the rest
        titled = list(Source.objects.filter(title__icontains=word).values_list("pk", flat=True))
        found = found.filter(Q(source_id__in=titled) | provisions_containing(word, vendor, use_index=use_index))
    if wanted.number is not None:
        # a bare number may also be words of the text ("12个月"): the article of that number ranks first
        by_number = Q(number=wanted.number) & (Q() if wanted.suffix is None else Q(suffix=wanted.suffix))
        loose = not wanted.words and not wanted.written_as_article
        in_text = provisions_containing(str(wanted.number), vendor, fields=("text",), use_index=use_index)
        found = found.filter(by_number | in_text if loose else by_number)
        exact: Any = Case(When(by_number, then=Value(0)), default=Value(1), output_field=IntegerField())
    else:
        exact = Value(0, output_field=IntegerField())
    newer = Source.objects.filter(supersedes=OuterRef("source_id"))
    return found.annotate(superseded=Exists(newer), exact=exact).order_by(
        "superseded", "exact", "source__title", "source_id", "position"
    )


def is_current(provision: Provision) -> bool:
    """Whether no newer source supersedes the provision's source (``search`` annotates it; else one query)."""
    superseded = getattr(provision, "superseded", None)
    if superseded is None:
        superseded = Source.objects.filter(supersedes=provision.source_id).exists()
    return not superseded


def describe(provision: Provision) -> dict[str, Any]:
    """What a picker shows and the JSON answer carries: law title and version, article label, first words."""
    source = provision.source
    text = " ".join(provision.text.split())
    return {
        "id": provision.pk,
        "title": source.title,
        "version": source.version,
        "promulgated": source.promulgated_on,  # a date: JSON writes it ISO, a page through the ``day`` filter
        "label": provision.label,
        "snippet": text[:SNIPPET] + ("…" if len(text) > SNIPPET else ""),
        "current": is_current(provision),
    }


# --- the form field -------------------------------------------------------------------------------------------


class ProvisionPickerField(forms.Field):
    """Cited provisions as repeated ``<name>=<id>`` checkboxes (the picker's chips): a list of distinct
    existing provisions, in the order chosen. The user never types an id: the picker writes them."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, queryset: QuerySet[Provision] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Cited provisions"))
        super().__init__(**kwargs)
        self.queryset = Provision.objects.all() if queryset is None else queryset
        self.results: list[Provision] | None = None  # the fallback search's hits, when the user searched
        self.query = ""

    def to_python(self, value: Any) -> list[Provision]:
        ids: list[int] = []
        for raw in value or []:
            text = str(raw).strip()
            if not text.isdigit() or int(text) < 1:
                raise forms.ValidationError(gettext("Choose provisions with the search; they are not typed in."))
            if int(text) not in ids:
                ids.append(int(text))
        if len(ids) > MAX_CITED:
            raise forms.ValidationError(gettext("Cite at most %(n)d provisions.") % {"n": MAX_CITED})
        found = {p.pk: p for p in self.queryset.filter(pk__in=ids).select_related("source")}
        if len(found) != len(ids):
            raise forms.ValidationError(
                gettext("A chosen provision no longer exists (merged or removed); search for it again.")
            )
        return [found[pk] for pk in ids]

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")


def chosen(bound: forms.BoundField) -> list[Provision]:
    """The provisions a picker shows as chosen: what the user sent back (a re-shown form keeps every choice,
    even an invalid form's), else the initial value."""
    field = bound.field
    queryset: QuerySet[Provision] = getattr(field, "queryset", Provision.objects.all())
    if bound.form.is_bound:
        raw = bound.form.data.getlist(bound.html_name) if hasattr(bound.form.data, "getlist") else []
        ids = [int(v) for v in raw if str(v).isdigit()][:MAX_CITED]
    else:
        ids = [p if isinstance(p, int) else p.pk for p in (bound.value() or [])]
    newer = Source.objects.filter(supersedes=OuterRef("source_id"))
    rows = queryset.filter(pk__in=ids).select_related("source").annotate(superseded=Exists(newer))
    found = {p.pk: p for p in rows}
    return [found[pk] for pk in dict.fromkeys(ids) if pk in found]


def searching(form: forms.Form, data: Mapping[str, Any] | None = None) -> bool:
    """Without JavaScript a picker's search button submits the whole form: when it did, run that picker's
    search, keep everything typed, and answer True (the view shows the form again and saves nothing)."""
    data = form.data if data is None else data
    name = str(data.get(SEARCH_BUTTON) or "")
    field = form.fields.get(name)
    if not isinstance(field, ProvisionPickerField):
        return False
    query = str(data.get(f"{form.add_prefix(name)}-q", ""))[:MAX_QUERY].replace("\x00", "")
    field.query = query
    field.results = search(query, field.queryset)
    return True


def ids_of(provisions: Iterable[Provision]) -> list[int]:
    return [p.pk for p in provisions]
