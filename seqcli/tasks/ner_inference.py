"""Using a trained tagger: `load_tagger`, `tag`, `evaluate_tagger`, output formats.

Sentences come as token lists: raw text is tokenised with the model's tokenizer
(`text_sentences`, which also finds each token's characters in its line), CoNLL
input is read as columns. Predictions come out in the tag scheme of the model's
training files (or the one asked for), with each entity's token span and
character offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from seqcli import memory
from seqcli.checkpoint import load_checkpoint
from seqcli.config import NerConfig, from_dict
from seqcli.errors import ConfigError
from seqcli.metrics.ner import NerReport, chunks_of, conlleval, detect_scheme
from seqcli.nn.crf import nbest_bytes
from seqcli.nn.tagger import Tagger, TaggerEnsemble
from seqcli.readers import display_name, empty_input, read_conll, read_lines
from seqcli.tasks.ner import (
    PREDICT_BATCH,
    TASK,
    load_network,
    predict,
    stored_vocabs,
    to_scheme,
)
from seqcli.tasks.ner_data import Lexicon, check_scheme
from seqcli.temperature import UNCALIBRATED, Calibration, calibration_of
from seqcli.tokenizers import Tokenizer, tokenizer_from_dict
from seqcli.vocab import Vocab


@dataclass
class LoadedTagger:
    network: Tagger | TaggerEnsemble
    lexicon: Lexicon
    labels: Vocab  # tags of the training scheme
    tokenizer: Tokenizer
    cfg: NerConfig
    scheme: str  # the scheme of the training files, predictions' default
    calibration: Calibration = UNCALIBRATED  # the stored temperature (T = 1: none)


def load_taggers(
    paths: Sequence[str | Path], *, device: str = "cpu", command: str = "this command"
) -> LoadedTagger:
    """One tagger, or several as an ensemble (`nn.tagger.TaggerEnsemble`: their
    CRF scores averaged) that reads text as the first one does.

    The members must share the word and character vocabularies and the tag set,
    as taggers of one recipe trained with different seeds do.
    """
    if not paths:
        raise ConfigError("no tagger given")
    loaded = [load_tagger(p, device=device, command=command) for p in paths]
    first = loaded[0]
    if len(loaded) == 1:
        return first
    for path, other in zip(paths[1:], loaded[1:], strict=True):
        _check_member(first, other, f"{paths[0]}", f"{path}")
    orders = [[other.labels.stoi[t] for t in first.labels.itos] for other in loaded]
    network = TaggerEnsemble([t.network for t in loaded], orders).to(device).eval()
    # The mean of CRF scores is one CRF; its scores are divided by the members'
    # mean temperature (exact when they share one, as a model and itself do).
    mean_t = sum(t.calibration.temperature for t in loaded) / len(loaded)
    return replace(first, network=network, calibration=Calibration(mean_t))


def _check_member(first: LoadedTagger, other: LoadedTagger, a: str, b: str) -> None:
    """An ensemble's members read the same ids for the same words."""
    same_reading = (
        first.lexicon.words.itos == other.lexicon.words.itos
        and first.lexicon.chars.itos == other.lexicon.chars.itos
        and first.lexicon.lowercase == other.lexicon.lowercase
        and first.lexicon.normalize_digits == other.lexicon.normalize_digits
    )
    if not same_reading:
        raise ConfigError(
            f"{b}: its vocabulary differs from {a}'s; an ensemble's taggers must "
            "share it (train them on the same files, with the same --init-from, "
            "and change only --seed)"
        )
    if set(other.labels.itos) != set(first.labels.itos):
        raise ConfigError(
            f"{b}: its tags ({', '.join(sorted(other.labels.itos))}) differ from "
            f"{a}'s ({', '.join(sorted(first.labels.itos))})"
        )


def load_tagger(
    path: str | Path, *, device: str = "cpu", command: str = "this command"
) -> LoadedTagger:
    """A trained tagger with everything needed to read text or CoNLL columns."""
    data = load_checkpoint(path, task=TASK, command=command)
    cfg = from_dict(NerConfig, data["config"])
    vocabs = stored_vocabs(data)
    network = load_network(data, source=str(path)).to(device).eval()
    scheme = data.get("data", {}).get("scheme", "iob2")
    tokenizer = tokenizer_from_dict(data["tokenizer"])
    return LoadedTagger(
        network,
        vocabs["lexicon"],
        vocabs["labels"],
        tokenizer,
        cfg,
        scheme,
        calibration_of(data, source=str(path)),
    )


# --- input ---------------------------------------------------------------------------
@dataclass
class Sentence:
    """Tokens to tag, the text they were read from and where each token is in it."""

    tokens: list[str]
    text: str
    offsets: list[tuple[int, int]]  # (start, end) character offsets in `text`
    fields: list[list[str]] | None = None  # CoNLL input: each token line's columns


def align(text: str, tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Each token's (start, end) characters in `text`, searched left to right.

    A token the tokenizer rewrote (a normalised quote) and so cannot be found gets
    the place where it would start and its own length.
    """
    spans = []
    cursor = 0
    for token in tokens:
        start = text.find(token, cursor)
        if start < 0:
            while cursor < len(text) and text[cursor].isspace():
                cursor += 1
            start = cursor
        end = min(start + len(token), len(text))
        spans.append((start, end))
        cursor = end
    return spans


def text_sentences(lines: Iterable[str], tokenizer: Tokenizer) -> list[Sentence]:
    """One sentence per line, tokenised as the model's training text was."""
    out = []
    for line in lines:
        tokens = tokenizer.tokenize(line)
        out.append(Sentence(tokens, line, align(line, tokens)))
    return out


def conll_sentences(path: str, *, token_column: int = 1) -> list[Sentence]:
    """The sentences of a CoNLL-style file (the tokens of `token_column`); `text`
    is the tokens joined by spaces, which the offsets index."""
    out = []
    for s in read_conll(path, token_column=token_column, tag_column=None):
        text = " ".join(s.tokens)
        out.append(Sentence(s.tokens, text, align(text, s.tokens), s.fields))
    return out


def read_input(
    path: str, tokenizer: Tokenizer, *, fmt: str = "text", token_column: int = 1
) -> list[Sentence]:
    """`tag`'s input: raw text lines or CoNLL columns; nothing at all is an error."""
    if fmt == "conll":
        sentences = conll_sentences(path, token_column=token_column)
    else:
        sentences = text_sentences((line.text for line in read_lines(path)), tokenizer)
    if not any(s.tokens for s in sentences):
        raise empty_input(path)
    return sentences


# --- tagging -----------------------------------------------------------------------
@dataclass
class Entity:
    kind: str
    text: str
    start: int  # first token
    end: int  # one past the last token
    char_start: int
    char_end: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "char_start": self.char_start,
            "char_end": self.char_end,
        }


@dataclass
class TagPath:
    """One tag sequence of a sentence, in the output scheme."""

    tags: list[str]
    score: float
    entities: list[Entity]
    probs: list[float] | None = None  # each token's marginal P(its tag)


@dataclass
class TaggedSentence:
    sentence: Sentence
    paths: list[TagPath] = field(default_factory=list)  # best first

    @property
    def best(self) -> TagPath:
        return self.paths[0]


def tag(
    model: LoadedTagger,
    sentences: Sequence[Sentence],
    *,
    n_best: int = 1,
    probs: bool = False,
    scheme: str | None = None,
    batch_size: int = PREDICT_BATCH,
) -> list[TaggedSentence]:
    """The `n_best` tag sequences of each sentence, in `scheme` (default: the
    scheme of the model's training files), with their entities."""
    if n_best < 1:
        raise ConfigError(f"--n-best: must be at least 1, got {n_best}")
    if n_best > 1 and model.network.crf is None:
        raise ConfigError("--n-best above 1 needs a model with a CRF (--decoder crf)")
    scheme = scheme or model.scheme
    index = [i for i, s in enumerate(sentences) if s.tokens]
    longest = max((len(sentences[i].tokens) for i in index), default=0)
    _check_nbest_memory(model, n_best, min(batch_size, len(index)), longest)
    encoded = model.lexicon.encode([sentences[i].tokens for i in index])
    found = predict(
        model.network,
        encoded,
        batch_size=batch_size,
        k=n_best,
        probs=probs,
        temperature=model.calibration.temperature,
    )
    out = [TaggedSentence(s) for s in sentences]
    for i, tagged in zip(index, found, strict=True):
        s = sentences[i]
        for r, ids in enumerate(tagged.paths):
            tags = to_scheme(ids, model.labels, model.cfg.train_scheme, scheme)
            path_probs = None if tagged.probs is None else tagged.probs[r]
            out[i].paths.append(
                TagPath(tags, tagged.scores[r], entities(s, tags, scheme), path_probs)
            )
    for t in out:
        if not t.paths:  # an empty line: no tokens, no entities
            t.paths.append(TagPath([], 0.0, [], [] if probs else None))
    return out


def _check_nbest_memory(
    model: LoadedTagger, n_best: int, sentences: int, longest: int
) -> None:
    """Refuse an n-best search (`CRF.nbest`) that cannot fit in memory."""
    if n_best == 1 or not sentences:
        return
    need = nbest_bytes(sentences, longest, len(model.labels), n_best)
    memory.check_search_fits(
        need,
        next(model.network.parameters()).device,
        search=f"--n-best {n_best} x --batch-size {sentences}",
        inputs=f"sentences of {longest} tokens",
        lower="--n-best or --batch-size",
    )


def entities(sentence: Sentence, tags: Sequence[str], scheme: str) -> list[Entity]:
    found = []
    for c in chunks_of(tags, scheme):
        start, end = sentence.offsets[c.start][0], sentence.offsets[c.end - 1][1]
        found.append(
            Entity(c.kind, sentence.text[start:end], c.start, c.end, start, end)
        )
    return found


# --- output ------------------------------------------------------------------------
def conll_lines(t: TaggedSentence) -> list[str]:
    """CoNLL rows: the input's columns (or the token), then each path's tag (and
    probability); an n-best list starts with a comment line of its scores."""
    lines = []
    if len(t.paths) > 1:
        lines.append("# scores: " + " ".join(f"{p.score:.4f}" for p in t.paths))
    s = t.sentence
    for i, token in enumerate(s.tokens):
        cells = list(s.fields[i]) if s.fields is not None else [token]
        for p in t.paths:
            cells.append(p.tags[i])
            if p.probs is not None:
                cells.append(f"{p.probs[i]:.4f}")
        lines.append("\t".join(cells))
    return [*lines, ""]


def spans_line(t: TaggedSentence, path: TagPath) -> str:
    """``[PER John Smith] lives in [LOC Paris]``: the text with entities bracketed."""
    s = t.sentence
    out, cursor = [], 0
    for e in path.entities:
        out.append(s.text[cursor : e.char_start])
        out.append(f"[{e.kind} {e.text}]")
        cursor = e.char_end
    out.append(s.text[cursor:])
    return "".join(out)


def span_lines(t: TaggedSentence) -> list[str]:
    """One line per input line; an n-best list gives rank, score and spans per
    path, then a blank line."""
    if len(t.paths) == 1:
        return [spans_line(t, t.best)]
    rows = [f"{r}\t{p.score:.4f}\t{spans_line(t, p)}" for r, p in enumerate(t.paths, 1)]
    return [*rows, ""]


def json_record(t: TaggedSentence) -> dict[str, Any]:
    """One JSON object per sentence: text, tokens, best tags and entities (with
    token spans and character offsets), score; probs and nbest when asked."""

    def path_dict(p: TagPath) -> dict[str, Any]:
        record: dict[str, Any] = {
            "score": p.score,
            "tags": p.tags,
            "entities": [e.to_dict() for e in p.entities],
        }
        if p.probs is not None:
            record["probs"] = [round(x, 6) for x in p.probs]
        return record

    record = {"text": t.sentence.text, "tokens": t.sentence.tokens}
    record.update(path_dict(t.best))
    if len(t.paths) > 1:
        record["nbest"] = [path_dict(p) for p in t.paths]
    return record


# --- evaluation ----------------------------------------------------------------------
def evaluate_tagger(
    model: LoadedTagger, path: str, *, batch_size: int = PREDICT_BATCH
) -> NerReport:
    """conlleval's report of the model on a tagged file, read with the model's
    columns; the file's scheme is detected (or the model's --scheme), and the
    predictions are converted to it before scoring."""
    cfg = model.cfg
    sentences = list(
        read_conll(path, token_column=cfg.token_column, tag_column=cfg.tag_column)
    )
    if not sentences:
        raise empty_input(path)
    scheme = cfg.scheme
    if scheme == "auto":
        scheme = detect_scheme(s.tags for s in sentences)  # type: ignore[misc]
    check_scheme(sentences, scheme, display_name(path))
    encoded = model.lexicon.encode([s.tokens for s in sentences])
    found = predict(model.network, encoded, batch_size=batch_size)
    predicted = [
        to_scheme(t.paths[0], model.labels, cfg.train_scheme, scheme) for t in found
    ]
    gold = [s.tags for s in sentences]
    return conlleval(zip(gold, predicted, strict=True))  # type: ignore[arg-type]
