"""core.models: registry, refusal of unknown ids and paths, availability, loading.

Network rule for these tests: only loopback addresses (a socket server started here, or a
closed local port), never a real host.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from core.models import availability, loading, registry as registry_module
from core.errors import ModelUnavailableError, UnknownModelError
from core.models.registry import BUNDLED_MODEL_ID, DEFAULT_MODEL_ID, ENV_EXTRA_MODELS, registry, resolve_spec
from core.models.availability import Availability, check_availability, choose_default
from core.models.loading import load_model
from tests.tiny_models import model_folder

CORE = Path(__file__).resolve().parents[2] / "core"
OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "ATTENTION_DASHBOARD_OFFLINE", "TRANSFORMERS_OFFLINE")


@pytest.fixture
def fresh_probe():
    availability.reset_probe_cache()
    yield
    availability.reset_probe_cache()


@pytest.fixture
def online(monkeypatch, fresh_probe):
    """Offline switches off, so availability is decided by the probe (of a local endpoint)."""
    for flag in OFFLINE_FLAGS:
        monkeypatch.delenv(flag, raising=False)
    return monkeypatch


@pytest.fixture
def listening_port():
    """A loopback TCP server that accepts connections (the probe only needs the handshake)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connecting is refused at once
    return port


def _skip_if_cached(model_id: str) -> None:
    if availability._in_hf_cache(registry()[model_id].source):
        pytest.skip(f"{model_id} is in this machine's Hugging Face cache")


# --- registry and refusals -----------------------------------------------------------------

def test_registry_has_known_models_and_the_bundled_one():
    reg = registry()
    for mid in (DEFAULT_MODEL_ID, "bert-base-uncased", "roberta-base", "gpt2", BUNDLED_MODEL_ID):
        assert mid in reg
    bundled = reg[BUNDLED_MODEL_ID]
    assert bundled.is_local and (Path(bundled.source) / "config.json").is_file()
    assert list(reg)[0] == DEFAULT_MODEL_ID


def test_unknown_model_id_lists_known_ids():
    with pytest.raises(UnknownModelError) as info:
        resolve_spec("no-such-model")
    msg = str(info.value)
    assert "no-such-model" in msg
    for mid in (DEFAULT_MODEL_ID, BUNDLED_MODEL_ID, "gpt2"):
        assert mid in msg and mid in info.value.known
    assert "ATTENTION_DASHBOARD_MODELS" in msg
    with pytest.raises(UnknownModelError):
        load_model("no-such-model")


@pytest.mark.parametrize("trick", ["../../etc", "/etc/passwd", "a/b/c", "..", ".", "/", "~", "~/models",
                                   "./core", "gpt2/../../etc", "C:\\Windows", "", " gpt2", "gpt2\x00",
                                   "bert-base-uncased/../gpt2", "x" * 500])
def test_path_tricks_are_refused(trick):
    t0 = time.perf_counter()
    with pytest.raises(UnknownModelError) as info:
        check_availability(trick)
    with pytest.raises(UnknownModelError):
        load_model(trick)
    assert time.perf_counter() - t0 < 1.0
    assert len(str(info.value)) < 1000  # a 500-char id is shortened in the message


def test_non_string_ids_are_refused():
    for bad in (None, 3, ["gpt2"]):
        with pytest.raises(UnknownModelError):
            resolve_spec(bad)  # type: ignore[arg-type]


def test_validate_hub_id():
    good = ["gpt2", "distilbert-base-uncased", "sentence-transformers/all-MiniLM-L6-v2", "a.b_c-d/e.f"]
    bad = ["..", "../x", "a/../b", "/abs", "a/b/c", "a b", ".hidden", "a/.b", "", "x" * 200]
    assert all(registry_module.validate_hub_id(g) for g in good)
    assert not any(registry_module.validate_hub_id(b) for b in bad)


def test_extra_models_from_configuration(monkeypatch, tiny_models, tiny_models_dir):
    folder = model_folder(tiny_models_dir, "bert")
    monkeypatch.setenv(ENV_EXTRA_MODELS, f" {folder} , someone/some-model,../escape, relative/dir/x, "
                                         f"{tiny_models_dir / 'no-such-folder'},,")
    reg = registry()
    assert str(folder) in reg and reg[str(folder)].is_local
    assert "someone/some-model" in reg and not reg["someone/some-model"].is_local
    assert "../escape" not in reg and "relative/dir/x" not in reg
    assert str(tiny_models_dir / "no-such-folder") not in reg
    assert check_availability(str(folder)).availability is Availability.READY
    status = check_availability("someone/some-model")  # offline in tests
    assert status.availability is Availability.UNAVAILABLE and "offline" in status.reason
    loaded = load_model(str(folder), device="cpu")
    assert loaded.info.model_type == "bert" and loaded.info.num_layers == 2
    # without the setting the folder is refused again
    monkeypatch.delenv(ENV_EXTRA_MODELS)
    with pytest.raises(UnknownModelError):
        load_model(str(folder))


# --- availability ---------------------------------------------------------------------------

def test_offline_default_is_the_bundled_model_with_a_reason(fresh_probe):
    assert availability.offline_mode()
    mid, reason = choose_default()
    assert mid == BUNDLED_MODEL_ID
    assert "offline" in reason and "all-MiniLM-L6-v2" in reason
    assert check_availability(BUNDLED_MODEL_ID).availability is Availability.READY


def test_offline_never_probes(monkeypatch, fresh_probe):
    def no_network(*args, **kwargs):
        raise AssertionError("probed the network in offline mode")

    monkeypatch.setattr(availability.socket, "create_connection", no_network)
    for mid in ("gpt2", "roberta-base", DEFAULT_MODEL_ID):
        if availability._in_hf_cache(registry()[mid].source):
            continue
        status = check_availability(mid)
        assert status.availability is Availability.UNAVAILABLE and not status.usable
        assert "offline" in status.reason
    assert availability.hub_reachable() is False


def test_unavailable_model_fails_fast_and_names_alternatives():
    _skip_if_cached(DEFAULT_MODEL_ID)
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as info:
        load_model(DEFAULT_MODEL_ID)
    elapsed = time.perf_counter() - t0
    assert elapsed < 3.0, f"took {elapsed:.1f} s"
    err = info.value
    assert err.model_id == DEFAULT_MODEL_ID
    assert BUNDLED_MODEL_ID in err.available and BUNDLED_MODEL_ID in str(err)
    assert "offline" in str(err)


def test_probe_of_a_listening_local_endpoint_says_downloadable(online, listening_port):
    _skip_if_cached(DEFAULT_MODEL_ID)
    online.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listening_port}")
    assert not availability.offline_mode()
    status = check_availability(DEFAULT_MODEL_ID)
    assert status.availability is Availability.DOWNLOADABLE and status.usable
    assert "answered" in status.reason
    mid, reason = choose_default()
    assert mid == DEFAULT_MODEL_ID and "downloadable" in reason


def test_probe_of_a_closed_local_port_says_unavailable_quickly(online, closed_port):
    _skip_if_cached("gpt2")
    online.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    t0 = time.perf_counter()
    status = check_availability("gpt2")
    assert status.availability is Availability.UNAVAILABLE
    assert "unreachable" in status.reason
    with pytest.raises(ModelUnavailableError) as info:
        load_model("gpt2")
    assert time.perf_counter() - t0 < 2.0
    assert BUNDLED_MODEL_ID in info.value.available
    mid, _ = choose_default()
    assert mid == BUNDLED_MODEL_ID


def test_probe_is_remembered_per_endpoint(online, listening_port, closed_port, monkeypatch):
    calls = []
    real = availability.socket.create_connection

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(availability.socket, "create_connection", counting)
    online.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listening_port}")
    assert availability.hub_reachable() and availability.hub_reachable()
    online.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}/")
    assert not availability.hub_reachable() and not availability.hub_reachable()
    assert calls == [("127.0.0.1", listening_port), ("127.0.0.1", closed_port)]
    availability.reset_probe_cache()
    online.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listening_port}")
    assert availability.hub_reachable() and len(calls) == 3


@pytest.mark.parametrize("endpoint", ["http://", "not a url", "http://127.0.0.1:notaport"])
def test_probe_of_a_malformed_endpoint_is_false(online, endpoint):
    online.setenv("HF_ENDPOINT", endpoint)
    t0 = time.perf_counter()
    assert availability.hub_reachable(timeout=0.5) is False
    assert time.perf_counter() - t0 < 1.5


# --- loading -----------------------------------------------------------------------------------

def test_bundled_model_info_and_state(bundled_model):
    info = bundled_model.info
    assert (info.model_id, info.model_type) == (BUNDLED_MODEL_ID, "bert")
    assert (info.num_layers, info.num_heads, info.hidden_size) == (6, 12, 384)
    assert info.vocab_size == 30522 and info.max_positions == 512
    assert info.causal is False and info.device == "cpu"
    assert 20_000_000 < info.num_parameters < 25_000_000
    model = bundled_model.model
    assert model.training is False
    assert model.config._attn_implementation == "eager"
    assert not any(p.requires_grad for p in model.parameters())
    assert bundled_model.tokenizer.is_fast


def test_tiny_model_infos(tiny_models):
    expected = {
        "distilbert": ("distilbert", False, 128),
        "bert": ("bert", False, 128),
        "roberta": ("roberta", False, 64),  # 66 positions minus RoBERTa's padding offset
        "gpt2": ("gpt2", True, 64),
    }
    for family, loaded in tiny_models.items():
        mtype, causal, max_pos = expected[family]
        info = loaded.info
        assert (info.model_type, info.causal, info.max_positions) == (mtype, causal, max_pos)
        assert (info.num_layers, info.num_heads, info.hidden_size) == (2, 2, 32)
        assert loaded.model.config._attn_implementation == "eager"
        assert loaded.tokenizer.is_fast


def test_pick_device(monkeypatch):
    import torch

    assert loading.pick_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert loading.pick_device("cuda") == "cpu"
        assert loading.pick_device("cuda:1") == "cpu"
    monkeypatch.setenv(registry_module.ENV_DEVICE, "cpu")
    assert loading.pick_device() == "cpu"


def test_trust_remote_code_never_true_in_source():
    pattern = re.compile(r"trust_remote_code\W{0,4}(=|:)\s*(True|1|\"|')")
    for path in CORE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not pattern.search(text), f"{path.name} passes trust_remote_code=True"


def test_trust_remote_code_is_false_at_load_time(monkeypatch, tiny_models, tiny_models_dir):
    import transformers

    seen = []
    for cls in (transformers.AutoTokenizer, transformers.AutoModel):
        original = cls.from_pretrained

        def spy(*args, _original=original, **kwargs):
            seen.append(kwargs)
            return _original(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", staticmethod(spy))
    loading.load_from_source(str(model_folder(tiny_models_dir, "gpt2")), local_only=True, device="cpu")
    assert len(seen) == 2
    assert all(kw.get("trust_remote_code") is False for kw in seen)
    assert all(kw.get("local_files_only") is True for kw in seen)
    assert seen[1].get("attn_implementation") == "eager"
