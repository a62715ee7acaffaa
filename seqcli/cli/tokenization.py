"""`seqcli tokenize ...`: train SentencePiece, encode, decode, build vocabularies.

Must not import torch (checked by tests/test_startup.py).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from seqcli.cli._shared import (
    QuietOpt,
    err_console,
    handle_errors,
    not_a_directory,
    out_console,
)
from seqcli.config import TokenizerConfig, default_of
from seqcli.errors import ConfigError
from seqcli.outputs import OutputFile
from seqcli.readers import read_lines, read_text
from seqcli.tokenizers import (
    LEVELS,
    SentencePieceTokenizer,
    Tokenizer,
    checkpoint_tokenizer,
    make_tokenizer,
    train_sentencepiece,
)
from seqcli.vocab import (
    EOS,
    SPECIALS,
    UNK,
    Vocab,
    build_vocab,
    read_vocab_file,
    vocab_stats,
    write_vocab_file,
)

app = typer.Typer(
    no_args_is_help=True,
    help="Tokenize text, train SentencePiece models and build vocabularies.",
)

# Character tokens are printed space-separated, so a real space is shown as "▁"
# (as SentencePiece does); `decode` turns it back.
SPACE = "\u2581"
_TOKENIZER = TokenizerConfig()  # the SentencePiece defaults, shared with train-lm

Input = Annotated[
    str,
    typer.Argument(help="Text file, one sentence per line; - for stdin."),
]
LevelOpt = Annotated[
    str, typer.Option(help="word, char or subword (subword needs --sp-model).")
]
SpModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--sp-model",
        help="SentencePiece model file (from `seqcli tokenize train`).",
        callback=not_a_directory,
    ),
]
LowerOpt = Annotated[
    bool, typer.Option("--lowercase", help="Lowercase before tokenizing.")
]
WordSplitOpt = Annotated[
    str | None,
    typer.Option(
        help="ptb (split punctuation and clitics: it's -> it 's) or whitespace. "
        f"(default: {default_of(TokenizerConfig, 'word_split')})",
    ),
]


def _tokenizer(
    level: str,
    sp_model: Path | None,
    lowercase: bool,
    *,
    split: str | None = None,
    clean: bool = False,
) -> Tokenizer:
    given, level = level, level.strip().lower()  # choices are matched in any case
    if level not in LEVELS:
        raise ConfigError(f"--level must be one of {', '.join(LEVELS)} (got {given!r})")
    if sp_model is not None:
        return SentencePieceTokenizer.from_file(
            str(sp_model), lowercase=lowercase, clean=clean
        )
    if level == "subword":
        raise ConfigError(
            "--level subword needs --sp-model FILE "
            "(train one with `seqcli tokenize train`)"
        )
    return make_tokenizer(level, lowercase=lowercase, clean=clean, split=split)


def _show(tokenizer: Tokenizer, tokens: list[str]) -> list[str]:
    return (
        [t.replace(" ", SPACE) for t in tokens] if tokenizer.kind == "char" else tokens
    )


@app.command()
@handle_errors
def train(
    corpus: Input,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Model file to write (missing folders are created).",
            callback=not_a_directory,
        ),
    ] = Path("spm.model"),
    vocab_size: Annotated[
        int, typer.Option(help="Pieces in the model.", min=2)
    ] = _TOKENIZER.sp_vocab_size,
    model_type: Annotated[
        str, typer.Option(help="bpe or unigram.")
    ] = _TOKENIZER.sp_model_type,
    character_coverage: Annotated[
        float,
        typer.Option(
            help="Share of characters to cover "
            "(1.0 for small alphabets, ~0.9995 for CJK)."
        ),
    ] = _TOKENIZER.sp_character_coverage,
    lowercase: LowerOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a SentencePiece (BPE or unigram) model on a corpus.

    Example: seqcli tokenize train corpus.txt --vocab-size 4000 -o spm.model
    """
    model_type = model_type.strip().lower()  # choices are matched in any case
    target = OutputFile(out, inputs={"CORPUS": corpus})
    lines = (line.text for line in read_text(corpus))
    model = train_sentencepiece(
        lines,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        lowercase=lowercase,
    )
    target.write_bytes(model)
    pieces = len(SentencePieceTokenizer(model).pieces)
    if not quiet:
        err_console.print(f"{model_type} model with {pieces} pieces written to {out}")


@app.command()
@handle_errors
def encode(
    file: Input,
    level: Annotated[
        str | None,
        typer.Option(help="word, char or subword (subword needs --sp-model)."),
    ] = None,
    sp_model: SpModelOpt = None,
    lowercase: LowerOpt = False,
    word_tokenizer: WordSplitOpt = None,
    ids: Annotated[
        bool,
        typer.Option("--ids", help="Print ids from --vocab (or -m's) instead."),
    ] = False,
    vocab: Annotated[
        Path | None,
        typer.Option(
            help="Vocabulary file (from `seqcli tokenize vocab --out`), for --ids.",
            callback=not_a_directory,
        ),
    ] = None,
    eos: Annotated[
        bool, typer.Option("--eos", help=f"Close each line with {EOS}.")
    ] = False,
    clean: Annotated[
        bool,
        typer.Option(
            "--clean",
            help="Raw web text: strip HTML tags, split off punctuation and clitics "
            "(what train-sentiment --clean does).",
        ),
    ] = False,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            help="Show what this checkpoint sees: its normalisation, tokenizer "
            "and (with --unk or --ids) vocabulary.",
            callback=not_a_directory,
        ),
    ] = None,
    unk: Annotated[
        bool,
        typer.Option("--unk", help="With -m: show words the model lacks as <unk>."),
    ] = False,
) -> None:
    """Split text into tokens (or ids), one line of output per line of input.

    Example: seqcli tokenize encode reviews.txt -m models/sentiment.pt --unk
    """
    if model is not None:
        given = {
            "--level": level,
            "--sp-model": sp_model,
            "--lowercase": lowercase,
            "--word-tokenizer": word_tokenizer,
            "--clean": clean,
            "--vocab": vocab,
        }
        _refuse_with_model([flag for flag, value in given.items() if value])
        tokenizer, table = _model_tokenizer(model, need_vocab=ids or unk)
    elif unk:
        raise ConfigError("--unk needs -m MODEL (the vocabulary to check)")
    else:
        tokenizer = _tokenizer(
            level or "word", sp_model, lowercase, split=word_tokenizer, clean=clean
        )
        table = _vocab_for_ids(ids, vocab)
    for line in read_lines(file):
        tokens = tokenizer.tokenize(line.text)
        if ids and table is not None:
            print(" ".join(map(str, table.encode(tokens, add_eos=eos))))
            continue
        if unk and table is not None:
            tokens = [t if t in table else UNK for t in tokens]
        print(" ".join(_show(tokenizer, tokens) + ([EOS] if eos else [])))


def _refuse_with_model(flags: list[str]) -> None:
    if flags:
        raise ConfigError(
            f"{', '.join(flags)} cannot be combined with -m: the model's own "
            "normalisation, tokenizer and vocabulary are used"
        )


def _model_tokenizer(path: Path, *, need_vocab: bool) -> tuple[Tokenizer, Vocab | None]:
    """The tokenizer and the word vocabulary of a checkpoint."""
    from seqcli.checkpoint import load_checkpoint  # imports torch: only with -m

    data = load_checkpoint(path, command="`seqcli tokenize encode -m`")
    tokenizer = checkpoint_tokenizer(data)
    tokens = data.get("vocab", {}).get("tokens")
    if tokens is None and need_vocab:
        raise ConfigError(f"{path} holds no word vocabulary to check tokens in")
    return tokenizer, Vocab.from_list(tokens) if tokens is not None else None


def _vocab_for_ids(ids: bool, vocab: Path | None) -> Vocab | None:
    if ids and vocab is None:
        raise ConfigError(
            "--ids needs --vocab FILE (build one with `seqcli tokenize vocab --out`)"
        )
    return read_vocab_file(str(vocab)) if ids and vocab is not None else None


@app.command()
@handle_errors
def decode(
    file: Input,
    level: LevelOpt = "word",
    sp_model: SpModelOpt = None,
    ids: Annotated[
        bool, typer.Option("--ids", help="Input holds ids from --vocab.")
    ] = False,
    vocab: Annotated[
        Path | None,
        typer.Option(help="Vocabulary file, for --ids.", callback=not_a_directory),
    ] = None,
    word_tokenizer: WordSplitOpt = None,
) -> None:
    """Turn tokens (or ids) back into text: the inverse of `encode`.

    Example: seqcli tokenize decode pieces.txt --sp-model m.model
    """
    tokenizer = _tokenizer(level, sp_model, False, split=word_tokenizer)
    table = _vocab_for_ids(ids, vocab)
    for line in read_lines(file):
        parts = line.text.split()
        if table is not None:
            try:
                parts = table.decode(int(p) for p in parts)
            except (ValueError, IndexError):
                from seqcli.errors import DataFormatError

                raise DataFormatError(
                    f"not an id of this vocabulary ({len(table)} ids)",
                    file,
                    line.lineno,
                ) from None
        elif tokenizer.kind == "char":
            parts = [p.replace(SPACE, " ") for p in parts]
        parts = [p for p in parts if p != EOS]
        print(tokenizer.detokenize(parts))


@app.command()
@handle_errors
def vocab(
    file: Input,
    level: LevelOpt = "word",
    sp_model: SpModelOpt = None,
    lowercase: LowerOpt = False,
    min_freq: Annotated[
        int, typer.Option(help="Drop tokens seen fewer times.", min=1)
    ] = 1,
    max_size: Annotated[
        int,
        typer.Option(
            help="Keep at most this many entries, specials included (0 = all).", min=0
        ),
    ] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the vocabulary (token<TAB>count per line, in id order).",
            callback=not_a_directory,
        ),
    ] = None,
    top: Annotated[int, typer.Option(help="Most frequent tokens to list.", min=0)] = 15,
    heldout: Annotated[
        Path | None,
        typer.Option(
            help="Also report the OOV rate of this file.", callback=not_a_directory
        ),
    ] = None,
    word_tokenizer: WordSplitOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Build a vocabulary and print its size, coverage, OOV rate and top tokens.

    Example: seqcli tokenize vocab corpus.txt --min-freq 2 --heldout valid.txt
    """
    inputs = {"FILE": file, "--sp-model": sp_model, "--heldout": heldout}
    target = None if out is None else OutputFile(out, inputs=inputs)
    tokenizer = _tokenizer(level, sp_model, lowercase, split=word_tokenizer)
    counts = _count(tokenizer, file)
    built = build_vocab(counts, min_freq=min_freq, max_size=max_size)
    stats = vocab_stats(built, counts, top=top)
    summary = Table(title="vocabulary", show_header=False, title_justify="left")
    summary.add_row(f"entries (with {len(SPECIALS)} specials)", f"{stats.size:,}")
    summary.add_row("token types in text", f"{stats.types:,}")
    summary.add_row("running tokens", f"{stats.tokens:,}")
    summary.add_row("coverage of running tokens", f"{stats.coverage:.2%}")
    summary.add_row("OOV rate (-> <unk>)", f"{stats.oov_rate:.2%}")
    if heldout is not None:
        held = vocab_stats(built, _count(tokenizer, str(heldout)))
        summary.add_row(f"OOV rate of {heldout.name}", f"{held.oov_rate:.2%}")
    out_console.print(summary)
    if top:
        common = Table(title=f"top {top}", title_justify="left")
        for name in ("rank", "token", "count", "share"):
            common.add_column(name, justify="left" if name == "token" else "right")
        for rank, (tok, n) in enumerate(stats.most_common, start=1):
            common.add_row(str(rank), repr(tok), f"{n:,}", f"{n / stats.tokens:.2%}")
        out_console.print(common)
    if target is not None:
        write_vocab_file(built, counts, target)
        if not quiet:
            err_console.print(f"vocabulary of {len(built)} entries written to {out}")


def _count(tokenizer: Tokenizer, path: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in read_text(path):
        counts.update(tokenizer.tokenize(line.text))
    return counts
