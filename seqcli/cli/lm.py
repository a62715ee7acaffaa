"""`seqcli train-lm`, `sample` and `score`: language models. Must not import torch."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from seqcli.cli import _training
from seqcli.cli._shared import (
    ConfigOpt,
    DeviceOpt,
    DryRunOpt,
    EpochsOpt,
    MaxTimeOpt,
    ModelOpt,
    NetworkOpts,
    OutOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    err_console,
    handle_errors,
)
from seqcli.config import LMConfig, default_of


def _d(key: str) -> str:
    return f"(default: {default_of(LMConfig, key)})"


_net = NetworkOpts(LMConfig)


@handle_errors
def train_lm(
    corpus: Annotated[
        str,
        typer.Argument(help="Training text, one sentence or line per line."),
    ],
    valid: Annotated[
        Path | None,
        typer.Option(
            help="Validation text (default: the last 5% of the corpus).",
            dir_okay=False,
        ),
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(help="Test text, scored with the best model.", dir_okay=False),
    ] = None,
    level: _net.level = None,
    cell: _net.cell = None,
    emb_size: _net.emb_size = None,
    hidden_size: _net.hidden_size = None,
    num_layers: _net.num_layers = None,
    dropout: _net.dropout = None,
    bptt: Annotated[
        int | None, typer.Option(help=f"Tokens per truncated-BPTT window. {_d('bptt')}")
    ] = None,
    batch_size: _net.batch_size = None,
    lr: _net.lr = None,
    optimizer: Annotated[
        str | None, typer.Option(help=f"adam or sgd. {_d('train.optimizer')}")
    ] = None,
    clip: Annotated[
        float | None, typer.Option(help=f"Max gradient norm. {_d('train.clip')}")
    ] = None,
    softmax: Annotated[
        str | None,
        typer.Option(help="auto, full or adaptive (auto: adaptive above 10k types)."),
    ] = None,
    min_freq: Annotated[int | None, typer.Option(help=_d("tokenizer.min_freq"))] = None,
    max_vocab: _net.max_vocab = None,
    sp_vocab_size: Annotated[
        int | None,
        typer.Option(help=f"Subword pieces. {_d('tokenizer.sp_vocab_size')}"),
    ] = None,
    lowercase: _net.lowercase = None,
    word_tokenizer: _net.word_tokenizer = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Fine-tune this seqcli LM on CORPUS (its vocabulary, tokenizer "
            "and sizes are kept).",
            dir_okay=False,
        ),
    ] = None,
    reverse: Annotated[
        bool | None,
        typer.Option(
            "--reverse",
            help="Read each line right to left: a backward LM (for the backward "
            "half of a classifier ensemble).",
        ),
    ] = None,
    config: ConfigOpt = None,
    out: OutOpt = None,
    epochs: EpochsOpt = None,
    max_time: MaxTimeOpt = None,
    resume: ResumeOpt = False,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    dry_run: DryRunOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a word, character or subword language model.

    Example: seqcli train-lm corpora/fables.txt --level char --max-time 5
    """
    overrides = {
        "train_path": corpus,
        "valid_path": valid and str(valid),
        "test_path": test and str(test),
        "out": out and str(out),
        "bptt": bptt,
        "softmax": softmax,
        "tokenizer.level": level,
        "tokenizer.min_freq": min_freq,
        "tokenizer.max_size": max_vocab,
        "tokenizer.sp_vocab_size": sp_vocab_size,
        "tokenizer.lowercase": lowercase,
        "tokenizer.word_split": word_tokenizer,
        "tokenizer.reverse": reverse,
        "init_from": init_from and str(init_from),
        "model.cell": cell,
        "model.emb_size": emb_size,
        "model.hidden_size": hidden_size,
        "model.num_layers": num_layers,
        "model.dropout": dropout,
        "train.batch_size": batch_size,
        "train.lr": lr,
        "train.optimizer": optimizer,
        "train.clip": clip,
        "train.epochs": epochs,
        "train.max_time": max_time,
        "train.seed": seed,
        "train.device": device,
    }
    cfg, snapshot = _training.resolve(
        LMConfig, "lm", config=config, overrides=overrides, resume=resume
    )
    from seqcli.tasks import lm as task

    if dry_run:
        _training.print_config(cfg)
        data = task.prepare_data(cfg)
        err_console.print(f"inputs ok: {data.summary}")
        return
    rep = _training.reporter(quiet)
    try:
        outcome = task.train_lm(cfg, resume=snapshot, reporter=rep)
    finally:
        rep.close()
    _training.report_outcome(
        outcome.path, outcome.metrics, outcome.stopped_by, quiet=quiet
    )
    if outcome.stopped_by == "interrupted":
        raise typer.Exit(130)


def _load(model: Path | None, device: str | None, command: str):  # noqa: ANN202
    from seqcli.checkpoint import find_latest
    from seqcli.tasks.lm_inference import load_lm
    from seqcli.training import resolve_device

    if model is None:
        model = find_latest("lm")
        err_console.print(f"[dim]using {model}[/]")
    return load_lm(model, device=str(resolve_device(device or "cpu")), command=command)


@handle_errors
def sample(
    model: ModelOpt = None,
    num: Annotated[
        int, typer.Option("--num", "-n", help="Samples to draw, as one batch.", min=1)
    ] = 1,
    prompt: Annotated[str, typer.Option(help="Text the samples continue.")] = "",
    max_length: Annotated[
        int, typer.Option(help="Tokens to generate at most.", min=1)
    ] = 100,
    temperature: Annotated[
        float, typer.Option(help="Below 1: safer; above 1: wilder; 0: greedy.", min=0.0)
    ] = 1.0,
    top_k: Annotated[
        int, typer.Option(help="Sample from the k likeliest tokens (0 = all).", min=0)
    ] = 0,
    top_p: Annotated[
        float,
        typer.Option(
            help="Sample from the smallest set holding this much probability.",
            min=0.0,
            max=1.0,
        ),
    ] = 1.0,
    no_unk: Annotated[bool, typer.Option("--no-unk", help="Never emit <unk>.")] = False,
    stop_at_eos: Annotated[
        bool | None,
        typer.Option(
            "--stop-at-eos/--no-stop-at-eos",
            help="End a sample at <eos> (default: yes, except at char "
            "level where <eos> is a newline).",
        ),
    ] = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Generate text from a language model, streaming it to stdout.

    Example: seqcli sample --temperature 0.8 --prompt "The king" -n 3
    """
    lm = _load(model, device, "`seqcli sample`")
    from seqcli.tasks.lm_inference import sample as draw

    stop = stop_at_eos if stop_at_eos is not None else lm.tokenizer.kind != "char"
    separator = "\n\n" if lm.tokenizer.kind == "char" and not stop else "\n"

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    texts = draw(
        lm,
        num=num,
        prompt=prompt,
        max_length=max_length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        allow_unk=not no_unk,
        stop_at_eos=stop,
        seed=seed,
        on_text=write,
    )
    write(separator.join(["", *[t.rstrip("\n") for t in texts[1:]]]) + "\n")


@handle_errors
def score(
    file: Annotated[
        str,
        typer.Argument(help="Sentences to score, one per line; - for stdin."),
    ],
    model: ModelOpt = None,
    tokens: Annotated[
        bool, typer.Option("--tokens", help="Also print each token's log-probability.")
    ] = False,
    device: DeviceOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score sentences: log P(sentence) under the model, and the file's perplexity.

    One line per input: ln P, log10 P, P, per-token perplexity, tokens, text.

    Example: echo "the cat sat" | seqcli score -
    """
    from seqcli.readers import read_text
    from seqcli.tasks.lm_inference import score as score_texts
    from seqcli.tasks.lm_inference import token_log_probs

    lm = _load(model, device, "`seqcli score`")
    texts = [line.text for line in read_text(file)]
    result = score_texts(lm, texts)
    print("ln_p\tlog10_p\tp\tppl\ttokens\ttext")
    for s in result.sentences:
        print(
            f"{s.logprob:.4f}\t{s.log10prob:.4f}\t{_prob(s.log10prob)}\t{s.ppl:.2f}\t"
            f"{s.tokens}\t{s.text}"
        )
        if tokens:
            for tok, lp in token_log_probs(lm, s.text):
                print(f"\t{lp:.4f}\t{tok!r}")
    if not quiet:
        err_console.print(
            f"{len(result.sentences)} sentences, {result.tokens} tokens: "
            f"ln P {result.logprob:.2f}, perplexity {result.ppl:.2f}, "
            f"{result.bpc:.3f} bits/char"
        )


def _prob(log10p: float) -> str:
    """P in scientific notation, computed from log10 so that tiny values stay exact."""
    if log10p < -1e300 or math.isinf(log10p):
        return "0"
    exponent = math.floor(log10p)
    mantissa = 10 ** (log10p - exponent)
    return f"{mantissa:.3f}e{exponent:+d}"
