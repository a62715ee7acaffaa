"""Translation data: parallel text read, tokenised and encoded on each side.

Two line-aligned files, or one two-column table, give the pairs; each side has its
own tokenizer (or one joint SentencePiece model) and `Vocab`. `prepare_data`
returns every split encoded, with the raw target text kept as BLEU's references.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seqcli.config import TranslationConfig
from seqcli.errors import ConfigError, DataFormatError
from seqcli.readers import SentencePair, read_pairs, read_parallel
from seqcli.tokenizers import Tokenizer, build_tokenizer
from seqcli.vocab import UNK_ID, Vocab, build_vocab


@dataclass
class Split:
    """Encoded pairs of one split, in file order, with the raw target text."""

    src: list[list[int]]
    tgt: list[list[int]]
    src_text: list[str]
    references: list[str]


@dataclass
class TranslationData:
    src_tokenizer: Tokenizer
    tgt_tokenizer: Tokenizer
    src_vocab: Vocab
    tgt_vocab: Vocab
    train: Split
    valid: Split
    test: Split | None
    summary: dict[str, Any]


def read_split(
    cfg: TranslationConfig, src: str | None, tgt: str | None
) -> list[SentencePair]:
    """The pairs of two parallel files, or of `cfg.pairs_path` when `tgt` is None."""
    if tgt is None:
        return read_pairs(src or "", fmt=cfg.data_format)
    return read_parallel(src or "", tgt)


def read_training_pairs(cfg: TranslationConfig) -> list[SentencePair]:
    """The training pairs: of --pairs, or of SRC_FILE and TGT_FILE."""
    if cfg.pairs_path:
        return read_split(cfg, cfg.pairs_path, None)
    return read_split(cfg, cfg.src_path, cfg.tgt_path)


def build_tokenizers(
    cfg: TranslationConfig, pairs: Sequence[SentencePair]
) -> tuple[Tokenizer, Tokenizer]:
    """(source, target) tokenizers; subword models are trained on the pairs."""
    src_text = [p.src for p in pairs]
    tgt_text = [p.tgt for p in pairs]
    if cfg.tokenizer.level == "subword" and cfg.joint_vocab:
        joint = build_tokenizer(cfg.tokenizer, src_text + tgt_text)
        return joint, joint
    return build_tokenizer(cfg.tokenizer, src_text), build_tokenizer(
        cfg.tokenizer, tgt_text
    )


def encode_split(
    pairs: Sequence[SentencePair],
    tokenizers: tuple[Tokenizer, Tokenizer],
    vocabs: tuple[Vocab, Vocab],
) -> Split:
    src = [vocabs[0].encode(tokenizers[0].tokenize(p.src)) for p in pairs]
    tgt = [vocabs[1].encode(tokenizers[1].tokenize(p.tgt)) for p in pairs]
    return Split(src, tgt, [p.src for p in pairs], [p.tgt for p in pairs])


def prepare_data(
    cfg: TranslationConfig,
    *,
    tokenizers: tuple[Tokenizer, Tokenizer] | None = None,
    vocabs: tuple[Vocab, Vocab] | None = None,
    train_pairs: Sequence[SentencePair] | None = None,
) -> TranslationData:
    """Read, tokenise, filter and encode every split; build tokenizers and vocabs
    unless given (a resumed run's). `train_pairs`, when given, replace the
    training files' pairs (a distilled run's teacher translations)."""
    train_pairs = read_training_pairs(cfg) if train_pairs is None else list(train_pairs)
    if not cfg.valid_src_path or not cfg.valid_tgt_path:
        raise ConfigError("give the validation set: --valid-src FILE --valid-tgt FILE")
    valid_pairs = read_split(cfg, cfg.valid_src_path, cfg.valid_tgt_path)
    test_pairs = None
    if cfg.test_src_path or cfg.test_tgt_path:
        if not (cfg.test_src_path and cfg.test_tgt_path):
            raise ConfigError("give both --test-src and --test-tgt, or neither")
        test_pairs = read_split(cfg, cfg.test_src_path, cfg.test_tgt_path)
    tokenizers = tokenizers or build_tokenizers(cfg, train_pairs)
    src_tokens = [tokenizers[0].tokenize(p.src) for p in train_pairs]
    tgt_tokens = [tokenizers[1].tokenize(p.tgt) for p in train_pairs]
    if vocabs is None:
        vocabs = tuple(  # type: ignore[assignment]
            build_vocab(
                Counter(t for tokens in side for t in tokens),
                min_freq=cfg.tokenizer.min_freq,
                max_size=cfg.tokenizer.max_size,
            )
            for side in (src_tokens, tgt_tokens)
        )
    assert vocabs is not None
    keep = [
        i
        for i in range(len(train_pairs))
        if not cfg.max_len
        or (len(src_tokens[i]) <= cfg.max_len and len(tgt_tokens[i]) <= cfg.max_len)
    ]
    if not keep:
        raise DataFormatError(
            f"every training pair is longer than --max-len {cfg.max_len} tokens",
            cfg.pairs_path or cfg.src_path,
        )
    train = Split(
        [vocabs[0].encode(src_tokens[i]) for i in keep],
        [vocabs[1].encode(tgt_tokens[i]) for i in keep],
        [train_pairs[i].src for i in keep],
        [train_pairs[i].tgt for i in keep],
    )
    valid = encode_split(valid_pairs, tokenizers, vocabs)
    test = None if test_pairs is None else encode_split(test_pairs, tokenizers, vocabs)
    summary = _summary(cfg, train, valid, test, vocabs, len(train_pairs) - len(keep))
    return TranslationData(*tokenizers, *vocabs, train, valid, test, summary)


def _summary(
    cfg: TranslationConfig,
    train: Split,
    valid: Split,
    test: Split | None,
    vocabs: tuple[Vocab, Vocab],
    dropped: int,
) -> dict[str, Any]:
    def describe(path: str, split: Split) -> dict[str, Any]:
        return {
            "path": path,
            "pairs": len(split.src),
            "src_tokens": sum(map(len, split.src)),
            "tgt_tokens": sum(map(len, split.tgt)),
        }

    valid_ids = [i for ids in valid.src for i in ids]
    summary: dict[str, Any] = {
        "train": describe(cfg.pairs_path or cfg.src_path, train),
        "valid": describe(cfg.valid_src_path, valid),
        "dropped_long_pairs": dropped,
        "src_vocab_size": len(vocabs[0]),
        "tgt_vocab_size": len(vocabs[1]),
        "valid_src_oov_rate": valid_ids.count(UNK_ID) / max(1, len(valid_ids)),
    }
    if test is not None:
        summary["test"] = describe(cfg.test_src_path or "", test)
    return summary


def describe_data(summary: dict[str, Any], max_len: int) -> str:
    """One line about the data, with the pairs --max-len dropped."""
    train = summary["train"]
    dropped = summary["dropped_long_pairs"]
    line = (
        f"{train['pairs']:,} training pairs ({train['tgt_tokens']:,} target tokens), "
        f"{summary['valid']['pairs']:,} validation; vocabularies "
        f"{summary['src_vocab_size']:,} source / {summary['tgt_vocab_size']:,} target"
    )
    if dropped:
        line += f"; dropped {dropped:,} pairs longer than {max_len} tokens (--max-len)"
    return line
