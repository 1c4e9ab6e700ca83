"""Fixtures shared by the AppTests of pages that need a model with an output head."""

from __future__ import annotations

import pytest

from tests.tiny_models import with_heads_once


@pytest.fixture(scope="module")
def lm_folders() -> dict[str, str]:
    """The tiny models WITH their heads, by family: their folders are their ids in the app."""
    return {family: str(loaded.info.source) for family, loaded in with_heads_once().items()}


@pytest.fixture()
def with_lms(monkeypatch, lm_folders) -> dict[str, str]:
    """The tiny models with heads registered as the app's extra models for one test."""
    monkeypatch.setenv("ATTENTION_DASHBOARD_MODELS", ",".join(lm_folders.values()))
    return lm_folders
