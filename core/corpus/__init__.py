"""Corpus mode: many sentences through one model, with per-head statistics and their spread.

`sources` (read a corpus: pasted text, .txt/.csv/.jsonl, the built-in sets, a Hugging Face
dataset), `batch` (batched, length-bucketed extraction whose per-sentence attention equals the
one-sentence extraction), `aggregate` (streaming per-head moments, pattern-class counts and a
bounded table of typical / least typical sentences), `run` (`run_corpus` -> `CorpusRun`, kept
on disk as Parquet), `ray_runner` (the same per-batch function on Ray Data, optional). The
command line: `python -m core.corpus --help`. Import the module you need; this package
re-exports nothing.
"""
