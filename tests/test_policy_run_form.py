"""Starting one SFT or DPO run from the alignment data page, with its knobs (issue 6, item 3): what the form
sends is what the job runs with; bad choices are refused with the reason and start nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.urls import reverse

from alignment.forms import PolicyRunForm
from alignment.kinds import POLICY_JOB
from alignment.models import AlignmentDataset
from benchmark.models import ModelKind
from benchmark.responses import register_model
from medes_site.models import Job
from tests.factories import Personas


def run_post(**changes: Any) -> dict[str, str]:
    form = PolicyRunForm()
    data = {n: f.initial for n, f in form.fields.items() if f.initial is not None and f.initial is not False}
    data.pop("request_key", None)
    data.update(changes)
    return {key: str(value) for key, value in data.items()}


def test_the_data_page_starts_a_run_with_the_knobs_and_refuses_bad_choices(
    personas: Personas, client_as: Any, tmp_path: Path, settings: Any
) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    base = register_model(name="local-base", kind=ModelKind.HF_DIRECTORY, path=str(tmp_path))
    sft = AlignmentDataset.objects.create(name="d-sft", kind="sft", path="x.jsonl", sha256="0" * 64, rows=3)
    dpo = AlignmentDataset.objects.create(name="d-dpo", kind="dpo", path="y.jsonl", sha256="0" * 64, rows=3)
    ml = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("alignment:data_start_run")
    page = ml.get(reverse("alignment:data")).content.decode()
    assert 'data-testid="run-form"' in page and "local-base" in page and "d-dpo" in page

    # an SFT run on a DPO dataset, a DPO run from a run that never finished, a rank of 0: refused, nothing starts
    wrong_kind = ml.post(url, run_post(stage="sft", dataset=dpo.pk, base=base.pk))
    assert wrong_kind.status_code == 400 and "in the DPO format; SFT runs need SFT data" in wrong_kind.content.decode()
    unfinished = Job.objects.create(
        kind=POLICY_JOB, status="succeeded", config={"stage": "sft", "base_model": str(tmp_path)}
    )
    no_manifest = ml.post(url, run_post(stage="dpo", dataset=dpo.pk, base=base.pk, start_from=unfinished.pk))
    assert (
        no_manifest.status_code == 400 and "Start from a policy run that has succeeded" in no_manifest.content.decode()
    )
    bad_rank = ml.post(url, run_post(stage="sft", dataset=sft.pk, base=base.pk, lora_r=0))
    assert bad_rank.status_code == 400 and Job.objects.filter(status="queued").count() == 0
    # what the trainer would refuse only after the earlier steps had run is refused here
    no_beta = ml.post(url, run_post(stage="dpo", dataset=dpo.pk, base=base.pk, beta=0))
    assert no_beta.status_code == 400 and "Beta must be greater than 0." in no_beta.content.decode()
    settings.MEDES_DEVICE = "cpu"
    on_cpu = ml.post(url, run_post(stage="sft", dataset=sft.pk, base=base.pk, bf16="on"))
    assert on_cpu.status_code == 400 and "bf16 needs a GPU" in on_cpu.content.decode()
    settings.MEDES_DEVICE = "auto"
    other_base = Job.objects.create(kind=POLICY_JOB, status="succeeded", config={"stage": "sft", "base_model": "/x"})
    mismatch = ml.post(url, run_post(stage="dpo", dataset=dpo.pk, base=base.pk, start_from=other_base.pk))
    assert mismatch.status_code == 400 and "an adapter for another base model (/x)" in mismatch.content.decode()
    unmerged = ml.post(url, run_post(stage="sft", dataset=sft.pk, base=base.pk, register_as="mine"))
    assert unmerged.status_code == 400 and "Only a merged model can be registered" in unmerged.content.decode()
    taken = ml.post(url, run_post(stage="sft", dataset=sft.pk, base=base.pk, register_as="local-base", merge="on"))
    assert taken.status_code == 400 and "A model named local-base is already registered." in taken.content.decode()
    assert Job.objects.filter(status="queued").count() == 0

    started = ml.post(
        url,
        run_post(
            stage="sft",
            dataset=sft.pk,
            base=base.pk,
            max_steps=7,
            learning_rate=1e-4,
            lora_r=16,
            lora_alpha=32,
            target_modules="q_proj, v_proj",
            bf16="on",
            gradient_checkpointing="on",
            merge="on",
            register_as="local-base-sft",
            processes=2,
        ),
    )
    job = Job.objects.get(status="queued")
    assert started.status_code == 302 and started["Location"] == reverse("jobs:detail", args=[job.pk])
    assert job.kind == POLICY_JOB and job.queue == "gpu" and job.triggered_by == personas.ml_engineer
    assert (
        job.config["stage"] == "sft" and job.config["dataset"] == sft.pk and job.config["base_model"] == str(tmp_path)
    )
    options = job.config["options"]
    assert options["max_steps"] == 7 and options["learning_rate"] == 1e-4 and options["lora_r"] == 16
    assert options["target_modules"] == ["q_proj", "v_proj"] and options["bf16"] and options["merge"]
    assert options["gradient_checkpointing"] and options["loss_type"] == "sigmoid"
    assert job.config["register_as"] == "local-base-sft" and job.config["processes"] == 2
    # an annotator cannot start one
    assert (
        client_as(personas.annotator).post(url, run_post(stage="sft", dataset=sft.pk, base=base.pk)).status_code == 403
    )
