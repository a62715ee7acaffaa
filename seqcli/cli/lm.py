"""`seqcli train-lm`, `sample` and `score`: language models. Must not import torch."""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from seqcli.cli import _training
from seqcli.cli._shared import (
    DeviceOpt,
    ModelOpt,
    NetworkOpts,
    QuietOpt,
    SeedOpt,
    ThreadsOpt,
    err_console,
    handle_errors,
    inference_device,
    not_a_directory,
    note_using,
)
from seqcli.config import ADAPTIVE_SOFTMAX_ABOVE, LMConfig, SampleConfig
from seqcli.vocab import EOS, UNK

_net = NetworkOpts(LMConfig)
_d = _net.default  # "(default: X)" of a LMConfig key, for help texts
_SAMPLE = SampleConfig()  # the defaults of `sample`, shown by --help


@handle_errors
@_training.training_command
def train_lm(
    corpus: Annotated[
        str,
        typer.Argument(help="Training text, one sentence or line per line."),
    ],
    valid: Annotated[
        Path | None,
        typer.Option(
            help="Validation text (default: the last 5% of the corpus).",
            callback=not_a_directory,
        ),
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(
            help="Test text, scored with the best model.", callback=not_a_directory
        ),
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
        typer.Option(
            help=f"auto, full or adaptive (auto: adaptive above "
            f"{ADAPTIVE_SOFTMAX_ABOVE:,} entries). {_d('softmax')}"
        ),
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
            callback=not_a_directory,
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
    run_flags: _training.RunFlags = None,
) -> None:
    """Train a word, character or subword language model.

    Example: seqcli train-lm corpora/fables.txt --level char --max-time 5
    """
    flags = dict(locals())  # the shared flags are read from here by name
    from seqcli.tasks import lm as task

    own = {
        "train_path": corpus,
        "valid_path": valid,
        "test_path": test,
        "bptt": bptt,
        "softmax": softmax,
        "tokenizer.min_freq": min_freq,
        "tokenizer.sp_vocab_size": sp_vocab_size,
        "tokenizer.reverse": reverse,
        "init_from": init_from,
        "train.optimizer": optimizer,
        "train.clip": clip,
    }
    _training.run(
        LMConfig, task.TASK, flags, own, setup=task.setup, train=task.train_lm
    )


def _load(  # noqa: ANN202
    model: Path | None,
    device: str | None,
    threads: int | None,
    command: str,
    *,
    rows: int | None = None,
    quiet: bool = False,
):
    from seqcli.checkpoint import find_latest
    from seqcli.tasks.lm_inference import load_lm

    if model is None:
        model = find_latest("lm")
        note_using(model, quiet=quiet)
    dev = inference_device(device, threads, rows=rows)
    return load_lm(model, device=dev, command=command)


@handle_errors
def sample(
    model: ModelOpt = None,
    num: Annotated[
        int, typer.Option("--num", "-n", help="Samples to draw, as one batch.", min=1)
    ] = _SAMPLE.num,
    prompt: Annotated[
        str,
        typer.Option(help="Text the samples continue (\\n, \\t, \\\\ understood)."),
    ] = "",
    max_length: Annotated[
        int, typer.Option(help="Tokens to generate at most.", min=1)
    ] = _SAMPLE.max_length,
    temperature: Annotated[
        float, typer.Option(help="Below 1: safer; above 1: wilder; 0: greedy.", min=0.0)
    ] = _SAMPLE.temperature,
    top_k: Annotated[
        int, typer.Option(help="Sample from the k likeliest tokens (0 = all).", min=0)
    ] = _SAMPLE.top_k,
    top_p: Annotated[
        float,
        typer.Option(
            help="Sample from the smallest set holding this much probability.",
            min=0.0,
            max=1.0,
        ),
    ] = _SAMPLE.top_p,
    no_unk: Annotated[
        bool, typer.Option("--no-unk", help=f"Never emit {UNK}.")
    ] = False,
    stop_at_eos: Annotated[
        bool | None,
        typer.Option(
            "--stop-at-eos/--no-stop-at-eos",
            help=f"End a sample at {EOS} (default: yes, except at char "
            f"level where {EOS} is a newline).",
        ),
    ] = None,
    min_length: Annotated[
        int,
        typer.Option(
            help="The shortest sample in tokens, the prompt's included: <eos> "
            "cannot end it sooner (0: a sample may be empty).",
            min=0,
        ),
    ] = _SAMPLE.min_length,
    stop_at: Annotated[
        str,
        typer.Option(
            help="End each sample at this separator, kept (\\n etc. understood): "
            '"\\n\\n" gives one ABC tune or paragraph per sample.',
        ),
    ] = "",
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Generate text from a language model, streaming it to stdout.

    Example: seqcli sample --temperature 0.8 --prompt "The king" -n 3
    """
    # One sample is drawn one row at a time, several as a batch: the threads
    # are measured on steps of that many rows.
    lm = _load(model, device, threads, "`seqcli sample`", rows=num, quiet=quiet)
    from seqcli.tasks.lm_inference import sample as draw

    stop = stop_at_eos if stop_at_eos is not None else lm.tokenizer.kind != "char"
    stop_at = unescape(stop_at)
    separator = "\n\n" if lm.tokenizer.kind == "char" and not stop else "\n"

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    texts = draw(
        lm,
        num=num,
        prompt=unescape(prompt),
        max_length=max_length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        allow_unk=not no_unk,
        stop_at_eos=stop,
        min_length=min_length,
        seed=seed,
        on_text=write,
        stop_at=stop_at,
    )
    if stop_at:  # the first sample is out; each ends with the separator
        write(_after_first(texts, stop_at))
        return
    write(separator.join(["", *[t.rstrip("\n") for t in texts[1:]]]) + "\n")


def _after_first(texts: list[str], separator: str) -> str:
    """What follows the streamed first sample: the others, each set off by the
    separator (added where a sample stopped at --max-length instead), then a line
    end if the output has none."""
    out = []
    for previous, text in itertools.pairwise(texts):
        out.append(text if previous.endswith(separator) else separator + text)
    end = out[-1] if out else texts[0]
    return "".join(out) + ("" if end.endswith("\n") else "\n")


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
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score sentences: log P(sentence) under the model, and the file's perplexity.

    One line per input: ln P, log10 P, P, per-token perplexity, tokens, text.

    Example: echo "the cat sat" | seqcli score -
    """
    from seqcli.readers import read_text
    from seqcli.tasks.lm_inference import score as score_texts
    from seqcli.tasks.lm_inference import token_log_probs

    texts = [line.text for line in read_text(file)]  # a bad input before the model
    lm = _load(model, device, threads, "`seqcli score`", quiet=quiet)
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


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(text: str) -> str:
    """A flag's text with \\n, \\t, \\r and \\\\ turned into the characters (a
    shell passes "\\n" as two characters); any other backslash stays as it is."""
    out: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text) and text[pos + 1] in _ESCAPES:
            out.append(_ESCAPES[text[pos + 1]])
            pos += 2
        else:
            out.append(char)
            pos += 1
    return "".join(out)


def _prob(log10p: float) -> str:
    """P in scientific notation, computed from log10 so that tiny values stay exact."""
    if log10p < -1e300 or math.isinf(log10p):
        return "0"
    exponent = math.floor(log10p)
    mantissa = 10 ** (log10p - exponent)
    return f"{mantissa:.3f}e{exponent:+d}"
