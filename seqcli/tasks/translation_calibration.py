"""Token-level temperature scaling of a translation model (Guo et al., 2017).

The decoder's next-token distribution is a classifier over the target vocabulary
at each reference token: T is fitted on the validation references under teacher
forcing (`fit_on_references`, with the one fitter of `seqcli.temperature`), and
`translate --scores` and `evaluate` read a model's outputs and references at its
stored T. Beam search never sees T: dividing the logits by T reorders no single
step's tokens, but it would change how whole hypotheses compare, and the search is
left as it was trained and measured. An ensemble's distribution is the mixture of
its members' (`nn.ensemble`), each at its own T.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from seqcli.batching import Batch, bucket_order, pad_parallel
from seqcli.decoding import Hypothesis
from seqcli.metrics.calibration import CalibrationReport, top_label_report
from seqcli.nn.ensemble import EnsembleStepper, mean_of_distributions
from seqcli.nn.seq2seq import Seq2Seq
from seqcli.tasks.translation_data import Split
from seqcli.temperature import Calibration, fit_logits
from seqcli.vocab import PAD_ID

BATCH = 64  # sentences per teacher-forced batch, as validation's
# The fit holds the logits of every reference token it reads (a row of the whole
# target vocabulary each), and each L-BFGS evaluation makes a few copies: at most
# this many (64 MB in float32) are held, the validation sentences in file order
# until the budget is spent, so memory is bounded before it is used. That is all
# of a Multi30k-sized validation set's tokens at a 1,000-piece vocabulary, and
# still 1,600 tokens at 10,000 words, for one scalar.
FIT_LOGITS = 2**24

Network = Seq2Seq | EnsembleStepper


def fit_on_references(network: Seq2Seq, split: Split) -> Calibration:
    """T of a trained model from its next-token logits at the reference tokens of
    `split` (`<eos>` included), fed the reference: token-level NLL, no label
    smoothing."""
    rows = _budget_rows(split, vocab=network.tgt_vocab)
    device = next(network.parameters()).device
    held, gold = [], []
    with torch.no_grad():
        for _, batch in _batches(split.src, split.tgt, rows, BATCH, device):
            logits, _ = network.teacher_forced(batch)  # (batch, time, vocab)
            mask = batch.targets != PAD_ID
            held.append(logits[mask].float().cpu())  # (tokens, vocab)
            gold.append(batch.targets[mask].cpu())
    if not held:
        return Calibration()
    return fit_logits(torch.cat(held), torch.cat(gold))


def _budget_rows(split: Split, *, vocab: int) -> list[int]:
    """The pairs the fit reads: those with a source, in file order, while their
    reference tokens' logits fit in `FIT_LOGITS` (the first one always)."""
    rows, held = [], 0
    for i, src in enumerate(split.src):
        if not src:
            continue
        held += (len(split.tgt[i]) + 1) * vocab  # + <eos>
        if rows and held > FIT_LOGITS:
            break
        rows.append(i)
    return rows


def output_log_probs(
    network: Network,
    temperatures: Sequence[float],
    sources: Sequence[Sequence[int]],
    outputs: Sequence[Sequence[int]],
    *,
    batch_size: int = BATCH,
) -> list[float]:
    """log P_T(y | x) of each (source, output) pair, `<eos>` included, with every
    member's logits divided by its T (0 for an empty source, whose output is
    empty): a teacher-forced pass over the outputs."""
    device = next(network.parameters()).device
    result = [0.0] * len(sources)
    rows = [i for i, s in enumerate(sources) if s]
    with torch.no_grad():
        for index, batch in _batches(sources, outputs, rows, batch_size, device):
            log_probs = _mixture(_member_logits(network, batch), temperatures)
            picked = log_probs.gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1)
            picked = picked.masked_fill(batch.targets == PAD_ID, 0.0)  # (batch, time)
            for i, lp in zip(index, picked.sum(1).tolist(), strict=True):
                result[i] = lp
    return result


def hypothesis_log_probs(
    network: Network,
    temperatures: Sequence[float],
    sources: Sequence[Sequence[int]],
    found: Sequence[Sequence[Hypothesis]],
    *,
    batch_size: int = BATCH,
) -> list[list[float]]:
    """log P_T(y | x) of every hypothesis of each source, `<eos>` included. At
    T = 1 (an uncalibrated model) that is the search's own log P, and no pass is
    made."""
    if all(t == 1.0 for t in temperatures):
        return [[h.log_prob for h in hyps] for hyps in found]
    pairs = [(sources[i], h.ids) for i, hyps in enumerate(found) for h in hyps]
    flat = iter(
        output_log_probs(
            network,
            temperatures,
            [src for src, _ in pairs],
            [out for _, out in pairs],
            batch_size=batch_size,
        )
    )
    return [[next(flat) for _ in hyps] for hyps in found]


def token_calibration(
    network: Network,
    temperatures: Sequence[float],
    split: Split,
    *,
    batch_size: int = BATCH,
) -> dict[str, CalibrationReport]:
    """ECE and Brier score of the next-token distribution at each reference token
    (fed the reference), at T = 1 ("uncalibrated") and at the stored T
    ("calibrated"); the top-label prediction is the most probable next token."""
    device = next(network.parameters()).device
    rows = [i for i, s in enumerate(split.src) if s]
    ones = [1.0] * len(temperatures)
    stats = {"uncalibrated": _TokenStats(), "calibrated": _TokenStats()}
    with torch.no_grad():
        for _, batch in _batches(split.src, split.tgt, rows, batch_size, device):
            logits = _member_logits(network, batch)  # read once, scaled twice
            mask = batch.targets != PAD_ID
            gold = batch.targets[mask]  # (tokens,)
            for name, temps in (("uncalibrated", ones), ("calibrated", temperatures)):
                stats[name].add(_mixture(logits, temps)[mask], gold)
    return {name: s.report() for name, s in stats.items()}


@dataclass
class _TokenStats:
    """Running top-label confidences, hits and Brier sum of many tokens."""

    confidences: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    brier: float = 0.0

    def add(self, log_probs: Tensor, gold: Tensor) -> None:
        probs = log_probs.exp()  # (tokens, vocab)
        top, predicted = probs.max(-1)
        gold_p = probs.gather(-1, gold.unsqueeze(-1)).squeeze(-1)  # (tokens,)
        # sum_v (p_v - [v = gold])^2 = sum_v p_v^2 - 2 p_gold + 1, never a list
        # of the whole vocabulary per token.
        self.brier += float(((probs**2).sum(-1) - 2 * gold_p + 1).sum())
        self.confidences += top.tolist()
        self.correct += (predicted == gold).tolist()

    def report(self) -> CalibrationReport:
        n = len(self.confidences)
        return top_label_report(self.confidences, self.correct, self.brier / max(n, 1))


def _member_logits(network: Network, batch: Batch) -> list[Tensor]:
    """Each member's teacher-forced logits, (batch, time, vocab) each."""
    members = network.members if isinstance(network, EnsembleStepper) else [network]
    return [member.teacher_forced(batch)[0].float() for member in members]


def _mixture(logits: Sequence[Tensor], temperatures: Sequence[float]) -> Tensor:
    """Next-token log-probs (..., vocab): each member's logits divided by its T,
    and several members' distributions averaged, as the ensemble decodes."""
    log_probs = [
        (z / t).log_softmax(-1) for z, t in zip(logits, temperatures, strict=True)
    ]
    return log_probs[0] if len(log_probs) == 1 else mean_of_distributions(log_probs)


def _batches(
    sources: Sequence[Sequence[int]],
    outputs: Sequence[Sequence[int]],
    rows: Sequence[int],
    batch_size: int,
    device: torch.device,
) -> Iterator[tuple[list[int], Batch]]:
    """The pairs at `rows` in batches of similar output length, on `device`, each
    with the positions of its rows among the pairs."""
    lengths = [len(outputs[i]) for i in rows]
    for chunk in bucket_order(lengths, batch_size, shuffle=False):
        index = [rows[r] for r in chunk]
        batch = pad_parallel([sources[i] for i in index], [outputs[i] for i in index])
        yield index, batch.to(device)
