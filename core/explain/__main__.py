"""Command line: faithfulness of the lenses over a corpus, or one text's attribution and head importance.

    python -m core.explain faithfulness --model all-MiniLM-L6-v2 --builtin sample_en [--csv out.csv]
    python -m core.explain faithfulness --model all-MiniLM-L6-v2 --input corpus.txt --max-sentences 100
    python -m core.explain attribute --model distilbert-base-uncased --text "The cat sat on the mat." --word 6
    python -m core.explain importance --model all-MiniLM-L6-v2 --text "The cat sat on the mat." --mode mean

Input for faithfulness: a built-in set or a .txt / .csv / .jsonl file (core.corpus.sources;
--column for .csv and .jsonl). Ctrl-C stops after the sentence in flight and prints what is done.
Exit status: 0 done, 1 stopped early, 2 bad input (the message says why).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from core.errors import AttentionDashboardError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.explain", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("faithfulness", help="Spearman correlation of each lens with blank-out and gradients")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--builtin", help="a built-in corpus: tutorial or sample_en")
    src.add_argument("--input", type=Path, help="a .txt, .csv or .jsonl file")
    f.add_argument("--column", help="the .csv column or .jsonl field that holds the sentences")
    f.add_argument("--max-sentences", type=int, default=None)
    f.add_argument("--csv", type=Path, default=None, help="write the table (lens, layer, reference, mean, ...) here")
    f.add_argument("--no-norm", action="store_true", help="leave out the norm-based lens")
    for name, helptext in (("attribute", "one text's word attribution table"),
                           ("importance", "one text's layer x head importance grids")):
        t = sub.add_parser(name, help=helptext)
        t.add_argument("--text", required=True)
        t.add_argument("--word", type=int, default=None, help="masked LM: the word to mask (index, specials counted)")
        t.add_argument("--position", type=int, default=None, help="causal LM: the token position to predict after")
        t.add_argument("--compare-to", default=None, help="embedding model: a second text (F = cosine to it)")
        if name == "attribute":
            t.add_argument("--steps", type=int, default=32, help="integrated-gradients steps")
        else:
            t.add_argument("--mode", choices=("zero", "mean"), default="zero")
    for q in sub.choices.values():
        q.add_argument("--model", required=True, help="a registered model id, e.g. all-MiniLM-L6-v2")
        q.add_argument("--device", default=None)
        q.add_argument("--quiet", action="store_true")
    return p


def _faithfulness(args: argparse.Namespace, loaded) -> int:
    from core.corpus import sources
    from core.explain.faithfulness import corpus_faithfulness, reading

    if args.builtin:
        corpus = sources.builtin(args.builtin)
    else:
        corpus = sources.read_path(args.input, args.column, max_sentences=args.max_sentences)
    texts = list(corpus.sentences)[: args.max_sentences]
    cancel = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: cancel.set())

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"\r{done}/{total} sentences", end="", file=sys.stderr, flush=True)

    result = corpus_faithfulness(loaded, texts, name=corpus.name, progress=progress, cancel=cancel,
                                 with_norm=not args.no_norm)
    if not args.quiet:
        print(file=sys.stderr)
    table = result.table()
    wide = table.pivot_table(index=["reference", "lens"], columns="layer", values="mean", sort=False)
    print(f"{loaded.info.model_id} on {result.corpus_name}: {result.n_used} of {result.n_sentences} sentences "
          f"used (mean Spearman rho per layer; the paper's Table 1 is against blank-out)")
    print(wide.round(2).to_string())
    for ref in ("blank-out", "gradient"):
        print("\n" + reading(result, ref))
    for note in result.skipped[:10]:
        print("skipped:", note)
    if args.csv is not None:
        table.to_csv(args.csv, index=False)
    return 1 if result.cancelled else 0


def _one_text(args: argparse.Namespace, loaded) -> int:
    from core.explain.outputs import Target, predict

    target = Target(word=args.word, position=args.position, compare_to=args.compare_to)
    output = predict(loaded, args.text, target)
    problem = output.problem
    for pred in output.predictions:
        fills = ", ".join(f"{t} {p:.3f}" for t, p in zip(pred.tokens, pred.probabilities))
        print(f"position {pred.position}: {fills}; target {pred.target_token!r} rank {pred.target_rank}")
    if output.cosine is not None:
        print(f"cosine to the second text: {output.cosine:.4f}")
    if args.command == "attribute":
        from core.explain.attribution import token_attribution

        attr = token_attribution(loaded, problem, ig_steps=args.steps)
        print(attr.table().round(4).to_string(index=False))
        print(f"integrated gradients: completeness within {attr.ig.relative_error:.2%} at {attr.ig.steps} steps")
    else:
        from core.explain.importance import head_importance

        imp = head_importance(loaded, problem, mode=args.mode)
        with np.printoptions(precision=3, suppress=True, linewidth=160):
            print(f"ablation ({args.mode}), output change per layer x head:\n{imp.ablation}")
            print(f"gradient (Michel et al. 2019), normalised per layer:\n{imp.gradient}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from core.models.loading import load_model

    try:
        loaded = load_model(args.model, device=args.device)
        if args.command == "faithfulness":
            return _faithfulness(args, loaded)
        return _one_text(args, loaded)
    except AttentionDashboardError as err:
        print(str(err), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
