"""The model registry under attack (issue 13, item 1): a curator cannot point the workers at a URL or a directory
(service, form, page, admin); an endpoint's key comes only from an allowed variable, never the app's secrets, at
registration and again when a job runs (an old row naming SECRET_KEY sends nothing); internal addresses are
refused at registration and when the job calls them; what an endpoint answers in an error never reaches a job or
its page; and a model directory, a guardian's base or an accelerate config outside the models roots is refused
when it is entered and again when a job loads it."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import translation

from alignment.forms import RunOptionsForm, TrainForm
from alignment.kinds import EVALUATE_JOB, JUDGE_JOB, POLICY_JOB, TRAIN_JOB
from alignment.models import EvaluationRun, GuardianVersion, VersionStatus
from benchmark.forms_responses import RegisteredModelForm
from benchmark.models import ModelKind, RegisteredModel, Release, Response, ScenarioStatus, Scene
from benchmark.releases import publish_release
from benchmark.responses import ModelError, register_model
from benchmark.scenarios import create_scenario
from benchmark.taxonomy import ensure_taxonomy
from medes_site.jobs import JobError, enqueue_job, execute_job
from medes_site.models import Job, JobStatus
from tests.factories import Personas
from tests.fake_endpoint import FakeEndpoint

SECRET_BODY = "SECRET-BODY postgres://medes:hunter2@db.internal:5432/medes"
ALLOWED_KEY = "MEDES_MODEL_KEY_VLLM"


@pytest.fixture
def roots(settings: Any, tmp_path: Path) -> Path:
    """This deployment's models folder (only it, and ARTIFACTS_ROOT)."""
    root = tmp_path / "models"
    (root / "qwen").mkdir(parents=True)
    (root / "qwen" / "config.json").write_text("{}")
    settings.MEDES_MODELS_ROOTS = [root]
    return root


def endpoint_form(**changes: str) -> dict[str, str]:
    form = {"name": "vllm-7b", "kind": "openai_endpoint", "base_url": "http://93.184.216.34:8000/v1"}
    return {**form, "model_id": "qwen2.5-7b-instruct", "api_key_env": ALLOWED_KEY, "notes": "", **changes}


def register_endpoint(user: User, **changes: str) -> RegisteredModel:
    data = endpoint_form(**changes)
    return register_model(
        name=data["name"],
        kind=data["kind"],
        base_url=data["base_url"],
        model_id=data["model_id"],
        api_key_env=data["api_key_env"],
        user=user,
    )


def resolve_to(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> None:
    """Make ``name`` resolve to ``address`` (the rest goes to the real resolver)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def release_with_an_item() -> Release:
    ensure_taxonomy()
    scene = Scene.objects.order_by("pk")[0]
    create_scenario(
        kind="objective",
        stem="哪项正确？",
        options={"A": "甲", "B": "乙"},
        key="B",
        scene=scene,
        origin="expert",
        status=ScenarioStatus.ACCEPTED,
    )
    return publish_release("Sec-1")


def evaluate(model: RegisteredModel, release: Release, user: User) -> Job:
    """The real evaluate job, run in this process; the prompt judge is the operator's generator (the fixture's)."""
    job = enqueue_job(EVALUATE_JOB, {"model": model.pk, "release": release.pk, "judge": "prompt:openai"}, user=user)
    with translation.override("en"):
        execute_job(job.pk)
    job.refresh_from_db()
    return job


def staff(user: User, *codenames: str) -> User:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="benchmark", codename__in=codenames))
    return User.objects.get(pk=user.pk)


MODEL_PERMISSIONS = ("add_registeredmodel", "change_registeredmodel", "view_registeredmodel")


# --- who registers what ------------------------------------------------------------------------------------------


@translation.override("en")
def test_a_curator_cannot_register_an_endpoint_or_a_directory_through_the_service(
    personas: Personas, roots: Path
) -> None:
    with pytest.raises(ModelError, match="Only ML engineers and administrators"):
        register_endpoint(personas.curator)
    with pytest.raises(ModelError, match="Only ML engineers and administrators"):
        register_model(name="d", kind=ModelKind.HF_DIRECTORY, path=str(roots / "qwen"), user=personas.curator)
    assert not RegisteredModel.objects.exists()
    assert register_model(name="i", kind=ModelKind.IMPORTED, user=personas.curator).kind == ModelKind.IMPORTED
    for user in (personas.ml_engineer, personas.admin):
        register_model(name=f"d-{user.username}", kind=ModelKind.HF_DIRECTORY, path=str(roots / "qwen"), user=user)


def test_the_form_offers_a_curator_imported_models_only(personas: Personas) -> None:
    form = RegisteredModelForm(user=personas.curator)
    assert [value for value, _label in form.fields["kind"].choices] == ["imported"]  # type: ignore[attr-defined]
    assert not {"path", "base_url", "model_id", "api_key_env"} & set(form.fields)
    posted = RegisteredModelForm(endpoint_form(), user=personas.curator)
    assert not posted.is_valid() and "kind" in posted.errors
    ml = RegisteredModelForm(user=personas.ml_engineer)
    assert {"imported", "hf_directory", "openai_endpoint"} == {v for v, _l in ml.fields["kind"].choices}  # type: ignore[attr-defined]


def test_a_curators_post_of_an_endpoint_or_a_directory_is_refused_and_nothing_is_stored(
    personas: Personas, client_as: Any, roots: Path
) -> None:
    curator = client_as(personas.curator)
    page = curator.get(reverse("benchmark:model_add")).content.decode()
    assert 'name="base_url"' not in page and 'name="api_key_env"' not in page and 'value="openai_endpoint"' not in page
    for data in (endpoint_form(), {"name": "d", "kind": "hf_directory", "path": str(roots / "qwen")}):
        assert curator.post(reverse("benchmark:model_add"), data).status_code == 400
    assert not RegisteredModel.objects.exists()
    assert curator.post(reverse("benchmark:model_add"), {"name": "imp", "kind": "imported"}).status_code == 302
    created = RegisteredModel.objects.get()
    assert (created.kind, created.base_url, created.path, created.api_key_env) == ("imported", "", "", "")
    ml_page = client_as(personas.ml_engineer).get(reverse("benchmark:model_add")).content.decode()
    assert 'name="base_url"' in ml_page and "MEDES_MODEL_KEY_*" in ml_page  # the allowed pattern is named


def test_the_admin_holds_curators_to_imported_models(personas: Personas, client_as: Any, settings: Any) -> None:
    settings.MEDES_ENDPOINT_HOSTS = []
    curator = client_as(staff(personas.curator, *MODEL_PERMISSIONS))
    add = reverse("admin:benchmark_registeredmodel_add")
    assert curator.get(add).status_code == 200
    refused = curator.post(add, endpoint_form())
    assert refused.status_code == 200 and not RegisteredModel.objects.exists()  # the form again, with its error
    endpoint = RegisteredModel.objects.create(
        name="ml-endpoint",
        kind="openai_endpoint",
        model_id="m",
        base_url="http://93.184.216.34/v1",
        api_key_env=ALLOWED_KEY,
    )
    change = reverse("admin:benchmark_registeredmodel_change", args=[endpoint.pk])
    assert curator.post(change, {**endpoint_form(), "base_url": "http://169.254.169.254/"}).status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.base_url == "http://93.184.216.34/v1"
    view = curator.get(change).content.decode()  # what it is, not where it runs
    assert "93.184.216.34" not in view and ALLOWED_KEY not in view
    assert curator.post(add, {"name": "imported-one", "kind": "imported", "notes": ""}).status_code == 302

    ml = client_as(staff(personas.ml_engineer, *MODEL_PERMISSIONS), HTTP_ACCEPT_LANGUAGE="en")
    secret = ml.post(add, endpoint_form(name="leak", api_key_env="SECRET_KEY"))
    assert secret.status_code == 200 and "MEDES_MODEL_KEY_*" in secret.content.decode()
    internal = ml.post(add, endpoint_form(name="ssrf", base_url="http://127.0.0.1:6379/"))
    assert internal.status_code == 200 and not RegisteredModel.objects.filter(name__in=["leak", "ssrf"]).exists()
    assert ml.post(add, endpoint_form(name="fine")).status_code == 302
    assert RegisteredModel.objects.get(name="fine").created_by == personas.ml_engineer
    moved = ml.post(change, {**endpoint_form(name="ml-endpoint"), "api_key_env": "DATABASE_URL"})
    assert moved.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.api_key_env == ALLOWED_KEY


# --- key variables -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "an_app_secret"),
    [("SECRET_KEY", True), ("DATABASE_URL", True), ("CELERY_BROKER_URL", True), ("SOME_TOKEN", False)],
)
def test_a_key_variable_off_the_allow_list_is_refused_at_registration(
    variable: str, an_app_secret: bool, personas: Personas, client_as: Any, settings: Any
) -> None:
    settings.MEDES_ENDPOINT_HOSTS = []
    with translation.override("en"), pytest.raises(ModelError, match=r"MEDES_MODEL_KEY_\*"):
        register_endpoint(personas.ml_engineer, api_key_env=variable)
    page = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en").post(
        reverse("benchmark:model_add"), endpoint_form(api_key_env=variable)
    )
    assert page.status_code == 400 and "MEDES_MODEL_KEY_VARIABLES" in page.content.decode()
    assert not RegisteredModel.objects.exists()
    settings.MEDES_MODEL_KEY_VARIABLES = ["*"]  # even an administrator's "anything" keeps the app's own secrets
    if an_app_secret:
        with translation.override("en"), pytest.raises(ModelError, match="MEDES_MODEL_KEY_VARIABLES"):
            register_endpoint(personas.ml_engineer, api_key_env=variable)
    else:
        assert register_endpoint(personas.ml_engineer, api_key_env=variable).api_key_env == variable


def test_an_old_row_naming_a_secret_sends_nothing_when_it_is_evaluated(
    personas: Personas, endpoint: FakeEndpoint, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row written before the rules (or straight into the database) names SECRET_KEY: the evaluate job refuses it
    before any request; the fake endpoint, which records every Authorization header, is never asked."""
    settings.MEDES_ENDPOINT_HOSTS = ["127.0.0.1"]  # the host is allowed: only the key variable stops it
    settings.MEDES_GENERATOR_RETRIES = 1
    release = release_with_an_item()
    leaky = RegisteredModel.objects.create(
        name="leaky", kind="openai_endpoint", base_url=endpoint.url, model_id="m", api_key_env="SECRET_KEY"
    )
    job = evaluate(leaky, release, personas.ml_engineer)
    assert job.status == JobStatus.FAILED and "MEDES_MODEL_KEY_VARIABLES" in job.error
    assert endpoint.requests == []
    assert settings.SECRET_KEY not in job.error + job.log_tail
    # the same model with an allowed variable sends its key, and only that
    monkeypatch.setenv(ALLOWED_KEY, "sk-model-key")
    RegisteredModel.objects.filter(pk=leaky.pk).update(api_key_env=ALLOWED_KEY)
    endpoint.reply("【最终答案】：B")
    evaluate(leaky, release, personas.ml_engineer)
    assert endpoint.requests[0]["auth"] == "Bearer sk-model-key" and endpoint.requests[0]["model"] == "m"


# --- hosts -------------------------------------------------------------------------------------------------------


@translation.override("en")
def test_internal_addresses_are_refused_at_registration(
    personas: Personas, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MEDES_ENDPOINT_HOSTS, settings.MEDES_ENDPOINT_ALLOW_PRIVATE = [], False
    resolve_to(monkeypatch, "db.corp.example", "10.1.2.3")
    internal = [
        "http://127.0.0.1:6379/",
        "http://169.254.169.254/latest/",
        "http://[::ffff:127.0.0.1]:8000/v1",
        "http://localhost:5432/",
        "http://db.corp.example/v1",
        "http://0x7f000001/",
    ]
    for url in internal:
        with pytest.raises(ModelError, match="not allowed"):
            register_endpoint(personas.ml_engineer, base_url=url)
    settings.MEDES_ENDPOINT_ALLOW_PRIVATE = True  # the administrator's choice: a vLLM on the internal network
    register_endpoint(personas.ml_engineer, base_url="http://db.corp.example/v1")
    with pytest.raises(ModelError, match="not allowed"):  # the metadata service stays closed
        register_endpoint(personas.admin, name="meta", base_url="http://169.254.169.254/")


def test_a_row_whose_host_resolves_to_an_internal_address_is_refused_when_the_job_calls_it(
    personas: Personas, endpoint: FakeEndpoint, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MEDES_ENDPOINT_HOSTS, settings.MEDES_ENDPOINT_ALLOW_PRIVATE = [], False
    settings.MEDES_GENERATOR_RETRIES = 1
    resolve_to(monkeypatch, "llm.example.test", "127.0.0.1")
    port = endpoint.server.server_address[1]
    url = f"http://llm.example.test:{port}/v1"
    model = RegisteredModel.objects.create(name="rebound", kind="openai_endpoint", model_id="m", base_url=url)
    job = evaluate(model, release_with_an_item(), personas.ml_engineer)
    assert job.status == JobStatus.FAILED and "not allowed" in job.error and endpoint.requests == []
    settings.MEDES_ENDPOINT_HOSTS = ["llm.example.test"]  # named, and private allowed: then it is called
    settings.MEDES_ENDPOINT_ALLOW_PRIVATE = True
    endpoint.reply("【最终答案】：B")
    evaluate(model, Release.objects.get(), personas.ml_engineer)
    assert endpoint.requests[0]["host"] == f"llm.example.test:{port}"


# --- what an endpoint says never reaches a page ------------------------------------------------------------------


@pytest.mark.parametrize(("status", "body"), [(500, {"error": SECRET_BODY}), (200, {"detail": SECRET_BODY})])
def test_an_endpoints_reply_never_reaches_the_job_or_its_page(
    status: int, body: dict[str, str], personas: Personas, endpoint: FakeEndpoint, settings: Any, client_as: Any
) -> None:
    settings.MEDES_ENDPOINT_HOSTS = ["127.0.0.1"]
    settings.MEDES_GENERATOR_RETRIES = 1
    model = RegisteredModel.objects.create(name="noisy", kind="openai_endpoint", base_url=endpoint.url, model_id="m")
    endpoint.reply(body, status=status)
    job = evaluate(model, release_with_an_item(), personas.ml_engineer)
    assert job.status == JobStatus.FAILED and len(endpoint.requests) == 1
    expected = "HTTP 500 from the endpoint" if status == 500 else "not a chat completion"
    assert expected in job.error
    run = EvaluationRun.objects.get()
    page = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en").get(reverse("jobs:detail", args=[job.pk]))
    for shown in (job.error, job.log_tail, run.error, page.content.decode()):
        assert "SECRET-BODY" not in shown and "hunter2" not in shown


# --- local directories ---------------------------------------------------------------------------------------------


@translation.override("en")
def test_a_directory_outside_the_models_roots_is_refused_at_registration(
    personas: Personas, roots: Path, tmp_path: Path, client_as: Any
) -> None:
    (roots / "escape").symlink_to("/etc")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    for path in ("/etc", f"{roots}/../outside", str(roots / "escape"), str(outside), "/", "relative/model"):
        with pytest.raises(ModelError):
            register_model(name="x", kind=ModelKind.HF_DIRECTORY, path=path, user=personas.ml_engineer)
    page = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en").post(
        reverse("benchmark:model_add"), {"name": "x", "kind": "hf_directory", "path": "/etc"}
    )
    assert page.status_code == 400 and "MEDES_MODELS_ROOTS" in page.content.decode()
    assert not RegisteredModel.objects.exists()
    register_model(name="qwen", kind=ModelKind.HF_DIRECTORY, path=str(roots / "qwen"), user=personas.ml_engineer)


def test_a_directory_row_outside_the_roots_is_refused_when_the_job_loads_it(
    personas: Personas, roots: Path, tmp_path: Path, endpoint: FakeEndpoint
) -> None:
    (roots / "escape").symlink_to(tmp_path / "outside")
    (tmp_path / "outside").mkdir()
    release = release_with_an_item()
    for path in ("/etc", str(roots / "escape"), f"{roots}/../outside"):
        model = RegisteredModel.objects.create(name=path, kind="hf_directory", path=path)
        job = evaluate(model, release, personas.ml_engineer)
        assert job.status == JobStatus.FAILED and "outside the models folders" in job.error, job.error
    assert not Response.objects.exists()


def test_training_bases_and_accelerate_configs_outside_the_roots_are_refused_when_entered(
    personas: Personas, roots: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text("{}")  # a real model directory, in the wrong place
    (outside / "accelerate.yaml").write_text("compute_environment: LOCAL_MACHINE\n")
    with translation.override("en"):
        knobs = {"epochs": 1, "learning_rate": 0.001, "batch_size": 4, "max_length": 64, "lora_r": 4}
        form = TrainForm({"base_model": str(outside), "critic_base": "/etc", **knobs})
        assert not form.is_valid() and {"base_model", "critic_base"} <= set(form.errors)
        assert "MEDES_MODELS_ROOTS" in form.errors["base_model"][0]
        for path in (str(outside / "accelerate.yaml"), "/etc/passwd", str(roots / "qwen" / "config.json") + "x"):
            options = RunOptionsForm({"accelerate_config": path})
            assert not options.is_valid() and "accelerate_config" in options.errors, path
        (roots / "accelerate.yaml").write_text("compute_environment: LOCAL_MACHINE\n")
        assert "accelerate_config" not in RunOptionsForm({"accelerate_config": str(roots / "accelerate.yaml")}).errors
        for config in ({"base_model": str(outside)}, {"base_model": str(roots / "qwen"), "critic_base": str(outside)}):
            with pytest.raises(JobError, match="outside the models folders"):
                enqueue_job(TRAIN_JOB, config, user=personas.ml_engineer)
    assert not Job.objects.exists()


def test_jobs_whose_stored_paths_lie_outside_the_roots_fail_before_loading_anything(
    personas: Personas, roots: Path
) -> None:
    """Rows written before the rule (or edited in the database) are checked again when the job starts."""
    trained = Job.objects.create(kind=TRAIN_JOB, config={"base_model": "/etc", "options": {}})
    launch = {"stage": "sft", "dataset": 1, "base_model": str(roots), "accelerate_config": "/etc/passwd"}
    policy = Job.objects.create(kind=POLICY_JOB, config={**launch, "options": {}})
    GuardianVersion.objects.create(
        number=1, base_model="/etc", model_dir="guardian/v1", status=VersionStatus.READY, is_active=True
    )
    judged = Job.objects.create(kind=JUDGE_JOB, config={"responses": []})
    for job in (trained, policy, judged):
        with translation.override("en"):
            assert execute_job(job.pk) == JobStatus.FAILED
        job.refresh_from_db()
        assert "outside the models folders" in job.error, job.error
    assert not GuardianVersion.objects.exclude(number=1).exists()


# --- who sees where a model runs ---------------------------------------------------------------------------------


def test_curators_and_reviewers_see_what_a_model_is_not_where_it_runs(personas: Personas, client_as: Any) -> None:
    model = RegisteredModel.objects.create(
        name="vllm",
        kind="openai_endpoint",
        base_url="http://10.0.0.7:8000/v1",
        model_id="qwen",
        api_key_env=ALLOWED_KEY,
    )
    for user in (personas.curator, personas.reviewer):
        client = client_as(user)
        listed = client.get(reverse("api-model-list")).json()["results"][0]
        detail = client.get(reverse("api-model-detail", args=[model.pk])).json()
        for shown in (listed, detail):
            assert shown["name"] == "vllm" and shown["kind"] == "openai_endpoint"
            assert not {"base_url", "path", "api_key_env", "model_id"} & set(shown)
    page = client_as(personas.curator).get(reverse("benchmark:model", args=[model.pk])).content.decode()
    assert "10.0.0.7" not in page and ALLOWED_KEY not in page
    ml = client_as(personas.ml_engineer)
    detail = ml.get(reverse("api-model-detail", args=[model.pk])).json()
    assert detail["base_url"] == "http://10.0.0.7:8000/v1" and detail["api_key_env"] == ALLOWED_KEY
    assert "10.0.0.7" in ml.get(reverse("benchmark:model", args=[model.pk])).content.decode()
