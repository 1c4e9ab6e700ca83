"""Files of finished runs over many sentences (corpus runs, probing runs): one Parquet table with a
JSON header in its schema metadata, written atomically, filed under the sha256 of what the run
depends on. No Streamlit; pyarrow is imported only when a file is written or read.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 of the texts, each followed by a newline (what a run's numbers depend on)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()


def key_path(folder: Path, key: dict[str, Any]) -> Path:
    """Where the run for `key` is filed in `folder`."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=True).encode()).hexdigest()
    return folder / f"{digest[:40]}.parquet"


def headed_parquet(frame: pd.DataFrame, meta_key: bytes, header: dict[str, Any]) -> bytes:
    """`frame` as Parquet (zstd), with `header` as JSON under `meta_key` in its schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[meta_key] = json.dumps(header, sort_keys=True, ensure_ascii=True).encode()
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buf, compression="zstd")
    return buf.getvalue()


def read_headed_parquet(source: str | Path | bytes, meta_key: bytes, version: int, what: str,
                        error: Callable[[str], Exception]) -> tuple[pd.DataFrame, dict[str, Any], Path | None]:
    """Open a file written by `headed_parquet` (a path or the file's bytes): its table, its header
    and its path (None for bytes). Raises `error(detail)` when it is not Parquet, has no `what`
    header, a damaged one, or another format than `version`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if isinstance(source, (bytes, bytearray)):
            table, path = pq.read_table(pa.BufferReader(bytes(source))), None
        else:
            path = Path(source)
            table = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise error(f"it is not a Parquet file ({type(err).__name__})") from None
    raw = (table.schema.metadata or {}).get(meta_key)
    if raw is None:
        raise error(f"it has no {what} header")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise error("its header is damaged") from None
    if meta.get("format") != version:
        raise error(f"it is format {meta.get('format')!r}, this app reads {version}")
    return table.to_pandas(), meta, path


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file and a rename (a reader never sees half a
    file), as an ordinary file (mkstemp makes it owner-only); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class FiledRun(Protocol):
    """What a filed run offers: its header (`meta`, holding the "key" it was filed under) and
    whether it went through every sentence."""

    @property
    def meta(self) -> dict[str, Any]: ...

    @property
    def complete(self) -> bool: ...


R = TypeVar("R", bound=FiledRun)


def load_filed(folder: Path | None, key: dict[str, Any] | None, load: Callable[[Path], R],
               what: str) -> R | None:
    """The complete run filed under `key` in `folder`, or None (a miss).

    `load(path)` reads a file; a file that cannot be read, was filed under another key (its
    header's "key") or is incomplete is stale: it is deleted and counts as a miss. A hit has its
    modification time renewed, since the least recently used files are pruned first.
    """
    if folder is None or key is None:
        return None
    path = key_path(folder, key)
    if not path.is_file():
        return None
    try:
        run = load(path)
        if run.meta.get("key") != key or not run.complete:
            raise ValueError("its key does not match")
    except Exception as err:  # noqa: BLE001 - damaged or stale: a miss, and the file goes
        logging.getLogger("attention_dashboard").info("%s store: dropping %s (%s)", what, path.name, err)
        path.unlink(missing_ok=True)
        return None
    try:
        os.utime(path)
    except OSError:
        pass
    return run
