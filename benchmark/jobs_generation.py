"""Job kinds for drafting scenarios and for the near-duplicate pass."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.utils.translation import gettext_lazy as _

from benchmark import generation, model_backends, neardup
from benchmark.models import PromptTemplate, Provision, Scene
from medes_site.jobs import JobContext, JobError, job_kind
from medes_site.roles import Role

MAX_PROVISIONS = 500
DEFAULT_VARIANTS = 3


def validate_generate(config: dict[str, Any]) -> dict[str, Any]:
    try:
        provisions = sorted({int(pk) for pk in config.get("provisions") or []})
        n = int(config.get("n", DEFAULT_VARIANTS))
        template = int(config["template"])
        scene = int(config["scene"]) if config.get("scene") not in (None, "") else None
    except (KeyError, TypeError, ValueError):
        raise JobError(_("Give provision ids, a number of variants, a template and a backend.")) from None
    if not provisions:
        raise JobError(_("Choose at least one provision."))
    if len(provisions) > MAX_PROVISIONS:
        raise JobError(_("Choose at most %(max)d provisions per job.") % {"max": MAX_PROVISIONS})
    if Provision.objects.filter(pk__in=provisions).count() != len(provisions):
        raise JobError(_("Some of the chosen provisions do not exist (any more)."))
    if not 1 <= n <= generation.MAX_VARIANTS:
        raise JobError(_("Variants per provision must be between 1 and %(max)d.") % {"max": generation.MAX_VARIANTS})
    if not PromptTemplate.objects.filter(pk=template).exists():
        raise JobError(_("There is no such prompt template."))
    if scene is not None and not Scene.objects.filter(pk=scene).exists():
        raise JobError(_("There is no such scene."))
    backend = str(config.get("backend", ""))
    if backend not in model_backends.available_backends():
        raise JobError(_("The generator backend %(name)s is not configured here.") % {"name": backend or "—"})
    return {"provisions": provisions, "n": n, "template": template, "backend": backend, "scene": scene}


@job_kind(
    "benchmark.generate_scenarios",
    label=_("Draft scenarios from provisions"),
    queue="default",  # a local model on a GPU node would go to "gpu"; the tiny and HTTP backends need no GPU
    time_limit=6 * 60 * 60,
    roles=frozenset({Role.CURATOR}),
    validate=validate_generate,
)
def run_generate(ctx: JobContext) -> None:
    config = validate_generate(ctx.config)
    template = PromptTemplate.objects.get(pk=config["template"])
    scene = Scene.objects.filter(pk=config["scene"]).first() if config["scene"] else None
    fallback = generation.fallback_scene(scene)
    backend = model_backends.get_backend(config["backend"])
    detail = generation.origin_detail(backend, template)
    provisions = Provision.objects.select_related("source").filter(pk__in=config["provisions"]).order_by("pk")
    total = len(config["provisions"])
    # A resumed job continues after the last provision it finished; identical drafts are skipped anyway.
    checkpoint = ctx.artifacts_dir / "checkpoint.json"
    state: dict[str, Any] = json.loads(checkpoint.read_text()) if checkpoint.exists() else {"done": [], "report": {}}
    report = generation.DraftingReport(**state["report"])
    outputs = ctx.artifacts_dir / "outputs.jsonl"
    ctx.log(f"drafting {config['n']} per provision for {total} provisions with {detail}")
    generation.mark_used(template)
    for provision in provisions:
        if provision.pk in state["done"]:
            continue
        ctx.progress(len(state["done"]) / total, f"{provision.source.title} {provision.label}")
        messages = generation.render_messages(template, provision, n=config["n"], scene=scene)
        text = backend.chat(messages)
        with outputs.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"provision": provision.pk, "output": text}, ensure_ascii=False) + "\n")
        parsed = generation.parse_drafts(text, template.kind)
        report.unparseable += parsed.unparseable
        report.invalid_items += len(parsed.problems) - parsed.unparseable
        for problem in parsed.problems:
            ctx.log(f"{provision.label}: {problem}")
        generation.store_drafts(
            parsed.drafts,
            provision=provision,
            n=config["n"],
            origin_detail=detail,
            fallback_scene=fallback,
            report=report,
            log=ctx.log,
        )
        report.provisions += 1
        state["done"].append(provision.pk)
        state["report"] = dataclasses.asdict(report)
        checkpoint.write_text(json.dumps(state))
        ctx.set_metrics(**report.metrics())
    ctx.progress(1.0, "checking for near-duplicates")
    flags = neardup.refresh_flags(report.created) if report.created else {"flagged_scenarios": 0}
    ctx.set_metrics(**report.metrics(), near_duplicates=flags["flagged_scenarios"])
    if outputs.exists():
        ctx.add_artifact(outputs, "model outputs (JSONL)")
    ctx.log(
        f"{report.drafted} drafts, {report.duplicates} duplicates skipped, {report.unparseable} unreadable outputs, "
        f"{report.invalid_items} items left out, {flags['flagged_scenarios']} flagged as near-duplicates"
    )


@job_kind(
    "benchmark.find_near_duplicates",
    label=_("Flag near-duplicate scenarios"),
    time_limit=60 * 60,
    roles=frozenset({Role.CURATOR}),
    validate=lambda config: {},
)
def run_near_duplicates(ctx: JobContext) -> None:
    ctx.progress(0.1, "comparing the bank and the last release")
    result = neardup.refresh_flags()
    ctx.set_metrics(**result)
    ctx.log(f"{result['flagged_scenarios']} scenarios flagged ({result['flags']} flags)")
