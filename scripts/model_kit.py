"""Model kit for a workshop without Wi-Fi: run this once while online, then the room runs offline.

    .venv/bin/python scripts/model_kit.py                      # DistilBERT + its SST-2 fine-tuned copy
    .venv/bin/python scripts/model_kit.py --models distilbert-base-uncased bert-base-uncased gpt2
    .venv/bin/python scripts/model_kit.py --sentences my_sentences.txt   # + the presenter's sentences
    .venv/bin/python scripts/model_kit.py --models generation  # DistilGPT-2, GPT-2, opus-mt-en-de, t5-small
    .venv/bin/python scripts/model_kit.py --list                # the models and their sizes, nothing fetched

For each model: asks the Hub for its files and sizes (printed first), downloads configuration,
tokenizer and safetensors weights into the Hugging Face cache with a progress bar
(huggingface_hub's snapshot_download, allow_patterns), through a staging folder so that a full
disk or a broken connection never leaves half a model that the app would call ready; then loads
it and precomputes the tutorial's six sentences, the she/he minimal pair and the presenter's
sentences (one per line; blank lines and lines starting with # are skipped) into the app's result
store (ATTENTION_DASHBOARD_CACHE_DIR, default ~/.cache/attention-dashboard/results), so the first
views draw at once. An encoder-decoder model (opus-mt-en-de, t5-small) is loaded instead and
translates the first sentence once (the attention pages do not show it, so nothing is stored). Afterwards start the app with ATTENTION_DASHBOARD_OFFLINE=1 (or HF_HUB_OFFLINE=1)
and the picker shows these models as ready. Exit status 1 when any model failed (the message says why).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.compare.align import MINIMAL_PAIRS  # noqa: E402
from core.examples import EXAMPLES  # noqa: E402
from core.models import availability, download  # noqa: E402
from core.models.registry import all_models, comparison_pairs  # noqa: E402

DEFAULT_MODELS = tuple(dict.fromkeys(m for pair in comparison_pairs() for m in pair)) or ("distilbert-base-uncased",)
# The Generate page's causal models and the source / target views' encoder-decoder models.
GENERATION_MODELS = ("distilgpt2", "gpt2", "Helsinki-NLP/opus-mt-en-de", "t5-small")
T5_PREFIX = "translate English to German: "  # t5-small's task prefix for the check translation
MAX_SENTENCES = 200
MAX_SENTENCE_CHARS = 2000


def kit_sentences(path: str | Path | None = None) -> list[str]:
    """The tutorial's six sentences, the minimal pairs, then the presenter's file (if any), once each."""
    texts = list(EXAMPLES.values()) + [t for pair in MINIMAL_PAIRS for t in pair]
    if path is not None:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        own = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
        texts += [t[:MAX_SENTENCE_CHARS] for t in own[:MAX_SENTENCES]]
    return list(dict.fromkeys(texts))


def hub_models() -> list[str]:
    return [mid for mid, spec in all_models().items() if not spec.is_local]


def _progress_bar(enabled: bool) -> type:
    from tqdm.auto import tqdm  # a dependency of huggingface_hub

    if enabled:
        return tqdm

    class Silent(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def fetch(model_id: str, *, progress: bool, force: bool) -> bool:
    spec = all_models()[model_id]
    if not force and availability._in_hf_cache(spec.source, spec.extra_files):
        print(f"{model_id}: already in the Hugging Face cache (ready)")
        return True
    missing = [name for name in spec.extra_files if not download.wanted(name)]
    if missing:  # the downloader would leave the model unloadable: say so before fetching anything
        print(f"{model_id}: needs {', '.join(missing)}, which core.models.download does not fetch "
              "(its ALLOW_PATTERNS); nothing downloaded", file=sys.stderr)
        return False
    try:
        plan = download.plan_download(model_id)
        print(f"{model_id}: {plan.size_text} to download")
        folder = download.snapshot_into_cache(plan, tqdm_class=_progress_bar(progress))
    except download.DownloadError as err:
        print(f"{model_id}: {err}", file=sys.stderr)
        return False
    print(f"{model_id}: ready in {folder}")
    return True


def precompute(model_id: str, texts: list[str]) -> int:
    """Compute and store every text's attention; returns how many the store holds afterwards."""
    from core.attention.engine import AttentionEngine
    from core.attention.store import ResultStore

    store = ResultStore.from_env()
    if store is None:
        print(f"{model_id}: the result store is off (ATTENTION_DASHBOARD_CACHE_DIR=off); nothing precomputed")
        return 0
    engine = AttentionEngine(store=store)
    stored = 0
    for text in texts:
        engine.result(model_id, text)
        stored += engine.peek(model_id, text) is not None
    print(f"{model_id}: {stored} of {len(texts)} sentences precomputed into {store.root}")
    return stored


def check_encoder_decoder(model_id: str, text: str) -> None:
    """Load an encoder-decoder model and translate one sentence greedily (a check, nothing stored)."""
    from core.generate.seq2seq import load_seq2seq, run_seq2seq

    loaded = load_seq2seq(model_id, device="cpu")
    source = (T5_PREFIX + text) if loaded.info.model_type == "t5" else text
    result = run_seq2seq(loaded, source)
    print(f"{model_id}: loaded; {source!r} -> {result.target.text!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help=f"model ids from the registry, 'generation' ({' '.join(GENERATION_MODELS)}) "
                             f"or 'all' (default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--sentences", type=Path, help="a UTF-8 file of the presenter's sentences, one per line")
    parser.add_argument("--no-precompute", action="store_true", help="only download")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--force", action="store_true", help="download again even if the model is ready")
    parser.add_argument("--list", action="store_true", help="list the models and their sizes; fetch nothing")
    args = parser.parse_args(argv)

    presets = {"all": hub_models(), "generation": list(GENERATION_MODELS)}
    models = list(dict.fromkeys(m for name in args.models for m in presets.get(name, [name])))
    known = all_models()
    unknown = [m for m in models if m not in known or known[m].is_local]
    if unknown:
        print(f"not Hub models of this app: {', '.join(unknown)}; choose from {', '.join(hub_models())}",
              file=sys.stderr)
        return 2
    if args.list:
        for mid in models:
            spec = known[mid]
            ready = "ready" if availability._in_hf_cache(spec.source, spec.extra_files) else "not downloaded"
            try:
                size = download.plan_download(mid).size_text
            except download.DownloadError as err:
                size = str(err)
            print(f"{mid}: {ready}; {size}")
        return 0
    texts = kit_sentences(args.sentences) if not args.no_precompute else []
    ok = True
    for mid in models:
        if not fetch(mid, progress=not args.no_progress, force=args.force):
            ok = False
            continue
        if texts:
            os.environ["ATTENTION_DASHBOARD_OFFLINE"] = "1"  # load what was just downloaded, no probe
            try:
                if known[mid].encoder_decoder:
                    check_encoder_decoder(mid, texts[0])
                else:
                    precompute(mid, texts)
            except Exception as err:  # noqa: BLE001 - one line, then the next model
                print(f"{mid}: downloaded, but loading or precomputing failed: {err}", file=sys.stderr)
                ok = False
            finally:
                os.environ.pop("ATTENTION_DASHBOARD_OFFLINE", None)
    if ok:
        print("All models ready. Start the app offline with: ATTENTION_DASHBOARD_OFFLINE=1 "
              ".venv/bin/streamlit run streamlit_app.py")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
