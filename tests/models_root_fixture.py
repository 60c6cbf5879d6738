"""Tests build their tiny models in pytest's temporary folders: there, those folders count as a models root
(MEDES_MODELS_ROOTS, medes_site.model_dirs), in this process and in the workers a test starts (they read the
environment). Used by conftest.py; the rule itself is tested in tests/test_model_registry_security.py, which
sets the roots it needs."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _models_in_tmp(settings: Any, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.MEDES_MODELS_ROOTS = [*settings.MEDES_MODELS_ROOTS, tmp_path_factory.getbasetemp()]
    monkeypatch.setenv("MEDES_MODELS_ROOTS", ",".join(str(root) for root in settings.MEDES_MODELS_ROOTS))
