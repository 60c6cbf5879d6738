"""Evaluation runs: a registered model scored on a frozen release (DESIGN.md §3; issue 6, items 4 and 5).

The release's items are the frozen payloads: a response counts for an item only if it answers that very
content (``Response.scenario_hash`` equals the payload's ``content_hash``). A model that can be run (a local
directory or an endpoint) first answers the items it has not answered, greedily; imported models are
scored on what was imported. Objective items are asked in the publishers' words (their instruction and worked
example, benchmark.prompts) and are right only when the option set read equals the key; an answer that could not
be read counts as wrong and is reported. An open-case answer that is degenerate (benchmark.degenerate: empty,
replacement characters, long repeats, not Chinese, no answer after the reasoning) is a failure with its reason
before any judge sees it: it is never sent to a judge, and a judgement stored for it is not trusted.
``degenerate_responses`` is the one selection of such answers that an evaluation, both judging jobs
(alignment.kinds) and the training data (alignment.alignment_data) use, each answer checked against the stem it
was asked; an evaluation finds them once, from its release's frozen payloads. The other open cases are scored by the
judge named on the run (the guardian version active when it started, or the prompt judge) and summed up with
alignment.evaluation_metrics. A model with nothing for a judge to read (only objective answers, or a release of
objective items) is evaluated with no judge at all (``judge`` "none"). The results are stored once, with
everything that decided them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from alignment import prompt_judge, services
from alignment.evaluation_metrics import MEDES_LEADERBOARD_WEIGHTS, objective_metrics, subjective_metrics
from alignment.models import EvaluationRun, EvaluationStatus, JudgeKind, Judgement
from alignment.runtime import device, version_dir
from alignment.training.guardian import load as load_guardian
from benchmark.degenerate import FAILURE_SCORES, degenerate_answer, excerpt
from benchmark.model_backends import GeneratorError, LocalHFBackend, OpenAICompatibleBackend, get_backend
from benchmark.models import ModelKind, RegisteredModel, Release, Response, Scenario, ScenarioKind
from benchmark.prompts import medes_objective_query
from benchmark.replies import final_answer
from benchmark.responses import store_response
from medes_site import outbound
from medes_site.model_dirs import ModelPathError, checked_model_dir
from medes_site.storable import storable_text

WEIGHTS: dict[str, dict[str, float] | None] = {"plain": None, "medes": MEDES_LEADERBOARD_WEIGHTS}
N_BOOT = 1000
NO_JUDGE = JudgeKind.NONE  # recorded as the run's judge when nothing needed one (objective answers only)
RUNNABLE = (ModelKind.HF_DIRECTORY, ModelKind.OPENAI_ENDPOINT)
EXCERPT_CHARS = 80
DEGENERATE_CHUNK = 2000  # answers read from the database at a time when looking for degenerate ones


@dataclass
class ItemResponse:
    scenario_id: int
    payload: dict[str, Any]
    response: Response | None


def release_responses(model: RegisteredModel, release: Release) -> list[ItemResponse]:
    """Each release item with the model's response to exactly that content, or None."""
    items = list(release.items.order_by("position").values_list("scenario_id", "payload"))
    found = {
        (r.scenario_id, r.scenario_hash): r
        for r in Response.objects.filter(model=model, scenario_id__in=[sid for sid, _p in items])
    }
    return [ItemResponse(sid, payload, found.get((sid, payload["content_hash"]))) for sid, payload in items]


def answer_messages(payload: dict[str, Any]) -> list[dict[str, str]]:
    """What a model is asked for one release item: the MedES question as published (an objective item with the
    publishers' instruction and worked example, exactly as their question file asks it)."""
    if payload["kind"] == ScenarioKind.OBJECTIVE:
        return [{"role": "user", "content": medes_objective_query(payload["stem"], payload["options"])}]
    return [{"role": "user", "content": payload["stem"]}]


def needs_judge(model: RegisteredModel, release: Release, *, generate: bool) -> bool:
    """Whether evaluating ``model`` on ``release`` gives a judge anything to read: the release has open cases,
    and the model has answered one of them as released, or can be run to answer them (``generate``). Otherwise
    only objective answers are scored, with no judge and no endpoint."""
    open_items = [
        (sid, content_hash)
        for sid, kind, content_hash in release.items.values_list(
            "scenario_id", "payload__kind", "payload__content_hash"
        )
        if kind != ScenarioKind.OBJECTIVE
    ]
    if not open_items:
        return False
    if generate and model.kind in RUNNABLE:
        return True
    hashes = dict(open_items)
    answered = Response.objects.filter(model=model, scenario_id__in=list(hashes)).values_list(
        "scenario_id", "scenario_hash"
    )
    return any(hashes.get(sid) == content_hash for sid, content_hash in answered)


class DegenerateAnswer(NamedTuple):
    response_id: int
    scenario_id: int
    reason: str


def asked_stems(
    keys: Iterable[tuple[int, str]], known: Mapping[tuple[int, str], str] | None = None
) -> dict[tuple[int, str], str]:
    """The stem each (scenario id, content hash) was asked with: ``known`` ones (an evaluation's frozen payloads),
    else the scenario's when its content still has that hash, else its history's version with that hash, else
    (a version the history does not hold) the scenario's current stem. One query or two for all of them."""
    stems = dict(known or {})
    missing = set(keys) - stems.keys()
    if not missing:
        return stems
    current: dict[int, str] = {}
    rows = Scenario.objects.filter(pk__in={sid for sid, _h in missing}).values_list("pk", "content_hash", "stem")
    for sid, content_hash, stem in rows:
        current[sid] = stem
        if (sid, content_hash) in missing:
            stems[(sid, content_hash)] = stem
    older = missing - stems.keys()
    if older:
        history = Scenario.history.filter(id__in={sid for sid, _h in older}, content_hash__in={h for _s, h in older})
        for sid, content_hash, stem in history.values_list("id", "content_hash", "stem"):
            if (sid, content_hash) in older:
                stems.setdefault((sid, content_hash), stem)
    for sid, content_hash in missing - stems.keys():
        stems[(sid, content_hash)] = current.get(sid, "")
    return stems


def degenerate_responses(
    responses: QuerySet[Response], *, stems: Mapping[tuple[int, str], str] | None = None
) -> dict[int, DegenerateAnswer]:
    """The degenerate open-case answers among ``responses``, by response id, with the reason: the one selection
    that an evaluation, the guardian's and the prompt judge's jobs and the training data use (no judge is asked
    about these answers, nor trusted on them). Each answer is checked (benchmark.degenerate.degenerate_answer)
    against the stem it was asked: the version of its case with the content hash it answered (``stems``, keyed
    by (scenario id, content hash), else ``asked_stems``). The texts are read in chunks, never all at once."""
    open_answers = responses.exclude(scenario__kind=ScenarioKind.OBJECTIVE).order_by()
    asked = asked_stems(set(open_answers.values_list("scenario_id", "scenario_hash").distinct()), stems)
    found: dict[int, DegenerateAnswer] = {}
    rows = open_answers.order_by("pk").values_list("pk", "scenario_id", "scenario_hash", "text")
    for pk, scenario_id, content_hash, text in rows.iterator(chunk_size=DEGENERATE_CHUNK):
        reason = degenerate_answer(text, asked.get((scenario_id, content_hash), ""))
        if reason is not None:
            found[pk] = DegenerateAnswer(pk, scenario_id, reason)
    return found


def degenerate_answers(pairs: list[ItemResponse]) -> dict[int, str]:
    """The run's degenerate open-case answers, by response id, with the reason: found once per run, against the
    stems of the release's frozen payloads (the content each answer was given to)."""
    answered = [p for p in pairs if p.response is not None and p.payload["kind"] != ScenarioKind.OBJECTIVE]
    if not answered:
        return {}
    stems = {(p.scenario_id, p.payload["content_hash"]): p.payload["stem"] for p in answered}
    ids = [p.response.pk for p in answered if p.response is not None]
    found = degenerate_responses(Response.objects.filter(pk__in=ids), stems=stems)
    return {pk: answer.reason for pk, answer in found.items()}


def backend_for(model: RegisteredModel) -> Any:
    """A greedy chat backend for a model that can be run; None for imported responses. The row is checked again
    as it is used (it may predate the rules, or a symlink may have changed): a directory outside the models roots,
    or a key variable off the allow-list, is a GeneratorError and nothing is loaded, read or sent. The endpoint's
    host is checked at each request (medes_site.outbound)."""
    tokens = settings.MEDES_GENERATOR_MAX_NEW_TOKENS
    if model.kind == ModelKind.HF_DIRECTORY:
        try:
            directory = checked_model_dir(model.path)
        except ModelPathError as error:
            raise GeneratorError(str(error)) from None
        return LocalHFBackend(directory, device=settings.MEDES_DEVICE, temperature=0.0, max_new_tokens=tokens)
    if model.kind == ModelKind.OPENAI_ENDPOINT:
        try:
            key = outbound.read_key(model.api_key_env)
        except outbound.OutboundError as error:
            raise GeneratorError(str(error)) from None
        return OpenAICompatibleBackend(
            base_url=model.base_url,
            model=model.model_id,
            api_key=key,
            temperature=0.0,
            max_tokens=tokens,
            timeout=settings.MEDES_GENERATOR_TIMEOUT,
            retries=settings.MEDES_GENERATOR_RETRIES,
            policy=outbound.Policy.from_settings(),
        )
    return None


def answer_missing(
    model: RegisteredModel, pairs: list[ItemResponse], backend: Any, *, job_id: int | None, log: Any = print
) -> dict[str, int]:
    """Ask the model the items it has not answered; an item whose scenario changed since the release cannot be
    asked as released, and is counted (never answered in its new wording)."""
    scenarios = Scenario.objects.in_bulk([p.scenario_id for p in pairs if p.response is None])
    counts = {"generated": 0, "changed_since_release": 0}
    for pair in pairs:
        if pair.response is not None:
            continue
        scenario = scenarios[pair.scenario_id]
        if scenario.content_hash != pair.payload["content_hash"]:
            counts["changed_since_release"] += 1
            continue
        text = backend.chat(answer_messages(pair.payload))
        pair.response, _created = store_response(
            model, scenario, text, origin_detail=f"evaluation job {job_id}", job=None
        )
        counts["generated"] += 1
    if counts["generated"]:
        log(f"{model.name} answered {counts['generated']} release items")
    return counts


def judge_missing(
    run: EvaluationRun, responses: list[Response], *, degenerate: Mapping[int, str], job_id: int | None
) -> None:
    """Judge the open-case responses the run's judge has not judged yet; the ``degenerate`` ones (the run's
    ``degenerate_answers``) are never sent to it."""
    if run.judge == NO_JUDGE:
        return
    responses = [r for r in responses if r.pk not in degenerate]
    judged = set(_judgements(run, responses).values_list("response_id", flat=True))
    todo = Response.objects.filter(pk__in=[r.pk for r in responses if r.pk not in judged])
    if not todo.exists():
        return
    if run.guardian is not None:
        try:  # a version's base is loaded only from a models root
            base = str(checked_model_dir(run.guardian.base_model))
        except ModelPathError as error:
            raise services.GuardianError(str(error)) from None
        guardian = load_guardian(version_dir(run.guardian), base_model=base, device=device())
        for batch in services.chunks(services.response_rows(todo)):
            services.store_guardian_judgements(run.guardian, guardian.predict(batch), job_id)
        return
    backend = dataclasses.replace(get_backend(run.options["backend"]), temperature=0.0)  # type: ignore[type-var]
    for row in services.response_rows(todo):
        result = prompt_judge.judge(backend, scenario=row["scenario"], norm=row["norm"], response=row["response"])
        services.store_prompt_judgement(row["id"], run.judge_model, result, job_id)


def _judgements(run: EvaluationRun, responses: Iterable[Response]) -> QuerySet[Judgement]:
    ids = [r.pk for r in responses]
    if run.judge == NO_JUDGE:
        return Judgement.objects.none()
    if run.guardian is not None:
        return Judgement.objects.filter(version=run.guardian, response_id__in=ids)
    return Judgement.objects.filter(judge=JudgeKind.PROMPT, judge_model=run.judge_model, response_id__in=ids)


def _scene(payload: dict[str, Any]) -> Any:
    """An item's scene for the metrics: all the scenes it is listed under when the release records several."""
    return payload.get("scenes") or payload["scene"]


def score(run: EvaluationRun, pairs: list[ItemResponse], degenerate: Mapping[int, str] | None = None) -> dict[str, Any]:
    """The run's results from the stored responses and judgements. Every answered open case is a row: a
    degenerate answer scores as a failure (risky, no quality) with ``"degenerate": reason`` whatever a judge said
    of it; the others carry their judgement's scores as stored (None when unjudged or unreadable, only the risk or
    only the quality scores when only one reply could be read). ``degenerate``: the run's ``degenerate_answers``,
    found here when not given."""
    options = run.options
    weights = WEIGHTS[options.get("weights", "plain")]
    n_boot, seed = int(options.get("n_boot", N_BOOT)), int(options.get("seed", 0))
    objective = [p for p in pairs if p.payload["kind"] == ScenarioKind.OBJECTIVE]
    open_cases = [p for p in pairs if p.payload["kind"] != ScenarioKind.OBJECTIVE]
    answered_objective = [p for p in objective if p.response is not None]
    objective_rows = [
        {"scene": _scene(p.payload), "correct": p.response.correct if p.response.extractable else None}
        for p in answered_objective
        if p.response is not None
    ]
    answered_open = [p for p in open_cases if p.response is not None]
    if degenerate is None:
        degenerate = degenerate_answers(answered_open)
    scores = {
        j.response_id: j.scores
        for j in _judgements(run, [p.response for p in answered_open if p.response and p.response.pk not in degenerate])
    }
    rows: list[dict[str, Any]] = []
    degenerate_items: list[dict[str, Any]] = []
    for pair in answered_open:
        assert pair.response is not None  # noqa: S101 - answered_open holds answered cases only
        reason = degenerate.get(pair.response.pk)
        if reason is not None:
            rows.append(
                {
                    "item": pair.scenario_id,
                    "scene": _scene(pair.payload),
                    "scores": dict(FAILURE_SCORES),
                    "degenerate": reason,
                }
            )
            shown = storable_text(excerpt(_shown(pair.response.text), EXCERPT_CHARS))
            degenerate_items.append(
                {"item": pair.scenario_id, "scene": pair.payload["scene"], "reason": reason, "excerpt": shown}
            )
        else:
            rows.append(
                {"item": pair.scenario_id, "scene": _scene(pair.payload), "scores": scores.get(pair.response.pk)}
            )
    return {
        "objective": objective_metrics(objective_rows, n_boot=n_boot, seed=seed) if objective_rows else None,
        "subjective": (
            subjective_metrics(rows, weights=weights, n_boot=n_boot, seed=seed)
            if any(row["scores"] for row in rows)
            else None
        ),
        "counts": {
            "items": len(pairs),
            "objective_items": len(objective),
            "open_items": len(open_cases),
            "objective_unanswered": len(objective) - len(answered_objective),
            "open_unanswered": len(open_cases) - len(answered_open),
            "open_unjudged": sum(1 for row in rows if not row["scores"]),
            "degenerate": len(degenerate_items),
        },
        # per open case with all six scores, for base-versus-aligned comparisons (one scene per item there)
        "items": [
            {**row, "scene": pair.payload["scene"]}
            for row, pair in zip(rows, answered_open, strict=True)
            if _complete(row["scores"])
        ],
        "degenerate_items": degenerate_items,
        "unextractable_items": [
            p.scenario_id for p in answered_objective if p.response is not None and not p.response.extractable
        ],
    }


def _shown(text: str) -> str:
    """What an excerpt of a degenerate answer shows: the final answer after a reasoning block, when there is one."""
    return final_answer(text) or text


def _complete(scores: dict[str, Any] | None) -> bool:
    return scores is not None and all(key in scores for key in FAILURE_SCORES)


def start_run(
    model: RegisteredModel, release: Release, options: dict[str, Any], *, job_id: int | None, user: Any = None
) -> EvaluationRun:
    judge = options["judge"]
    # how missing answers are generated, recorded with the results (answers already stored keep their origin)
    generation = {
        "decoding": "greedy",
        "max_new_tokens": settings.MEDES_GENERATOR_MAX_NEW_TOKENS,
        "model_kind": model.kind,
    }
    options = {**options, "generation": generation}
    if judge == NO_JUDGE:
        return EvaluationRun.objects.create(
            model=model, release=release, judge=NO_JUDGE, options=options, job_id=job_id, created_by=user
        )
    if judge == "guardian":
        version = services.require_active_version()
        return EvaluationRun.objects.create(
            model=model,
            release=release,
            judge=JudgeKind.GUARDIAN,
            guardian=version,
            options=options,
            job_id=job_id,
            created_by=user,
        )
    label = get_backend(options["backend"]).model_label
    return EvaluationRun.objects.create(
        model=model,
        release=release,
        judge=JudgeKind.PROMPT,
        judge_model=label,
        options=options,
        job_id=job_id,
        created_by=user,
    )


def finish(run: EvaluationRun, results: dict[str, Any]) -> None:
    EvaluationRun.objects.filter(pk=run.pk, status=EvaluationStatus.RUNNING).update(
        status=EvaluationStatus.SUCCEEDED, results=results, finished_at=timezone.now()
    )


def fail(run: EvaluationRun, error: str) -> None:
    EvaluationRun.objects.filter(pk=run.pk, status=EvaluationStatus.RUNNING).update(
        status=EvaluationStatus.FAILED, error=error[:2000], finished_at=timezone.now()
    )
