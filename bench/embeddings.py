"""Word-embedding benchmark: seqcli's skip-gram against gensim's word2vec, same recipe.

    python -m bench.embeddings [--budget MINUTES] [--epochs N] [--lm LM.pt]

1. `seqcli train-embeddings` on WikiText-2 train (skip-gram, 100 dimensions, window
   5, 5 negatives, subsampling 1e-4, min count 5), at most --budget CPU minutes:
   corpus words per second.
2. The same recipe in gensim's Word2Vec (C code, same corpus with <unk> dropped as
   seqcli drops it, same epochs, one worker as seqcli has one thread), when gensim
   is importable: a benchmark-only anchor, never a seqcli dependency.
3. For both (and the input embedding of the LM given with --lm): analogy accuracy
   on questions-words.txt (overall, semantic, syntactic; questions with a word
   outside the vocabulary skipped, and also counted as wrong), Spearman's rho on
   WordSim-353 and SimLex-999.

Corpora come from ../shared/corpora (override with SEQCLI_CORPORA). The last line
of output is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def corpora() -> Path:
    return Path(os.environ.get("SEQCLI_CORPORA", ROOT.parent / "shared" / "corpora"))


RECIPE = {"emb_size": 100, "window": 5, "negatives": 5, "subsample": 1e-4}
MIN_COUNT = 5


class Log:
    """A seqcli Reporter printing messages and a line every 500 steps to stderr."""

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        pass

    def on_step(self, info) -> None:  # noqa: ANN001 - seqcli.training.StepInfo
        if info.step_in_epoch % 500 == 0:
            print(
                f"  epoch {info.epoch} step {info.step_in_epoch}/{info.steps_in_epoch}"
                f" loss {info.loss:.3f} lr {info.lr:.4g} "
                f"pairs/s {info.tokens_per_s:,.0f}",
                file=sys.stderr,
                flush=True,
            )

    def on_eval(self, record: dict[str, float]) -> None:
        print(f"  {record}", file=sys.stderr, flush=True)

    def on_message(self, text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)


def scores(emb) -> dict:  # noqa: ANN001 - a WordEmbeddings
    from seqcli.metrics.embeddings import read_analogies, read_similarity
    from seqcli.tasks.embeddings_inference import (
        evaluate_analogies,
        evaluate_similarity,
    )

    sets = corpora() / "embeddings"
    start = time.perf_counter()
    report = evaluate_analogies(emb, read_analogies(sets / "questions-words.txt"))
    out = {"vocab": len(emb), "analogy_eval_s": round(time.perf_counter() - start, 2)}
    for part in ("overall", "semantic", "syntactic"):
        s = getattr(report, part)
        out[part] = {
            # seqcli's scores are percentages; this file keeps fractions (0-1).
            "accuracy": s.accuracy / 100,
            "accuracy_oov_wrong": s.accuracy_all / 100,
            "answered": s.answered,
            "total": s.total,
        }
    out["oov_questions"] = report.overall.skipped
    for name in ("wordsim353.tsv", "simlex999.txt"):
        sim = evaluate_similarity(emb, read_similarity(sets / name), name)
        out[name.split(".")[0]] = {
            "spearman": sim.spearman,
            "pairs": sim.pairs,
            "oov_pairs": sim.oov_pairs,
        }
    return out


def run_seqcli(train: Path, epochs: int, budget: float, threads: int) -> dict:
    from seqcli.config import EmbeddingsConfig
    from seqcli.tasks.embeddings import train_embeddings
    from seqcli.tasks.embeddings_inference import load_model_vectors

    out = ROOT / "bench" / "results" / "embeddings-wikitext2.pt"
    cfg = EmbeddingsConfig(train_path=str(train), out=str(out), **RECIPE)
    cfg.tokenizer.min_freq = MIN_COUNT
    cfg.train.epochs, cfg.train.max_time = epochs, budget
    cfg.train.num_threads = threads
    start = time.perf_counter()
    outcome = train_embeddings(cfg, reporter=Log())
    seconds = time.perf_counter() - start
    return {
        "train_s": round(seconds, 1),
        "epochs_done": outcome.epochs,
        "stopped_by": outcome.stopped_by,
        # measured per finished epoch: none when the budget ends the first one
        "words_per_s": outcome.metrics.get("speed", {}).get("words_per_s"),
        **scores(load_model_vectors(outcome.path)),
    }


def run_gensim(train: Path, epochs: int, threads: int) -> dict | None:
    try:
        from gensim.models import Word2Vec
    except ImportError:
        print("gensim not installed: no anchor", file=sys.stderr)
        return None
    import torch

    from seqcli.tasks.embeddings_inference import WordEmbeddings

    # The tokens seqcli trains on: whitespace words, WikiText's own <unk> dropped.
    with open(train, encoding="utf-8") as fh:
        tokens = [line.split() for line in fh]
    words = sum(len(line) for line in tokens)  # corpus words, as seqcli counts them
    lines = [[w for w in line if w != "<unk>"] for line in tokens]
    lines = [line for line in lines if line]
    start = time.perf_counter()
    model = Word2Vec(
        lines,
        sg=1,
        vector_size=RECIPE["emb_size"],
        window=RECIPE["window"],
        negative=RECIPE["negatives"],
        sample=RECIPE["subsample"],
        min_count=MIN_COUNT,
        epochs=epochs,
        workers=max(1, threads),
        seed=1,
    )
    seconds = time.perf_counter() - start
    vectors = WordEmbeddings(
        list(model.wv.index_to_key), torch.tensor(model.wv.vectors), "gensim"
    )
    return {
        "train_s": round(seconds, 1),
        "epochs_done": epochs,
        "words_per_s": words * epochs / seconds,
        **scores(vectors),
    }


def run_lm(path: Path) -> dict:
    from seqcli.tasks.embeddings_inference import load_model_vectors

    return scores(load_model_vectors(path))


def table(figures: dict) -> str:
    rows = [
        (
            "model",
            "words/s",
            "analogy",
            "semantic",
            "syntactic",
            "OOV-wrong",
            "OOV q.",
            "WS-353",
            "SimLex",
        )
    ]
    for name in ("seqcli", "gensim", "lm"):
        f = figures.get(name)
        if not f:
            continue
        speed = f"{f['words_per_s']:,.0f}" if "words_per_s" in f else "-"
        rows.append(
            (
                name,
                speed,
                f"{f['overall']['accuracy']:.2%}",
                f"{f['semantic']['accuracy']:.2%}",
                f"{f['syntactic']['accuracy']:.2%}",
                f"{f['overall']['accuracy_oov_wrong']:.2%}",
                str(f["oov_questions"]),
                f"{f['wordsim353']['spearman']:.3f}",
                f"{f['simlex999']['spearman']:.3f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0, help="CPU minutes")
    parser.add_argument(
        "--epochs", type=int, default=4, help="4 fit 10 minutes on a busy 2-core CPU"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--lm", type=Path, help="a WikiText-2 LM checkpoint")
    args = parser.parse_args()
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    train = corpora() / "lm" / "wikitext-2" / "train.txt"
    figures: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, no GPU",
        "threads": args.threads,
        "epochs": args.epochs,
        "recipe": {**RECIPE, "min_count": MIN_COUNT},
        "load_at_start": os.getloadavg()[0],
    }
    figures["seqcli"] = run_seqcli(train, args.epochs, args.budget, args.threads)
    figures["load_after_seqcli"] = os.getloadavg()[0]
    gensim = run_gensim(train, args.epochs, args.threads)
    if gensim is not None:
        figures["gensim"] = gensim
        figures["load_after_gensim"] = os.getloadavg()[0]
        ours = figures["seqcli"]
        figures["ratios"] = {
            "speed": ours["words_per_s"] / gensim["words_per_s"],
            "analogy": ours["overall"]["accuracy"] / gensim["overall"]["accuracy"],
            "wordsim353": ours["wordsim353"]["spearman"]
            / gensim["wordsim353"]["spearman"],
            "simlex999": ours["simlex999"]["spearman"]
            / gensim["simlex999"]["spearman"],
        }
    if args.lm is not None:
        figures["lm"] = {"path": str(args.lm), **run_lm(args.lm)}
    print(table(figures))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
