"""The benchmark app's models, one module per area: ``corpus`` (sources and their provisions), ``scenarios``
(the scene taxonomy, scenarios and releases), ``responses`` (registered models and their answers), ``uploads``
(files waiting to be imported), ``amendments`` (a new source version compared with the old) and ``generation``
(prompt templates and near-duplicate flags). Every model and choice class is re-exported here: import them from
``benchmark.models``."""

from __future__ import annotations

from benchmark.models.amendments import Amendment, AmendmentChange, ChangeKind
from benchmark.models.corpus import ParseStatus, Provision, Source, SourceKind
from benchmark.models.generation import NearDuplicate, PromptTemplate
from benchmark.models.responses import ModelKind, RegisteredModel, Response, ResponseOrigin
from benchmark.models.scenarios import (
    Principle,
    Release,
    ReleaseItem,
    Scenario,
    ScenarioKind,
    ScenarioOrigin,
    ScenarioScene,
    ScenarioStatus,
    Scene,
)
from benchmark.models.uploads import ImportFormat, ImportUpload

__all__ = [
    "Amendment",
    "AmendmentChange",
    "ChangeKind",
    "ImportFormat",
    "ImportUpload",
    "ModelKind",
    "NearDuplicate",
    "ParseStatus",
    "Principle",
    "PromptTemplate",
    "Provision",
    "RegisteredModel",
    "Release",
    "ReleaseItem",
    "Response",
    "ResponseOrigin",
    "Scenario",
    "ScenarioKind",
    "ScenarioOrigin",
    "ScenarioScene",
    "ScenarioStatus",
    "Scene",
    "Source",
    "SourceKind",
]
