"""The corpus run on Ray Data (local mode, several partitions) equals the in-process run.

Skipped where Ray is not installed (it is optional; requirements-dev.txt installs it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.corpus import sources
from core.corpus.run import run_corpus
from core.models.registry import BUNDLED_MODEL_ID

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own
ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'ray[data]==2.60.0'")


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    yield
    if started and ray.is_initialized():
        ray.shutdown()


def test_ray_equals_in_process(bundled_model, local_ray) -> None:
    from core.corpus import ray_runner

    corpus = sources.Corpus.of(sources.builtin("sample_en").sentences[:45], name="sample, first 45")
    here = run_corpus(bundled_model, corpus, 8, store=False, reuse=False)
    # Three partitions (16 + 16 + 13 sentences), one actor, Ray started on this machine.
    there = ray_runner.run_corpus_ray(BUNDLED_MODEL_ID, corpus, 8, partition_size=16, device="cpu", num_cpus=2)
    assert there.meta["runner"] == "ray" and there.complete and there.done == here.done == 45
    assert there.meta["key"] == here.meta["key"] or here.meta["key"] is None
    moment_cols = [c for c in here.heads.columns if c.endswith(("__mean", "__sd", "__ci_low", "__ci_high"))]
    # Partitions batch the sentences differently: attention agrees to float rounding (~1e-7), so do
    # the statistics.
    np.testing.assert_allclose(there.heads[moment_cols].to_numpy(float), here.heads[moment_cols].to_numpy(float),
                               atol=2e-6, equal_nan=True)
    counts = [c for c in here.heads.columns if c.endswith("__n") or c.startswith("pattern__")]
    pd.testing.assert_frame_equal(there.heads[counts], here.heads[counts])
    # The pools hold the whole corpus (45 < 128 candidates): typical sentences are ranked exactly.
    for kind in ("typical_index", "atypical_index", "typical_text"):
        assert [list(x) for x in there.heads[kind]] == [list(x) for x in here.heads[kind]]


def test_state_bytes_round_trip(bundled_model) -> None:
    from core.corpus import ray_runner

    agg = ray_runner.summarise(bundled_model, ["The cat sat.", "Dogs bark."], [3, 7], 2, 128)
    back = ray_runner.state_from_bytes(ray_runner.state_to_bytes(agg))
    for name, value in agg.to_state().items():
        assert np.array_equal(back.to_state()[name], value, equal_nan=True)
