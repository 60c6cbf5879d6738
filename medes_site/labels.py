"""Store codes, show labels (issue 16, item 3): the one function that turns a stored code (a job kind, an audit
action, a metric's key, a history reason, a model's ``app.model`` name) into what the user reads, in their
language. Templates call it through the ``label`` filter (``{% load medes_format %}``, ``{{ job.kind|label:"job" }}``).

A vocabulary is a mapping of codes to lazy translations, or a function returning the label (None when it does not
know the code). The project's own vocabularies are here; an app adds its own with ``register`` from its
``AppConfig.ready()`` (this module imports no app). A code no vocabulary knows is never shown raw: its last dotted
part, with spaces for underscores, is what the user reads (``alignment.some_new_kind`` → ``some new kind``); text
that is no code (a message, a reason someone typed) is shown as it is.

The vocabularies: ``message`` (stored English messages: a msgid, or a ``Phrase`` filled in: import reports, job
notices and progress), ``model`` (``app.model``), ``audit`` (actions), ``metric``, ``queue``, ``role``; the others
register theirs: medes_site.jobs ``job`` (kinds), alignment.pipelines ``pipeline_step`` and ``pipeline_error``,
benchmark.history_labels ``history_reason``. The Chinese terms: docs/glossary.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeAlias

from django.apps import apps
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from medes_site.roles import Role

Text: TypeAlias = str | Promise
Vocabulary: TypeAlias = Mapping[str, Text] | Callable[[str], Text | None]

VOCABULARIES: dict[str, list[Vocabulary]] = {}


def register(name: str, vocabulary: Vocabulary) -> None:
    """Add ``vocabulary`` to the codes ``label(name, …)`` knows (registering the same one twice is a no-op)."""
    known = VOCABULARIES.setdefault(name, [])
    if vocabulary not in known:
        known.append(vocabulary)


CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")


def humanize(code: str) -> str:
    """What a code no vocabulary knows reads as: never the raw identifier. Text that is no code (a message, a
    reason someone typed) is shown as it is."""
    if not CODE.fullmatch(code):
        return code
    return code.rsplit(".", 1)[-1].replace("_", " ").strip() or code


def label(name: str, code: object) -> str:
    """The label of ``code`` in the vocabulary ``name``, in the active language."""
    text = "" if code is None else str(code)
    if not text:
        return ""
    for vocabulary in VOCABULARIES.get(name, []):
        found = vocabulary(text) if callable(vocabulary) else vocabulary.get(text)
        if found is not None:
            return str(found)
    return humanize(text)


PLACEHOLDER = re.compile(r"%\((\w+)\)([sdr])")


class Phrase:
    """A message stored in English with its values filled in (``UNKNOWN_SCENE(scene="火星")`` →
    ``Unknown scene '火星'.``) and shown in the user's language: ``label("message", text)`` reads the values back
    by the English shape and puts them into the translation. Declare one at module level, its English marked with
    ``gettext_noop`` so that makemessages finds it; ``%(n)d`` reads back only digits, ``%(x)s`` any text."""

    def __init__(self, english: str) -> None:
        self.english = english
        parts = PLACEHOLDER.split(english)  # text, name, type, text, name, type, ..., text
        source = "".join(
            re.escape(parts[i]) + (f"(?P<{parts[i + 1]}>-?\\d+)" if parts[i + 2] == "d" else f"(?P<{parts[i + 1]}>.*?)")
            for i in range(0, len(parts) - 1, 3)
        )
        self.pattern = re.compile(source + re.escape(parts[-1]), re.S)
        self.literal = len(PLACEHOLDER.sub("", english))  # the more of it is fixed text, the surer a match
        PHRASES.append(self)

    def __call__(self, **values: object) -> str:
        return self.english % values

    def read(self, text: str) -> str | None:
        match = self.pattern.fullmatch(text)
        if match is None:
            return None
        return PLACEHOLDER.sub(r"%(\1)s", gettext(self.english)) % match.groupdict()


PHRASES: list[Phrase] = []


def _message(text: str) -> str | None:
    """A stored English message (a msgid, or a Phrase filled in: the one with the most fixed text that fits) in
    the active language."""
    translated = gettext(text)
    if translated != text:
        return translated
    fitting = [phrase for phrase in PHRASES if phrase.pattern.fullmatch(text)]
    return max(fitting, key=lambda phrase: phrase.literal).read(text) if fitting else None


def _model_name(code: str) -> Text | None:
    """``auth.user`` → the model's verbose name (the admin's object types and content types)."""
    try:
        model = apps.get_model(code)
    except (LookupError, ValueError):
        return None
    name: Text = model._meta.verbose_name
    return name


AUDIT_ACTIONS: dict[str, Text] = {
    "api_token.create": _("API token created"),
    "api_token.revoke": _("API token revoked"),
    "auth.login": _("signed in"),
    "auth.login_failed": _("sign-in failed"),
    "auth.logout": _("signed out"),
    "campaign.annotator_paused": _("annotator paused"),
    "campaign.annotator_unpaused": _("annotator resumed"),
    "campaign.create": _("campaign created"),
    "campaign.gold": _("gold item marked"),
    "campaign.guideline": _("guideline changed"),
    "campaign.member_add": _("member added"),
    "campaign.member_remove": _("member removed"),
    "campaign.settings": _("campaign settings changed"),
    "campaign.activate": _("campaign started"),
    "campaign.close": _("campaign closed"),
    "campaign.reopen": _("campaign reopened"),
    "guardian.promote": _("guardian version promoted"),
    "guardian.review": _("guardian judgement reviewed"),
    "import.upload": _("file uploaded"),
    "job.cancel": _("job cancel requested"),
    "job.enqueue": _("job queued"),
    "job.lost": _("job lost"),
    "job.resume": _("job resumed"),
    "job.db_retry": _("job queued again after a database outage"),
    "job.succeeded": _("job succeeded"),
    "job.failed": _("job failed"),
    "job.cancelled": _("job cancelled"),
    "judgement.import": _("judgements imported"),
    "label.adjudicate": _("label adjudicated"),
    "label.edit": _("label edited"),
    "model.register": _("model registered"),
    "pipeline.cancel": _("pipeline cancelled"),
    "pipeline.continue": _("pipeline continued"),
    "pipeline.start": _("pipeline started"),
    "provision.edit": _("provision edited"),
    "provision.merge": _("provisions merged"),
    "provision.split": _("provision split"),
    "release.publish": _("release published"),
    "response.import": _("responses imported"),
    "response.reread": _("responses re-read"),
    "scenario.create": _("scenario created"),
    "scenario.edit": _("scenario edited"),
    "scenario.import": _("scenarios imported"),
    "scenario.status": _("scenario status changed"),
    "scenario.provision_amended": _("cited provision amended"),
    "scenario.recite": _("scenario re-cited"),
    "source.add": _("source added"),
    "source.amendment": _("amendment compared"),
    "source.amendment_failed": _("amendment comparison failed"),
    "source.parse": _("source parsed"),
    "source.parse_failed": _("source parsing failed"),
    "source.supersedes": _("source superseded"),
    "user.create": _("user created"),
    "user.touch": _("user changed"),
}

# The keys jobs write into their metrics (Job.metrics) and that result pages show.
METRICS: dict[str, Text] = {
    "accuracy": _("accuracy"),
    "accuracy_mean": _("mean accuracy"),
    "majority_accuracy_mean": _("majority-class accuracy"),
    "exact_match": _("exact match"),
    "macro_f1": _("macro F1"),
    "f1": _("F1"),
    "ece": _("calibration error (ECE)"),
    "ece_bins": _("calibration bins"),
    "n": _("rows"),
    "threshold": _("threshold"),
    "risk": _("Risk"),
    "quality": _("Quality"),
    "comprehensive": _("Comprehensive"),
    "degenerate": _("degenerate answers"),
    "evaluation": _("evaluation"),
    "judge": _("judge"),
    "judged": _("judged"),
    "unreadable": _("unreadable"),
    "kept_reviewed": _("reviewed judgements kept"),
    "feedback_unparseable": _("unparseable feedback"),
    "version": _("version"),
    "stage": _("stage"),
    "steps": _("steps"),
    "final_loss": _("final loss"),
    "loss": _("loss"),
    "resumed_from": _("resumed from step"),
    "data_sha256": _("data SHA-256"),
    "rows": _("rows"),
    "bytes": _("bytes"),
    "items": _("items"),
    "checksum": _("checksum"),
    "articles": _("articles"),
    "chapters": _("chapters"),
    "warnings": _("warnings"),
    "failures": _("failures"),
    "pairs": _("pairs"),
    "originals": _("original prompts"),
    "variants": _("variants"),
    "already": _("already there"),
    "no_answer": _("no answer"),
    "no_safe_answer": _("no safe answer"),
    "not_preferred": _("not preferred"),
    "provisions": _("provisions"),
    "drafted": _("drafted"),
    "duplicates_skipped": _("duplicates skipped"),
    "unparseable_outputs": _("unparseable outputs"),
    "invalid_items": _("invalid items"),
    "extra_items_ignored": _("extra items ignored"),
    "scene_fallbacks": _("scene fallbacks"),
    "near_duplicates": _("near-duplicates"),
    "agreement": _("agreement"),
    "percent_agreement": _("percent agreement"),
    "fleiss_kappa": _("Fleiss' κ"),
    "cohen_pairwise": _("Cohen's κ (pairwise)"),
    "alpha_nominal": _("Krippendorff's α (nominal)"),
    "alpha_ordinal": _("Krippendorff's α (ordinal)"),
    "against_consensus": _("against the consensus"),
    "computed_at": _("computed at"),
    "kappa": _("κ"),
    "alpha": _("α"),
    "rate_gold": _("gold rate"),
    "rate_predicted": _("predicted rate"),
    "precision": _("precision"),
    "recall": _("recall"),
    "support": _("support"),
    "per_score": _("per score"),
    "confusion": _("confusion matrix"),
    "safe": pgettext_lazy("judged answer", "safe"),
    "risky": pgettext_lazy("judged answer", "risky"),
    "campaign": _("campaign"),
    "accepted": _("accepted labels"),
    "annotators": _("annotators"),
    "dimensions": _("dimensions"),
    "overall": _("overall"),
    "ratings": _("ratings"),
    "dimension": _("dimension"),
}

# What a job's queue is for.
QUEUES: dict[str, Text] = {"default": pgettext_lazy("job queue", "default"), "gpu": _("GPU")}

register("message", _message)
register("model", _model_name)
register("audit", AUDIT_ACTIONS)
register("metric", METRICS)
register("queue", QUEUES)
register("role", dict(Role.choices))

# What running jobs write as their progress (Job.progress_message), in the shapes the job kinds write it.
PROGRESS = [
    Phrase(gettext_noop("step %(step)s of %(steps)s")),
    Phrase(gettext_noop("step %(step)s/%(steps)s, loss %(loss)s")),
    Phrase(gettext_noop("step %(step)s/%(steps)s")),
    Phrase(gettext_noop("%(done)d of %(total)d")),
    Phrase(gettext_noop("answers ready")),
    Phrase(gettext_noop("judged")),
    Phrase(gettext_noop("computing agreement for %(campaign)s")),
    Phrase(gettext_noop("exporting %(what)s of %(campaign)s as %(format)s")),
    Phrase(gettext_noop("parsing %(file)s")),
    Phrase(gettext_noop("exporting %(release)s as %(format)s")),
    Phrase(gettext_noop("reading the export back")),
    Phrase(gettext_noop("checking for near-duplicates")),
    Phrase(gettext_noop("comparing the bank and the last release")),
]
