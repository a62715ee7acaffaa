"""Training word vectors: `train_embeddings`, skip-gram with negative sampling.

The corpus is read line by line and tokenised into words; words seen fewer than
`min_freq` times are dropped, as word2vec does. Each epoch draws its own training
pairs (frequent words subsampled, each window shrunk at random) and `fit` trains
`nn.SkipGram` on them. Querying and evaluating vectors is in `embeddings_inference`.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from seqcli.batching import Batch
from seqcli.checkpoint import load_weights
from seqcli.config import EmbeddingsConfig, from_dict
from seqcli.devices import dist_info
from seqcli.errors import ConfigError, DataFormatError
from seqcli.memory import check_fits
from seqcli.nn.skipgram import SkipGram
from seqcli.readers import read_text
from seqcli.reporting import Reporter, SilentReporter
from seqcli.runs import TaskRun, TrainOutcome, train_task, update_metrics
from seqcli.tokenizers import Tokenizer, build_tokenizer
from seqcli.training import Objective
from seqcli.vocab import SPECIALS, Vocab, build_vocab, count_words

TASK = "embeddings"
MONITOR_PAIRS = 8192  # fixed pairs whose loss `fit` watches (there is no valid set)
NOISE_TABLE = 10_000_000  # entries of the table negatives are drawn from


@dataclass
class SkipGramData:
    tokenizer: Tokenizer
    vocab: Vocab
    stream: Tensor  # (words,) ids of the corpus, words outside the vocabulary dropped
    lines: Tensor  # (words,) line number of each word: windows stop at line ends
    keep: Tensor  # (vocab,) probability of keeping each word (subsampling)
    noise: Tensor  # (entries,) ids, each word ~ its count ^ 3/4: negatives' source
    corpus_words: int  # tokens in the corpus, OOV ones included


def prepare_data(cfg: EmbeddingsConfig) -> SkipGramData:
    """Check the settings; read and tokenise the corpus, build the vocabulary,
    encode the word stream."""
    _check(cfg)
    if cfg.tokenizer.level != "word":
        raise ConfigError("train-embeddings learns word vectors: --level must be word")
    lines = read_text(cfg.train_path)
    tokenizer = build_tokenizer(cfg.tokenizer, (line.text for line in lines))
    token_lines = [tokenizer.tokenize(line.text) for line in lines]
    counts = Counter(tok for tokens in token_lines for tok in tokens)
    vocab = build_vocab(
        counts, min_freq=cfg.tokenizer.min_freq, max_size=cfg.tokenizer.max_size
    )
    if len(vocab) - len(SPECIALS) < 2:
        raise DataFormatError(
            f"fewer than two words occur {cfg.tokenizer.min_freq} times or more; "
            "lower --min-count",
            cfg.train_path,
        )
    ids, line_ids = [], []
    for n, tokens in enumerate(token_lines):
        kept = [i for i in vocab.encode(tokens) if i >= len(SPECIALS)]
        ids.extend(kept)
        line_ids.extend([n] * len(kept))
    freq = torch.zeros(len(vocab), dtype=torch.float64)
    for tok, i in vocab.stoi.items():
        freq[i] = counts.get(tok, 0) if i >= len(SPECIALS) else 0
    return SkipGramData(
        tokenizer,
        vocab,
        torch.tensor(ids, dtype=torch.long),
        torch.tensor(line_ids, dtype=torch.long),
        keep_probability(freq, cfg.subsample),
        noise_table(freq),
        sum(counts.values()),
    )


def keep_probability(counts: Tensor, t: float) -> Tensor:
    """word2vec's subsampling: keep a word of frequency f with (sqrt(f/t) + 1) t/f.

    Words rarer than about t are always kept; "the" (f ~ 0.05) about 1 time in 20
    at t = 1e-4. t = 0 keeps everything.
    """
    if t <= 0:
        return torch.ones_like(counts, dtype=torch.float)
    f = counts / counts.sum()
    keep = ((f / t).sqrt() + 1) * t / f.clamp(min=1e-30)
    return keep.clamp(max=1.0).float()


def noise_table(counts: Tensor, size: int = NOISE_TABLE) -> Tensor:
    """word2vec's unigram table: each word's share of the entries is count ^ 3/4
    (normalised), so that a negative is one random index into it."""
    share = counts**0.75
    entries = (share / share.sum() * size).round().long()  # (vocab,)
    return torch.repeat_interleave(torch.arange(len(counts)), entries)


def skipgram_pairs(
    data: SkipGramData, window: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """One epoch's (centre, context) pairs, in random order.

    Subsampling comes first, so a window reaches past the words it removed. Each
    centre word gets a window of b words each side, b uniform in 1..`window`
    (nearer words are thus sampled more often); windows do not cross lines.
    """
    kept = torch.rand(data.stream.numel(), generator=generator) < data.keep[data.stream]
    ids, lines = data.stream[kept], data.lines[kept]  # (n,)
    spans = torch.randint(1, window + 1, (ids.numel(),), generator=generator)
    centres, contexts = [], []
    for d in range(1, min(window, ids.numel() - 1) + 1):
        same_line = lines[:-d] == lines[d:]  # (n - d,) word i and word i + d
        right = same_line & (spans[:-d] >= d)  # centre i, context i + d
        left = same_line & (spans[d:] >= d)  # centre i + d, context i
        centres += [ids[:-d][right], ids[d:][left]]
        contexts += [ids[d:][right], ids[:-d][left]]
    if not centres or sum(c.numel() for c in centres) == 0:
        raise DataFormatError(
            "no (word, context) pairs to train on: the corpus is too small, or "
            "subsampling removed its words (lower --subsample, or give more text)"
        )
    centre, context = torch.cat(centres), torch.cat(contexts)
    order = torch.randperm(centre.numel(), generator=generator)
    return centre[order], context[order]


def pair_batches(
    centre: Tensor,
    context: Tensor,
    noise: Tensor,
    *,
    batch_size: int,
    negatives: int,
    generator: torch.Generator,
    steps: int | None = None,
) -> Iterator[Batch]:
    """Batches of pairs: ids (pairs,) centres, targets (pairs, 1 + k) context and
    k negatives drawn from the `noise` table (at most `steps` batches)."""
    count = (centre.numel() + batch_size - 1) // batch_size
    for step in range(count if steps is None else min(count, steps)):
        span = slice(step * batch_size, (step + 1) * batch_size)
        n = centre[span].numel()
        drawn = noise[torch.randint(len(noise), (n * negatives,), generator=generator)]
        targets = torch.cat([context[span].unsqueeze(1), drawn.view(n, negatives)], 1)
        yield Batch(ids=centre[span], targets=targets)


def _check(cfg: EmbeddingsConfig) -> None:
    for key in ("window", "negatives", "emb_size"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{key}: must be at least 1, got {getattr(cfg, key)}")
    if cfg.train.optimizer == "sgd" and (cfg.train.clip or cfg.train.weight_decay):
        # Sparse gradients (only the rows a batch touches) admit neither.
        raise ConfigError(
            "with optimizer sgd (sparse updates) set clip and weight_decay to 0"
        )


_HINT = "lower --emb-size or keep fewer words (--min-count)"


def setup(
    cfg: EmbeddingsConfig,
    device: torch.device,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
    speeds: list[float] | None = None,
) -> TaskRun:
    """Data, network and objective of a skip-gram run (see `runs.train_task`).

    There is no validation set: `fit` watches the loss of a fixed sample of pairs.
    `speeds` receives each epoch's corpus words per second.
    """
    reporter = reporter if reporter is not None else SilentReporter()
    speeds = speeds if speeds is not None else []
    # Refused from the config alone, before the corpus is read (the smallest
    # vocabulary); then exactly, before the network is built.
    fits = {"optimizer": cfg.train.optimizer, "device": device, "hint": _HINT}
    check_fits(lambda: build_network(cfg, len(SPECIALS)), **fits, lower_bound=True)
    data = prepare_data(cfg)
    check_fits(lambda: build_network(cfg, len(data.vocab)), **fits)
    network = build_network(cfg, len(data.vocab)).to(device)
    seed = cfg.train.seed
    first = skipgram_pairs(data, cfg.window, torch.Generator().manual_seed(seed))
    steps = max(1, first[0].numel() // cfg.train.batch_size)
    monitor = next(
        pair_batches(
            *(t[:MONITOR_PAIRS] for t in first),
            data.noise,
            batch_size=MONITOR_PAIRS,
            negatives=cfg.negatives,
            generator=torch.Generator().manual_seed(seed),
        )
    ).to(device)

    def batches(epoch: int, rank: int, world: int) -> Iterator[Batch]:
        generator = torch.Generator().manual_seed(seed * 1000 + epoch)
        start = time.monotonic()
        pairs = first if epoch == 1 else skipgram_pairs(data, cfg.window, generator)
        stream = pair_batches(
            *pairs,
            data.noise,
            batch_size=cfg.train.batch_size,
            negatives=cfg.negatives,
            generator=generator,
            steps=steps,
        )
        for i, batch in enumerate(stream):
            if i % world == rank:
                yield batch
        seconds = time.monotonic() - start
        speeds.append(data.corpus_words / seconds)
        reporter.on_message(
            f"epoch {epoch}: {data.corpus_words:,} corpus words in {seconds:.1f} s, "
            f"{speeds[-1]:,.0f} words/s"
        )

    return TaskRun(
        task=TASK,
        cfg=cfg,
        network=network,
        batches=batches,
        steps_per_epoch=steps // dist_info()[1],
        evaluate=lambda net: {"loss": float(net(monitor))},
        objective=Objective("loss"),
        vocab={"tokens": data.vocab.to_list()},
        tokenizer=data.tokenizer.to_dict(),
        summary={"path": cfg.train_path, "corpus_words": data.corpus_words},
        describe=(
            f"{data.corpus_words:,} corpus words; vocabulary "
            f"{count_words(data.vocab.to_list()):,} "
            f"words (min count {cfg.tokenizer.min_freq}); about "
            f"{first[0].numel():,} pairs per epoch "
            f"({first[0].numel() / data.corpus_words:.1f} per corpus word)"
        ),
        load_network=load_network,
        evaluated_on="train",  # the loss of a fixed sample of training pairs
    )


def build_network(cfg: EmbeddingsConfig, vocab_size: int) -> SkipGram:
    return SkipGram(vocab_size, cfg.emb_size, sparse=cfg.train.optimizer == "sgd")


def load_network(data: dict[str, Any], *, source: str = "checkpoint") -> SkipGram:
    cfg = from_dict(EmbeddingsConfig, data["config"])
    network = build_network(cfg, len(data["vocab"]["tokens"]))
    load_weights(network, data["state_dict"], source=source)
    return network


def train_embeddings(
    cfg: EmbeddingsConfig,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """Train skip-gram word vectors on `cfg.train_path`; returns where they went.

    The mean corpus words per second of the run's epochs is stored with the
    vectors' metrics (`speed`).
    """
    speeds: list[float] = []
    outcome = train_task(
        functools.partial(setup, speeds=speeds), cfg, resume=resume, reporter=reporter
    )
    if speeds and outcome.path.exists() and dist_info()[0] == 0:
        outcome.metrics["speed"] = {"words_per_s": sum(speeds) / len(speeds)}
        update_metrics(outcome.path, TASK, {"speed": outcome.metrics["speed"]})
    return outcome
