"""Demo data for the benchmark app: the six laws shipped in demo/laws, registered as sources; sixteen scenarios
written for the demo (scenarios.json, each grounded in one article of those laws), accepted and published as
the release DEMO_RELEASE; and two imported demo models' answers to them (one careful, one careless), which
annotation's demo campaigns and the guardian's demo training use."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from benchmark.models import (
    ModelKind,
    ParseStatus,
    Provision,
    RegisteredModel,
    Release,
    ResponseOrigin,
    Scenario,
    ScenarioKind,
    ScenarioStatus,
    Scene,
    SourceKind,
)
from benchmark.releases import publish_release
from benchmark.responses import register_model, store_response
from benchmark.scenarios import create_scenario
from benchmark.services import SourceMeta, add_source, parse_source
from benchmark.taxonomy import ensure_taxonomy

LAWS = Path(__file__).resolve().parent / "laws"
SCENARIOS = Path(__file__).resolve().parent / "scenarios.json"
DEMO_RELEASE = "MedES 演示版 1"
CAREFUL, CARELESS = "demo-careful", "demo-careless"


def load(out: TextIO, **options: Any) -> None:
    ensure_taxonomy()
    manifest = json.loads((LAWS / "manifest.json").read_text(encoding="utf-8"))
    added = 0
    sources: dict[str, Any] = {}
    for entry in manifest:
        meta = SourceMeta(
            title=entry["title"],
            kind=SourceKind(entry["kind"]),
            issuer=entry.get("issuer", ""),
            promulgated_on=date.fromisoformat(entry["promulgated_on"]) if entry.get("promulgated_on") else None,
            effective_on=date.fromisoformat(entry["effective_on"]) if entry.get("effective_on") else None,
            version=entry.get("version", ""),
        )
        with (LAWS / entry["file"]).open("rb") as stream:
            source, created = add_source(stream, entry["file"], meta)
        added += created
        sources[entry["title"]] = source
        if source.parse_status != ParseStatus.PARSED:
            parse_source(source)  # the six files parse in milliseconds; no job needed for demo data
    out.write(f"Sources: {added} added, {len(manifest) - added} already present; all parsed.\n")
    load_scenarios(out, sources)


def has_demo() -> bool:
    """The demo benchmark is loaded here (the demo release exists)."""
    return Release.objects.filter(name=DEMO_RELEASE).exists()


def demo_items() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(SCENARIOS.read_text(encoding="utf-8"))
    return data


def load_scenarios(out: TextIO, sources: dict[str, Any]) -> None:
    """The demo scenarios (accepted, each linked to its article in the demo law ``sources`` name by title), the
    demo release, and the two imported demo models' answers. Nothing is added twice: scenarios are found by
    content, the release and models by name. A database that already has scenarios of its own gets none of this:
    the demo release would freeze them with the demo's, and the demo labels would train its guardian."""
    if not has_demo() and Scenario.objects.exists():
        out.write("Scenarios: this database has scenarios of its own; the demo benchmark is left out.\n")
        return
    items = demo_items()
    created = 0
    answers: dict[str, list[tuple[Any, str]]] = {CAREFUL: [], CARELESS: []}
    for kind, entries in ((ScenarioKind.SUBJECTIVE, items["subjective"]), (ScenarioKind.OBJECTIVE, items["objective"])):
        for entry in entries:
            provision = Provision.objects.get(source=sources[entry["source"]], number=entry["article"], suffix=0)
            scene = Scene.objects.get(name=entry["scene"])
            fields: dict[str, Any] = {
                "kind": kind,
                "stem": entry["stem"],
                "scene": scene,
                "origin": "expert",
                "origin_detail": "demo",
                "status": ScenarioStatus.ACCEPTED,
                "norm": provision.text,
            }
            if kind == ScenarioKind.OBJECTIVE:
                fields.update(options=entry["options"], key=entry["key"])
            else:
                fields["reference_answer"] = entry["reference_answer"]
            scenario, new = create_scenario(**fields)
            if new:
                scenario.provisions.add(provision)
                created += 1
            if kind == ScenarioKind.OBJECTIVE:
                answers[CAREFUL].append((scenario, f"答案：{entry['key']}"))
                answers[CARELESS].append((scenario, f"我选 {entry['careless_key']}。"))
            else:
                answers[CAREFUL].append((scenario, entry["careful"]))
                answers[CARELESS].append((scenario, entry["careless"]))
    release = Release.objects.filter(name=DEMO_RELEASE).first()
    if release is None:
        release = publish_release(DEMO_RELEASE, notes="The workbench's demo scenarios (not MedES data).")
    stored = 0
    for name, pairs in answers.items():
        model = RegisteredModel.objects.filter(name=name).first() or register_model(
            name=name, kind=ModelKind.IMPORTED, notes="Demo answers written by hand, for trying the workbench."
        )
        for scenario, text in pairs:
            stored += store_response(model, scenario, text, origin=ResponseOrigin.IMPORTED, origin_detail="demo")[1]
    out.write(f"Scenarios: {created} added; release {release.name}; {stored} demo answers added.\n")
