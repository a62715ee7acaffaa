"""A tagger's teachers (--teacher, --unlabeled): checked, run over the training
sentences (and the unlabeled ones) with their own vocabularies, once, before
training; their tag posteriors averaged per token (`seqcli.distill`).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from seqcli.checkpoint import load_checkpoint
from seqcli.config import NerConfig
from seqcli.distill import (
    Teaching,
    average,
    label_columns,
    read_unlabeled,
    teaching_of,
)
from seqcli.tasks.ner_data import Encoded, Lexicon, NerData, Split
from seqcli.tasks.ner_network import TASK, load_network, posteriors, stored_vocabs
from seqcli.tokenizers import WordTokenizer
from seqcli.vocab import Vocab


def unlabeled_sentences(cfg: NerConfig) -> list[list[str]]:
    """--unlabeled's lines as token lists, split as `seqcli tag` splits text."""
    if not cfg.distill.unlabeled_path:
        return []
    tokenizer = WordTokenizer()
    lines = read_unlabeled(cfg.distill.unlabeled_path)
    return [tokens for tokens in map(tokenizer.tokenize, lines) if tokens]


def teach(
    cfg: NerConfig, data: NerData, silver: list[list[str]], device: torch.device
) -> tuple[Split, Teaching]:
    """The training sentences (and the unlabeled ones, appended with placeholder
    O tags) with each token's teachers' averaged tag posteriors.

    Every teacher is checked (its task, its tag set) before any tags a sentence;
    each reads the tokens with its own vocabularies.
    """
    started = time.monotonic()
    teachers = [_load_teacher(path, data.labels) for path in cfg.distill.teachers]
    tokens = [*data.train.tokens, *silver]
    per_teacher = []
    for checkpoint, columns in teachers:
        lexicon = stored_vocabs(checkpoint)["lexicon"]
        network = load_network(checkpoint, source="--teacher").to(device)
        probs = posteriors(
            network, lexicon.encode(tokens), temperature=cfg.distill.temperature
        )
        per_teacher.append([p[:, columns] for p in probs])
        del network
    teaching = teaching_of(
        cfg.distill,
        average(per_teacher),
        gold_examples=len(data.train),
        teachers_seconds=time.monotonic() - started,
    )
    return _with_silver(data.train, data.lexicon, silver), teaching


def _with_silver(train: Split, lexicon: Lexicon, silver: list[list[str]]) -> Split:
    """The training split and the unlabeled sentences after it (all O: their gold
    term is never used)."""
    if not silver:
        return train
    encoded = lexicon.encode(silver)
    return Split(
        train.path,
        [*train.tokens, *silver],
        [*train.gold, *(["O"] * len(s) for s in silver)],
        Encoded(
            [*train.encoded.words, *encoded.words],
            [*train.encoded.chars, *encoded.chars],
            [*train.encoded.casing, *encoded.casing],
        ),
        [*train.tags, *([0] * len(s) for s in silver)],
    )


def _load_teacher(path: str, labels: Vocab) -> tuple[dict[str, Any], list[int]]:
    """A teacher's checkpoint and, for each of the student's tags, the teacher's
    column holding it (a teacher trained in another tag scheme is refused)."""
    checkpoint = load_checkpoint(path, task=TASK, command="--teacher")
    teacher = Vocab.from_list(checkpoint["vocab"]["labels"], specials=False)
    return checkpoint, label_columns(
        teacher.itos, labels.itos, source=str(path), what="tags"
    )
