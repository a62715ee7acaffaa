"""Examples -> tensors: padded batches, length buckets and language-model windows.

The only place tensors are created from data. Batches are batch-first, right-padded
with `<pad>` (id 0), and carry `lengths` and a boolean `mask` (True = real token).
"""

from __future__ import annotations

import itertools
import random
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import TypeVar

import torch
from torch import Tensor

from seqcli.vocab import BOS_ID, EOS_ID, PAD_ID

T = TypeVar("T")


@dataclass
class Batch:
    """One batch for any task; unused fields stay None.

    ``carry`` marks a batch that continues the previous one (a language-model
    window after the first: truncated BPTT). `training.fit` then sets ``state`` to
    the recurrent state the network returned for the previous batch; a network
    starts from ``state`` (zeros when None) and returns the state it ends with.
    Whoever calls the network hands the state over, so it is always in sight: in
    `fit` (and its resume snapshots) or in an evaluation loop's local variable.
    """

    ids: Tensor  # (batch, time) input ids
    targets: Tensor | None = None  # (batch, time) next ids, or (batch,) labels
    lengths: Tensor | None = (
        None  # (batch,) real lengths, on the CPU (packing needs it)
    )
    mask: Tensor | None = None  # (batch, time) True at real tokens
    carry: bool = False
    state: Tensor | tuple[Tensor, ...] | None = None  # recurrent state to start from
    index: Tensor | None = None  # (batch,) position of each row in the original order
    decoder_ids: Tensor | None = None  # (batch, time) <bos> + output, encoder-decoders
    chars: Tensor | None = None  # (batch, time, chars) character ids of each token
    casing: Tensor | None = None  # (batch, time) casing category of each token
    # Distillation (`nn.distill`): the teachers' averaged probabilities at
    # `temperature`, (batch, classes) or (batch, time, tags), zeros past a row's
    # end; `gold` (batch,) is False on a row of unlabeled text, which has no gold
    # label and learns from the teachers alone.
    soft_targets: Tensor | None = None
    gold: Tensor | None = None
    distill_weight: float = 0.0
    temperature: float = 1.0

    @property
    def num_tokens(self) -> int:
        """Real tokens in the batch, for tokens/s (target tokens for an
        encoder-decoder, as translation toolkits count them)."""
        if self.decoder_ids is not None and self.targets is not None:
            return int((self.targets != PAD_ID).sum())
        if self.mask is not None:
            return int(self.mask.sum())
        return self.ids.numel()

    def to(self, device: torch.device | str) -> Batch:
        """Move tensors to `device`; `lengths` stays on the CPU for packing."""
        moved = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor) and f.name != "lengths":
                moved[f.name] = value.to(device, non_blocking=True)
        return replace(self, **moved)


def pad_batch(
    seqs: Sequence[Sequence[int]],
    *,
    targets: Sequence[int] | None = None,
    index: Sequence[int] | None = None,
) -> Batch:
    """Right-pad id sequences into one batch; empty ones get one <pad>."""
    lengths = torch.tensor([max(len(s), 1) for s in seqs], dtype=torch.long)
    ids = torch.full((len(seqs), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, seq in enumerate(seqs):
        if seq:
            ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    mask = torch.arange(ids.size(1)).unsqueeze(0) < lengths.unsqueeze(
        1
    )  # (batch, time)
    return Batch(
        ids=ids,
        targets=None if targets is None else torch.as_tensor(targets, dtype=torch.long),
        lengths=lengths,
        mask=mask,
        index=None if index is None else torch.as_tensor(index, dtype=torch.long),
    )


def with_soft_targets(
    batch: Batch,
    soft: Sequence[Tensor],
    gold: Sequence[bool],
    *,
    weight: float,
    temperature: float,
) -> Batch:
    """`batch` with its rows' teacher probabilities: one (classes,) tensor per row,
    or one (length, tags) tensor, right-padded with zeros to the batch's time."""
    if soft[0].dim() == 1:
        stacked = torch.stack(list(soft))  # (batch, classes)
    else:
        b, t = batch.ids.shape
        stacked = torch.zeros(b, t, soft[0].size(-1))  # (batch, time, tags)
        for row, probs in enumerate(soft):
            stacked[row, : probs.size(0)] = probs
    return replace(
        batch,
        soft_targets=stacked,
        gold=torch.as_tensor(list(gold), dtype=torch.bool),
        distill_weight=weight,
        temperature=temperature,
    )


def pad_pairs(
    inputs: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]]
) -> Batch:
    """Pad (input, output) id sequences of equal lengths: per-position targets."""
    batch = pad_batch(inputs)
    targets = torch.full_like(batch.ids, PAD_ID)
    for row, seq in enumerate(outputs):
        if seq:
            targets[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return replace(batch, targets=targets)


def pad_parallel(
    sources: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]]
) -> Batch:
    """Source and output id sequences of one batch, for an encoder-decoder.

    The output is read twice, shifted: the decoder's input is `<bos>` y1 ... yn and
    its targets are y1 ... yn `<eos>`::

        decoder_ids:  <bos>  y1  y2  y3
        targets:       y1    y2  y3  <eos>   <pad> after each row's end
    """
    batch = pad_batch(sources)
    width = max(len(y) for y in outputs) + 1
    decoder_ids = torch.full((len(outputs), width), PAD_ID, dtype=torch.long)
    targets = torch.full((len(outputs), width), PAD_ID, dtype=torch.long)
    for row, y in enumerate(outputs):
        decoder_ids[row, : len(y) + 1] = torch.tensor([BOS_ID, *y], dtype=torch.long)
        targets[row, : len(y) + 1] = torch.tensor([*y, EOS_ID], dtype=torch.long)
    return replace(batch, decoder_ids=decoder_ids, targets=targets)


def pad_tagged(
    ids: Sequence[Sequence[int]],
    chars: Sequence[Sequence[Sequence[int]]],
    casing: Sequence[Sequence[int]],
    tags: Sequence[Sequence[int]] | None = None,
) -> Batch:
    """Sentences for a tagger: word ids, each word's character ids, casing ids and
    (in training) one tag per word; <pad> (0) everywhere past a row's end."""
    batch = pad_batch(ids)
    b, t = batch.ids.shape
    width = max(max((len(w) for sentence in chars for w in sentence), default=1), 1)
    # One tensor from one flat list: a tensor per word would cost more than the
    # network's forward pass when tagging.
    flat = [PAD_ID] * (b * t * width)
    for row, sentence in enumerate(chars):
        for col, word in enumerate(sentence):
            start = (row * t + col) * width
            flat[start : start + len(word)] = word
    char_ids = torch.tensor(flat, dtype=torch.long).view(b, t, width)
    batch = replace(
        batch, chars=char_ids, casing=_pad_rows(casing, t), index=batch.index
    )
    return batch if tags is None else replace(batch, targets=_pad_rows(tags, t))


def _pad_rows(rows: Sequence[Sequence[int]], width: int) -> Tensor:
    out = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    for r, row in enumerate(rows):
        if row:
            out[r, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def bucket_order(
    lengths: Sequence[int],
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    bucket: bool = True,
    strata: int = 0,
) -> list[list[int]]:
    """Group example indices into batches of similar length.

    Sorting within chunks of 100 batches keeps padding low without making every
    epoch see the same batches; the batch order is then shuffled. With
    ``bucket=False`` batches are plain consecutive (or shuffled) slices.

    With ``strata`` > 1 (bucketed and shuffled), the batches are not shuffled
    freely but dealt from `strata` length groups in turn (`_deal_by_length`): any
    `strata` consecutive steps then hold texts of every length.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(order)
    if bucket:
        chunk = batch_size * 100
        order = [
            i
            for start in range(0, len(order), chunk)
            for i in sorted(order[start : start + chunk], key=lambda i: lengths[i])
        ]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle and bucket and strata > 1:
        return _deal_by_length(batches, lengths, strata, rng)
    if shuffle:
        rng.shuffle(batches)
    return batches


def _deal_by_length(
    batches: list[list[int]], lengths: Sequence[int], strata: int, rng: random.Random
) -> list[list[int]]:
    """Batches in rounds that each take one batch of every length group.

    Bucketed batches are each of one length, and a plain shuffle lets a run of
    long (or short) ones come together; a classifier drifts towards what it read
    last (on IMDB, after long batches it predicts fewer positives), so its
    accuracy at an evaluation depended on which lengths came just before. Here
    the batches, ranked by mean length, are cut into `strata` groups, each
    shuffled, and dealt one per group per round, the groups in a random order::

        groups (4):  short s1 s2 s3 | mid-short m1 m2 m3 | mid-long ... | long ...
        order:       m2 s3 L1 M3 | s1 L2 m1 M1 | L3 M2 s2 m3 ...  (random in rounds)
    """
    ranked = sorted(batches, key=lambda b: sum(lengths[i] for i in b) / len(b))
    n = len(ranked)
    groups = [ranked[n * k // strata : n * (k + 1) // strata] for k in range(strata)]
    for group in groups:
        rng.shuffle(group)
    dealt: list[list[int]] = []
    for r in range(max(len(group) for group in groups)):
        turn = [group[r] for group in groups if r < len(group)]
        rng.shuffle(turn)
        dealt.extend(turn)
    return dealt


def shard(batches: Sequence[T], rank: int, world: int) -> list[T]:
    """Rank `rank`'s share of an epoch's batches under data-parallel training.

    Rank r takes batches r, r + world, r + 2 world, ... of the list, wrapped around
    to a multiple of `world` so that every rank trains the same number of steps (a
    rank with one step more would wait forever in a gradient all-reduce that the
    others never join). With one process this is the list itself.
    """
    if world == 1:
        return list(batches)
    total = -(-len(batches) // world) * world
    padded = list(itertools.islice(itertools.cycle(batches), total))
    return padded[rank::world]


def token_batches(
    src_lengths: Sequence[int],
    tgt_lengths: Sequence[int],
    max_tokens: int,
    *,
    shuffle: bool,
    seed: int = 0,
) -> list[list[int]]:
    """Group pair indices into batches of about `max_tokens` padded target tokens.

    Pairs are sorted by (target, source) length within large shuffled chunks, so a
    batch holds pairs of nearly equal lengths and padding costs little; a batch
    grows while rows x its longest target (`<eos>` included) stays within
    `max_tokens` (a single longer pair is a batch of its own). Batch order is
    shuffled, as in `bucket_order`.
    """
    rng = random.Random(seed)
    order = list(range(len(tgt_lengths)))
    if shuffle:
        rng.shuffle(order)
    chunk = max(1000, 50 * max_tokens // max(1, _mean(tgt_lengths)))
    order = [
        i
        for start in range(0, len(order), chunk)
        for i in sorted(
            order[start : start + chunk], key=lambda i: (tgt_lengths[i], src_lengths[i])
        )
    ]
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        width = max(longest, tgt_lengths[i] + 1)
        if current and width * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, width = [], tgt_lengths[i] + 1
        current.append(i)
        longest = width
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches


def _mean(values: Sequence[int]) -> int:
    return max(1, sum(values) // max(1, len(values)))


# --- language-model streams ------------------------------------------------------
#
# The corpus is one long id stream, cut into `batch` parallel rows so that row r
# continues from one window to the next (the PyTorch word-LM layout):
#
#   stream: a b c d e f g h i j k l m n o p q r s t u v w x   batch = 4
#
#   row 0:  a b c d e f      window 0 (bptt 3): ids a b c   targets b c d
#   row 1:  g h i j k l                         ids g h i   targets h i j
#   row 2:  m n o p q r      window 1:          ids d e     targets e f
#   row 3:  s t u v w x
#
# The hidden state at the end of window 0 is where window 1 starts from.


# An id stream is held in the smallest integer type for its vocabulary (a byte per
# character for most character vocabularies, four bytes per word at most): a corpus
# of N tokens takes N such integers, not N Python objects. Windows become int64
# (what embeddings and losses index with) only when they are cut.
_ID_TYPES = (  # (ids it holds, torch type, array typecode of the same width)
    (1 << 8, torch.uint8, "B"),
    (1 << 15, torch.int16, "h"),
    (1 << 31, torch.int32, "i"),
)


def id_dtype(vocab_size: int) -> torch.dtype:
    """The smallest integer type that holds ids 0 .. vocab_size - 1."""
    return _id_type(vocab_size)[0]


def _id_type(vocab_size: int) -> tuple[torch.dtype, str]:
    for limit, dtype, code in _ID_TYPES:
        if vocab_size <= limit:
            return dtype, code
    raise ValueError(f"a vocabulary of {vocab_size} ids is too large")


class IdStream:
    """Builds a 1-D compact id stream chunk by chunk, without a list of all ids.

    With `size` known (from a counting pass) the tensor is allocated once and
    filled in place; without, chunks are kept and joined at the end.
    """

    CHUNK = 1 << 20  # ids buffered before they are copied into the tensor

    def __init__(self, vocab_size: int, *, size: int | None = None):
        self.dtype, self._code = _id_type(vocab_size)
        self._out = None if size is None else torch.empty(size, dtype=self.dtype)
        self._chunks: list[array] = []
        self._buffer = array(self._code)
        self._filled = 0

    def extend(self, ids: Iterable[int]) -> None:
        self._buffer.extend(ids)
        if len(self._buffer) >= self.CHUNK:
            self._flush()

    def append(self, id_: int) -> None:
        self._buffer.append(id_)

    def _flush(self) -> None:
        buffer, n = self._buffer, len(self._buffer)
        self._buffer = array(self._code)
        if n == 0:
            return
        if self._out is None:
            self._chunks.append(buffer)
        else:
            if self._filled + n > self._out.numel():
                raise ValueError("more ids than the size given")
            end = self._filled + n
            self._out[self._filled : end] = torch.frombuffer(buffer, dtype=self.dtype)
        self._filled += n

    def finish(self) -> Tensor:
        """The stream; ValueError if fewer ids came than the size given."""
        self._flush()
        if self._out is None:
            parts = [torch.frombuffer(c, dtype=self.dtype) for c in self._chunks]
            out = torch.cat(parts) if parts else torch.empty(0, dtype=self.dtype)
            self._chunks = []
            return out
        if self._filled != self._out.numel():
            raise ValueError("fewer ids than the size given")
        return self._out


def lm_rows(stream: Tensor, batch_size: int) -> Tensor:
    """Cut a 1-D id stream into `batch_size` rows, dropping the ragged tail; the
    rows are a view of the stream, in its (compact) type."""
    n = stream.numel() // batch_size
    if n < 2:
        raise ValueError("stream too short for this batch size")
    return stream[: n * batch_size].view(batch_size, n).contiguous()  # (batch, n)


def lm_shard(stream: Tensor, batch_size: int, rank: int, world: int) -> Tensor:
    """Rank `rank`'s rows of a stream under data-parallel training.

    The stream is cut into ``batch_size * world`` rows, of which rank r takes rows
    r, r + world, ...: `batch_size` rows of equal length on every rank (the same
    number of windows, so no rank waits on a step the others never take), and
    together the one-process layout with a ``world`` times larger batch.
    """
    return lm_rows(stream, batch_size * world)[rank::world]


def lm_window_count(rows: Tensor, bptt: int) -> int:
    return (rows.size(1) - 1 + bptt - 1) // bptt


def lm_windows(rows: Tensor, bptt: int, *, start: int = 0) -> Iterator[Batch]:
    """Consecutive BPTT windows over `rows`, from window number `start` on, as int64
    (a copy of one window; the rows stay compact)."""
    n = rows.size(1) - 1  # the last column is only ever a target
    for w in range(start, lm_window_count(rows, bptt)):
        i = w * bptt
        t = min(bptt, n - i)
        yield Batch(
            ids=rows[:, i : i + t].long(),
            targets=rows[:, i + 1 : i + 1 + t].long(),
            carry=w > 0,
        )
