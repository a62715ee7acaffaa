"""The headline figures: what each measures, by which function of the measurement
scripts, and at which budget in the `quick` and `full` suites.

    python -m bench.figures NAME --amount A --seeds 1,2 --threads T --work DIR

runs one figure in its own process (its own threads and peak memory) and prints
its measurement as the last line, one JSON object; `python -m bench` starts it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import calibration, distill, translate_distill, translate_levels
from bench.results import Measurement, Peer

SEQEVAL_NOTE = "the same predictions scored by seqeval 1.2.2 in bench/envs/seqeval"


@dataclass(frozen=True)
class Budget:
    """How much a figure's run may take: `amount` of `unit` per seed (training
    minutes, or seconds of a speed run), the seeds, and torch threads (0: seqcli's
    automatic choice, as a user gets it)."""

    amount: float
    seeds: tuple[int, ...] = (1,)
    threads: int = 0
    unit: str = "min"


@dataclass(frozen=True)
class Figure:
    name: str
    task: str
    title: str
    metric: str
    higher_is_better: bool
    quick: Budget
    full: Budget
    run: Callable[[Budget, Path, str | None], Measurement]
    needs: str | None = None  # a figure whose model this one reuses when it ran first
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --- language models (bench/lm.py, bench/sampling.py) -------------------------------
WIKITEXT_COMMAND = (
    "seqcli train-lm wikitext-2/train.txt --valid wikitext-2/valid.txt "
    "--test wikitext-2/test.txt --max-time {amount:g} --seed {seed}"
)


def lm_wikitext(b: Budget, work: Path, reuse: str | None) -> Measurement:
    from bench import lm

    runs = [lm.default_run(b.amount, seed, b.threads, []) for seed in b.seeds]
    return Measurement(
        values=[r["valid_ppl"] for r in runs],
        seeds=list(b.seeds),
        command=WIKITEXT_COMMAND.format(amount=b.amount, seed="S")
        + (f" --threads {b.threads}" if b.threads else ""),
        details={
            "runs": runs,
            "test_ppl": [r["test_ppl"] for r in runs],
            "target": 150,
        },
        artefact=runs[0]["model"],
    )


def _precision() -> str:
    """The precision seqcli's `--precision auto` picks on this machine's CPU for
    the LM's LSTM: the same probe a training run makes, so that under the forced
    AVX2 code paths (`--isa avx2`), as on an AVX2-only CPU, it is fp32."""
    import torch

    from seqcli.precision import choose_precision

    return choose_precision("auto", torch.device("cpu"), ("lstm",)).precision


def lm_engine(recipe: str) -> Callable[[Budget, Path, str | None], Measurement]:
    """Training tokens/s of seqcli's `recipe` ("reference": the plain loop's own
    recipe; "default": seqcli's) against the plain PyTorch loop, in the same
    precision (the loop under autocast when seqcli trains in bf16), one after the
    other on the same threads."""

    def run(b: Budget, work: Path, reuse: str | None) -> Measurement:
        from bench import lm
        from seqcli.outputs import OutputFile

        threads = b.threads or os.cpu_count() or 1
        precision = _precision()
        key = {"seconds": b.amount, "precision": precision, "threads": threads}
        ref = json.loads(Path(reuse).read_text()) if reuse else {}
        reused = {k: ref.get(k) for k in key} == key
        if not reused:  # none from earlier in this run: measure it now
            ref = lm.run_worker(
                "reference-speed", threads, seconds=b.amount, precision=precision
            )
            ref.update(key)
        saved = work / "reference.json"
        OutputFile(saved, inputs={}, flag="reference").write_text(json.dumps(ref))
        ours = lm.run_worker(
            f"seqcli-speed-{recipe}", threads, seconds=b.amount, precision=precision
        )
        differs = (
            "same recipe (2x200 LSTM, full softmax, SGD lr 20, batch 20, BPTT 35)"
            if recipe == "reference"
            else _default_recipe_differences()
        )
        return Measurement(
            values=[ours["tokens_per_s"]],
            seeds=[1],
            command=f"python -m bench.lm --worker seqcli-speed-{recipe} "
            f"--seconds {b.amount:g} --precision {precision} --threads {threads}",
            peer=Peer(
                name=f"plain PyTorch loop, {precision}",
                values=[ref["tokens_per_s"]],
                command=f"python -m bench.lm --worker reference-speed --seconds "
                f"{b.amount:g} --precision {precision} --threads {threads}",
                note=differs,
            ),
            details={
                "precision": precision,
                "threads": threads,
                "seqcli": ours,
                "reference": ref,
                "reference_from": "lm-engine-same-recipe" if reused else "this figure",
            },
            artefact=str(saved),
        )

    return run


def _default_recipe_differences() -> str:
    """What seqcli's default LM recipe does unlike the plain loop, read from the
    defaults themselves (so that the results page follows them)."""
    from seqcli.config import LMConfig

    train = LMConfig().train
    return (
        f"also differs in recipe: adaptive softmax, Adam lr {train.lr:g}, batch "
        f"{train.batch_size}, warm-up and lr cool-down (seqcli's defaults)"
    )


def lm_shakespeare(b: Budget, work: Path, reuse: str | None) -> Measurement:
    from bench import lm

    runs = [
        lm.run_worker(
            "shakespeare", b.threads, budget=b.amount, seed=seed, char_recipe=""
        )
        for seed in b.seeds
    ]
    return Measurement(
        values=[r["valid_nats_per_char"] for r in runs],
        seeds=list(b.seeds),
        command=f"python -m bench.lm --only shakespeare --budget {b.amount:g}",
        details={"runs": runs, "recipe": lm.CHAR_RECIPE},
    )


def lm_sampling(b: Budget, work: Path, reuse: str | None) -> Measurement:
    """Words/s of one sample from a trained WikiText-2 model (lm-wikitext2's seed-1
    model when it ran first, else one trained for the budget) against a plain loop
    holding the same weights, drawing as seqcli does (head, then cluster)."""
    from bench import lm

    model = reuse or lm.default_run(b.amount, 1, b.threads, [])["model"]
    s = lm.run_worker("sampling", b.threads, model=model, tokens=1000)
    return Measurement(
        values=[s["seqcli_1"]["words_per_s"]],
        seeds=[1],
        command=f"seqcli sample -m {Path(model).name} --max-length 1000 --seed 1",
        peer=Peer(
            name="plain loop, same weights, two-stage draw",
            values=[s["reference_two_stage_1"]["words_per_s"]],
            command="python -m bench.sampling --model MODEL (ReferenceLM.from_seqcli)",
            note="the same loop drawing from the full softmax: "
            f"{s['reference_1']['words_per_s']:,.1f} words/s "
            f"({s['speedup_1']:.2f}x); both warmed up alike",
        ),
        details={**s, "model_trained_for_min": None if reuse else b.amount},
    )


# --- NER (bench/ner.py, seqeval in its own environment) -----------------------------
def ner_conll(b: Budget, work: Path, reuse: str | None) -> Measurement:
    from bench import ner
    from seqcli.metrics.ner import conlleval

    threads = b.threads or 1
    test = str(ner.corpora() / "ner" / "conll2003" / "test.txt")
    runs, ours, peer, missing = [], [], [], None
    for seed in b.seeds:
        run = ner.train("default", b.amount, threads, work, {}, seed)
        gold, predicted = ner.file_predictions(run["model"], test)
        ours.append(conlleval(zip(gold, predicted, strict=True)).overall.f1)
        try:
            run["seqeval"] = ner.seqeval_scores(gold, predicted, work)
            peer.append(run["seqeval"]["f1"])
        except FileNotFoundError as err:
            missing = str(err)
        runs.append(run)
    return Measurement(
        values=ours,
        seeds=list(b.seeds),
        command=f"seqcli train-ner conll2003/train.txt --valid conll2003/valid.txt "
        f"--max-time {b.amount:g} --seed S; seqcli evaluate conll2003/test.txt",
        peer=None
        if missing
        else Peer("seqeval", peer, "bench/peers/seqeval_score.py", SEQEVAL_NOTE),
        details={"runs": runs, "peer_missing": missing},
    )


# --- translation (bench/translate.py; Joey NMT in its own environment) -------------
JOEY_ENV = Path(__file__).resolve().parent / "envs" / "joeynmt"
JOEY_RUN = Path(__file__).resolve().parent / "peers" / "joey_run.py"
JOEY_MISSING = f"{JOEY_ENV} is missing: run `make bench-env`"
JOEY_NAME = "Joey NMT 2.3.0, our model's size, same budget, 1 thread"

# Joey NMT's two recipes, as YAML fragments for the same data and decoding:
# "ours" is our recipe's sizes and optimiser (a like-for-like engine comparison);
# "published" is the recurrent recipe Joey NMT publishes for IWSLT14 de-en
# (configs/iwslt_deen_bahdanau.yaml: LSTM 256, Luong attention with input feeding,
# Adam 1e-3, 64-sentence batches, halving the lr at each validation without gain),
# validated once per epoch of Multi30k as it is once per epoch of IWSLT there
# (Joey needs the validation interval to be a multiple of the logging one).
JOEY_RECIPES: dict[str, dict[str, str]] = {
    "ours": {
        "title": "1-layer GRU 256, bidirectional encoder, Bahdanau attention, "
        "dropout 0.2, Adam 2e-3, 600-token batches, label smoothing 0.1, min count 2",
        "min_freq": "2",
        "rnn": "type: recurrent, rnn_type: gru, embeddings: {embedding_dim: 256}, "
        "hidden_size: 256, num_layers: 1, dropout: 0.2",
        "decoder": "attention: bahdanau, input_feeding: False, hidden_dropout: 0.2, "
        "init_hidden: bridge, activation: tanh",
        "encoder": "bidirectional: True",
        "training": "optimizer: adam, learning_rate: 0.002, batch_size: 600, "
        "batch_type: token, scheduling: plateau, patience: 5, decrease_factor: 0.5, "
        "validation_freq: 400, logging_freq: 100, early_stopping_metric: bleu, "
        "label_smoothing: 0.1",
    },
    "published": {
        "title": "Joey NMT's published IWSLT14 recurrent recipe: 1-layer LSTM 256, "
        "bidirectional encoder, Luong attention with input feeding, dropout 0.2 in "
        "the decoder, Adam 1e-3, 64-sentence batches, lr halved at each validation "
        "without gain, min count 3",
        "min_freq": "3",
        "rnn": "type: recurrent, rnn_type: lstm, embeddings: {embedding_dim: 256}, "
        "hidden_size: 256, num_layers: 1",
        "decoder": "dropout: 0.2, attention: luong, input_feeding: True, "
        "hidden_dropout: 0.2, init_hidden: last, activation: tanh",
        "encoder": "bidirectional: True, dropout: 0.0",
        "training": "optimizer: adam, learning_rate: 0.001, learning_rate_min: 5.0e-5, "
        "batch_size: 64, batch_type: sentence, scheduling: plateau, patience: 0, "
        "decrease_factor: 0.5, validation_freq: 454, logging_freq: 227, "
        "early_stopping_metric: ppl",
    },
}


def _joey_config(work: Path, recipe: str) -> Path:
    """Joey NMT's config for one of JOEY_RECIPES on the same files as ours, decoded
    as seqcli decodes: beam 5, alpha 1.0, 64 sentences a batch."""
    from bench import translate as tr
    from seqcli.outputs import OutputFile

    r = JOEY_RECIPES[recipe]
    data = tr.tok_dir()
    side = (
        "{lang: %s, level: word, max_length: 50, voc_min_freq: "
        + r["min_freq"]
        + ", tokenizer_type: none}"
    )
    text = f"""\
name: joey-multi30k-{recipe}
joeynmt_version: 2.3.0
model_dir: {work / f"joey-{recipe}"}
use_cuda: False
data:
  train: {data / "train"}
  dev: {data / "valid"}
  test: {data / "test2016"}
  dataset_type: plain
  src: {side % "de"}
  trg: {side % "en"}
testing: {{beam_size: 5, beam_alpha: 1.0, batch_size: 64, batch_type: sentence,
  eval_metrics: [bleu], sacrebleu_cfg: {{tokenize: none}}}}
training: {{random_seed: 1, {r["training"]}, epochs: 1000,
  overwrite: True, keep_best_ckpts: 1, print_valid_sents: []}}
model:
  initializer: xavier_uniform
  encoder: {{{r["rnn"]}, {r["encoder"]}}}
  decoder: {{{r["rnn"]}, {r["decoder"]}}}
"""
    path = work / f"joey-{recipe}.yaml"
    OutputFile(path, inputs={}, flag="config").write_text(text)
    return path


def sacrebleu_cli(hypotheses: Path, reference: Path) -> float:
    """BLEU of a hypothesis file by the sacrebleu command (Joey's environment)."""
    cmd = [str(JOEY_ENV / "bin" / "sacrebleu"), str(reference), "-i", str(hypotheses)]
    out = subprocess.run(
        [*cmd, "--tokenize", "none", "-b"], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def _joey(mode: str, config: Path, *extra: str) -> tuple[list[str], str]:
    """Run joey_run.py MODE CONFIG on one thread: the command, as recorded, and
    what Joey logged (its logger writes to stderr as well as to its files)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(JOEY_ENV / "bin" / "python"), str(JOEY_RUN), mode, str(config), *extra]
    done = subprocess.run(
        cmd, cwd=config.parent, env=env, check=True, capture_output=True, text=True
    )
    return cmd[1:], done.stdout + done.stderr


def _generation_seconds(log: str) -> float:
    """The last "Generation took" of a Joey log: test2016, decoded after dev."""
    return float(re.findall(r"Generation took ([0-9.]+)\[sec\]", log)[-1])


def run_joey(minutes: float, work: Path, recipe: str) -> dict[str, Any]:
    """Train Joey NMT's `recipe` for `minutes` (after its data preparation); it
    decodes test2016 at beam 5 at its end: the BLEU by the sacrebleu CLI."""
    from bench import translate as tr

    cmd, _ = _joey("train", _joey_config(work, recipe), f"{minutes:g}")
    hypotheses = work / f"joey-{recipe}" / "best.hyps.test"
    return {
        "recipe": JOEY_RECIPES[recipe]["title"],
        "bleu": sacrebleu_cli(hypotheses, tr.tok_dir() / "test2016.en"),
        "hypotheses": str(hypotheses),
        "command": f"{' '.join(cmd)}; sacrebleu test2016.en -i best.hyps.test "
        "--tokenize none",
    }


def translate_bleu(b: Budget, work: Path, reuse: str | None) -> Measurement:
    """Our tokenized-Multi30k recipe, Joey NMT at our model's size and Joey NMT's
    published recurrent recipe, trained side by side: one thread each, the same
    minutes, under the same machine load."""
    from concurrent.futures import ThreadPoolExecutor

    from bench import translate as tr

    joey_here = (JOEY_ENV / "bin" / "python").exists()
    with ThreadPoolExecutor(max_workers=3) as pool:
        ours = pool.submit(tr.run_worker, "train-tok", b.amount)
        joeys = {
            recipe: pool.submit(run_joey, b.amount, work, recipe)
            for recipe in (JOEY_RECIPES if joey_here else ())
        }
        train = ours.result()
        joey = {recipe: future.result() for recipe, future in joeys.items()}
    cli = tr.cli_figures("tok")
    train.pop("evaluations", None)
    details: dict[str, Any] = {"train": train, "cli": cli}
    peer = None
    if joey:
        published = joey["published"]
        details["joey"] = joey["ours"]
        details["joey_published"] = published
        # both outputs scored by the same sacrebleu command
        details["seqcli_bleu_by_sacrebleu_cli"] = sacrebleu_cli(
            tr.RESULTS / "test2016-tok.en", tr.tok_dir() / "test2016.en"
        )
        note = (
            f"trained beside ours; Joey NMT's published recurrent recipe, trained "
            f"beside both: {published['bleu']:.2f}; workarounds for torch 2.13 in "
            "bench/peers/joey_run.py"
        )
        peer = Peer(JOEY_NAME, [joey["ours"]["bleu"]], joey["ours"]["command"], note)
    else:
        details["peer_missing"] = JOEY_MISSING
    return Measurement(
        values=[cli["bleu"]],
        seeds=[1],
        command=cli["command"],
        peer=peer,
        details=details,
        artefact=str(tr.RESULTS / "multi30k-tok.pt"),
    )


def translate_speed(b: Budget, work: Path, reuse: str | None) -> Measurement:
    """Beam-5 sentences/s of the seqcli model and of Joey NMT's at our model's size
    (translation-multi30k-bleu's when it ran first), each decoding test2016 alone
    after the other, 64 sentences a batch, one thread."""
    from bench import translate as tr

    joey_config = work.parent / "translation-multi30k-bleu" / "joey-ours.yaml"
    if reuse is None:
        tr.run_worker("train-tok", b.amount)
        if (JOEY_ENV / "bin" / "python").exists():
            run_joey(b.amount, work, "ours")
            joey_config = work / "joey-ours.yaml"
    speed = tr.run_worker("speed-tok", 0)
    peer = None
    if joey_config.exists():
        cmd, log = _joey("test", joey_config)
        seconds = _generation_seconds(log)
        test = tr.tok_dir() / "test2016.de"
        sentences = len(test.read_text(encoding="utf-8").splitlines())
        command = f"{' '.join(cmd)} (test2016's generation, beam 5, 64 a batch)"
        peer = Peer(JOEY_NAME, [sentences / seconds], command)
    return Measurement(
        values=[speed["batched_full_test_sent_per_s_wall"]],
        seeds=[1],
        command="seqcli translate multi30k-tok/test2016.de -m multi30k-tok.pt "
        "--beam 5 (batched, 1 thread)",
        peer=peer,
        details={**speed, "peer_missing": None if peer else JOEY_MISSING},
    )


# --- classification and embeddings --------------------------------------------------
def dna_splice(b: Budget, work: Path, reuse: str | None) -> Measurement:
    from bench.dna import run_dna

    runs = [run_dna(b.amount, b.threads or 1, seed, work) for seed in b.seeds]
    return Measurement(
        values=[100 * r["test_accuracy"] for r in runs],
        seeds=list(b.seeds),
        command=f"python -m bench.dna --budget {b.amount:g} --seed S",
        details={"runs": runs},
    )


def sst2(b: Budget, work: Path, reuse: str | None) -> Measurement:
    from bench import sentiment

    threads = b.threads or 1
    runs = []
    for seed in b.seeds:
        settings = {
            **sentiment.sst2_plain(b.amount, threads, work),
            **sentiment.sst2_data(),
            "out": str(work / f"sst2-seed{seed}.pt"),
            "train.seed": seed,
        }
        runs.append(sentiment.train_classifier(f"sst2-seed{seed}", settings))
    return Measurement(
        values=[100 * r["test_accuracy"] for r in runs],
        seeds=list(b.seeds),
        command="seqcli train-sentiment sst2/train.tsv --valid sst2/valid.tsv "
        f"--max-time {b.amount:g} --seed S (bench/sentiment.py's plain recipe)",
        details={"runs": runs},
    )


def embeddings(b: Budget, work: Path, reuse: str | None) -> Measurement:
    from bench import embeddings as em

    epochs = int(b.amount // 2.5) or 1  # 4 epochs fit 10 minutes of a 2-core CPU
    threads = b.threads or 1
    train = em.corpora() / "lm" / "wikitext-2" / "train.txt"
    ours = em.run_seqcli(train, epochs, b.amount, threads)
    gensim = em.run_gensim(train, ours["epochs_done"], threads)
    accuracy = 100 * ours["overall"]["accuracy"]
    return Measurement(
        values=[accuracy],
        seeds=[1],
        command=f"seqcli train-embeddings wikitext-2/train.txt --epochs {epochs} "
        f"--max-time {b.amount:g}; analogy accuracy on questions-words.txt",
        peer=None
        if gensim is None
        else Peer(
            "gensim Word2Vec, same recipe and epochs",
            [100 * gensim["overall"]["accuracy"]],
            "gensim.models.Word2Vec(sg=1, vector_size=100, window=5, negative=5)",
            f"words/s: ours {ours['words_per_s'] or 0:,.0f}, "
            f"gensim {gensim['words_per_s']:,.0f}",
        ),
        details={
            "seqcli": ours,
            "gensim": gensim,
            "peer_missing": None if gensim else "gensim is not importable",
        },
    )


FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure("lm-wikitext2", "language models", "WikiText-2, the default command",
               "valid perplexity", False, Budget(1, threads=2),
               Budget(10, (1, 2, 3), 2), lm_wikitext),
        Figure("lm-engine-same-recipe", "language models",
               "engine speed, the plain loop's recipe", "training tokens/s", True,
               Budget(15, unit="s"), Budget(120, unit="s"), lm_engine("reference")),
        Figure("lm-engine-default", "language models",
               "engine speed, seqcli's default recipe", "training tokens/s", True,
               Budget(15, unit="s"), Budget(120, unit="s"), lm_engine("default"),
               needs="lm-engine-same-recipe"),
        Figure("lm-shakespeare", "language models", "tiny Shakespeare, characters",
               "valid nats/char", False, Budget(1), Budget(10, (1, 2, 3)),
               lm_shakespeare),
        Figure("lm-sampling", "language models", "sampling, 1 sample of 1,000 words",
               "words/s", True, Budget(0.5), Budget(10), lm_sampling,
               needs="lm-wikitext2"),
        Figure("ner-conll2003", "NER", "CoNLL-2003 English, the default recipe",
               "test F1", True, Budget(1, threads=1), Budget(30, (1, 2, 3), 1),
               ner_conll),
        Figure("ner-conll2003-distill", "NER",
               "CoNLL-2003 English, the default tagger distilled from an ensemble",
               "test F1", True, Budget(0.25, threads=1), Budget(30, (1, 2, 3), 1),
               distill.figure("conll")),
        Figure("translation-multi30k-bleu", "translation",
               "Multi30k de-en (tokenized), beam 5", "test2016 BLEU", True,
               Budget(1, threads=1), Budget(30, threads=1), translate_bleu),
        Figure("translation-multi30k-speed", "translation",
               "Multi30k de-en, decoding at beam 5", "sentences/s", True,
               Budget(1, threads=1), Budget(30, threads=1), translate_speed,
               needs="translation-multi30k-bleu"),
        *(
            Figure(f"translation-raw-{level}", "translation",
                   f"Multi30k de-en raw text (13a, cased), {title}, beam 5",
                   "test2016 BLEU", True, Budget(0.5, threads=1),
                   Budget(30, threads=1), translate_levels.figure(level))
            for level, title in (
                ("word", "word level"),
                ("joint", "joint SentencePiece (the default)"),
                ("separate", "separate SentencePiece"),
            )
        ),
        Figure("translation-multi30k-distill", "translation",
               translate_distill.TITLE, "test2016 BLEU", True,
               Budget(0.5, threads=1), Budget(30, (1, 2, 3), 1),
               translate_distill.figure),
        Figure("dna-splice", "classification", "DNA splice junctions",
               "test accuracy %", True, Budget(0.5, threads=1),
               Budget(5, (1, 2, 3), 1), dna_splice),
        Figure("sentiment-sst2", "classification", "SST-2, plain bi-LSTM",
               "test accuracy %", True, Budget(1, threads=1),
               Budget(15, (1, 2, 3), 1), sst2),
        Figure("sentiment-sst2-distill", "classification",
               "SST-2, the default classifier distilled from an ensemble",
               "test accuracy %", True, Budget(0.25, threads=1),
               Budget(30, (1, 2, 3), 1), distill.figure("sst2")),
        Figure("calibration-sst2", "calibration",
               "SST-2, plain bi-LSTM, after temperature scaling", "test ECE %",
               False, Budget(0.5, threads=1), Budget(15, (1, 2, 3), 1),
               calibration.figure("sst2")),
        Figure("calibration-imdb", "calibration",
               "IMDB, plain left-to-right LSTM, after temperature scaling",
               "test ECE %", False, Budget(0.5, threads=1),
               Budget(15, (1, 2, 3), 1), calibration.figure("imdb")),
        Figure("sentiment-imdb", "classification",
               "IMDB, plain left-to-right LSTM (calibration-imdb's models)",
               "test accuracy %", True, Budget(0.5, threads=1),
               Budget(15, (1, 2, 3), 1), calibration.imdb_accuracy,
               needs="calibration-imdb"),
        Figure("calibration-conll2003", "calibration",
               "CoNLL-2003 English, the default tagger, after temperature scaling",
               "test ECE % per token", False, Budget(0.5, threads=1),
               Budget(15, (1, 2, 3), 1), calibration.figure("conll")),
        Figure("embeddings-wikitext2", "embeddings", "skip-gram on WikiText-2",
               "analogy accuracy %", True, Budget(1, threads=1),
               Budget(10, threads=1), embeddings),
    )
}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(FIGURES))
    parser.add_argument("--amount", type=float, required=True)
    parser.add_argument("--seeds", required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--unit", default="min")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--reuse")
    args = parser.parse_args(argv)
    import torch

    from bench.machine import gpu_name

    budget = Budget(
        args.amount, tuple(int(s) for s in args.seeds.split(",")), args.threads,
        args.unit,
    )  # fmt: skip
    args.work.mkdir(parents=True, exist_ok=True)
    measurement = FIGURES[args.name].run(budget, args.work, args.reuse)
    out = {
        "measurement": asdict(measurement),
        "torch": torch.__version__,
        "gpu": gpu_name(),
        # the kernels ATen chose: AVX2 when --isa avx2 took effect
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
    }
    print(json.dumps(out, default=str), flush=True)


if __name__ == "__main__":
    sys.exit(main())
