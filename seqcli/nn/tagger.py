"""`Tagger`: one tag per token (many-to-many), for named-entity recognition.

    word ids ------------> word embedding --\\
    characters of a word -> char CNN/LSTM ---+-> (bi)RNN -> linear -> emissions
    casing category -----> small embedding -/                 |
                                                  CRF (Viterbi) or softmax

Character features give unseen and rare words a representation from their
spelling (Lample et al., 2016 use a character BiLSTM; Ma and Hovy, 2016 a
character CNN); the casing embedding keeps what a lowercased word lookup loses.
The output layer is a linear-chain CRF (`seqcli.nn.crf`), which scores whole tag
sequences, or an independent softmax per token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqcli.batching import Batch
from seqcli.config import RecurrentConfig
from seqcli.nn.crf import CRF
from seqcli.nn.distill import mix, soft_kl, softened_kl
from seqcli.nn.recurrent import RecurrentEncoder, build_rnn
from seqcli.vocab import CASINGS, PAD_ID

CHAR_FEATURES = ("cnn", "lstm", "none")
DECODERS = ("crf", "softmax")
CASING_SIZE = 8  # the casing embedding: a handful of categories


class CharEncoder(nn.Module):
    """One vector per word from its characters: (batch, time, chars) ids ->
    (batch, time, output_size)."""

    def __init__(self, kind: str, vocab_size: int, emb_size: int, hidden: int) -> None:
        super().__init__()
        if kind not in ("cnn", "lstm"):
            raise ValueError(f"character features must be cnn or lstm, got {kind!r}")
        self.kind = kind
        self.embedding = nn.Embedding(vocab_size, emb_size, padding_idx=PAD_ID)
        if kind == "cnn":
            # Width-3 filters, max-pooled over the word (Ma and Hovy, 2016).
            self.conv = nn.Conv1d(emb_size, hidden, kernel_size=3, padding=1)
            self.output_size = hidden
        else:
            # Two one-way cells rather than one bidirectional stack: each word is
            # read forwards and, reversed within its length, backwards, with no
            # padding read before its characters.
            cfg = RecurrentConfig(cell="lstm", hidden_size=hidden, num_layers=1)
            self.forward_rnn = build_rnn(cfg, emb_size, bidirectional=False)
            self.backward_rnn = build_rnn(cfg, emb_size, bidirectional=False)
            self.output_size = 2 * hidden

    def forward(self, chars: Tensor) -> Tensor:
        b, t, c = chars.shape
        flat = chars.view(b * t, c)  # one row per word
        mask = flat != PAD_ID  # (words, chars)
        emb = self.embedding(flat)  # (words, chars, emb)
        if self.kind == "cnn":
            conv = self.conv(emb.transpose(1, 2)).transpose(1, 2)  # (words, c, hidden)
            conv = conv.masked_fill(~mask.unsqueeze(-1), float("-inf"))
            out = conv.max(dim=1).values
            out = out.masked_fill(~mask.any(1, keepdim=True), 0.0)  # padding words
        else:
            out = self._lstm_summary(emb, mask)
        return out.view(b, t, self.output_size)

    def _lstm_summary(self, emb: Tensor, mask: Tensor) -> Tensor:
        """Forward state at the last character, backward state at the first."""
        lengths = mask.sum(1).clamp(min=1)  # (words,)
        steps = torch.arange(emb.size(1), device=emb.device).unsqueeze(0)
        last = lengths.unsqueeze(1) - 1  # (words, 1)
        flip = torch.where(steps <= last, last - steps, steps)  # reverse each word
        reversed_emb = emb.gather(1, flip.unsqueeze(-1).expand_as(emb))
        forward, _ = self.forward_rnn(emb)  # (words, chars, hidden)
        backward, _ = self.backward_rnn(reversed_emb)
        at_last = last.unsqueeze(-1).expand(-1, 1, forward.size(-1))
        return torch.cat(
            [
                forward.gather(1, at_last).squeeze(1),
                backward.gather(1, at_last).squeeze(1),
            ],
            dim=-1,
        )


class Tagger(nn.Module):
    """P(tags | sentence); ``forward(batch)`` returns the training loss."""

    def __init__(
        self,
        vocab_size: int,
        num_tags: int,
        cfg: RecurrentConfig,
        *,
        char_vocab: int = 0,
        char_features: str = "cnn",
        char_emb_size: int = 25,
        char_hidden_size: int = 30,
        casing: bool = True,
        decoder: str = "crf",
        allowed: Tensor | None = None,
    ) -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        self.chars: CharEncoder | None = None
        extra = 0
        if char_features != "none":
            self.chars = CharEncoder(
                char_features, char_vocab, char_emb_size, char_hidden_size
            )
            extra += self.chars.output_size
        self.casing = nn.Embedding(len(CASINGS), CASING_SIZE) if casing else None
        extra += CASING_SIZE if casing else 0
        self.encoder = RecurrentEncoder(vocab_size, cfg, extra_size=extra)
        self.output = nn.Linear(self.encoder.output_size, num_tags)
        self.crf = CRF(num_tags, allowed) if decoder == "crf" else None

    def emissions(self, batch: Batch) -> Tensor:
        """Scores of every tag at every token, (batch, time, tags)."""
        extra = []
        if self.chars is not None:
            extra.append(self.chars(batch.chars))
        if self.casing is not None:
            extra.append(self.casing(batch.casing))
        hidden, _ = self.encoder(
            batch.ids,
            batch.lengths,
            final_state=False,
            extra=torch.cat(extra, dim=-1) if extra else None,
        )
        # The encoder has already dropped out its outputs: a second dropout here
        # would keep only (1 - p)^2 of them.
        return self.output(hidden)

    def forward(self, batch: Batch) -> Tensor:
        """Mean negative log-likelihood per sentence (CRF) or per token (softmax);
        with teachers' posteriors in the batch, mixed with the distillation term
        (`_distill_loss`)."""
        scores = self.emissions(batch)
        if batch.soft_targets is not None:
            return self._distill_loss(scores, batch)
        if self.crf is not None:
            return self.crf.nll(scores, batch.targets, batch.mask).mean()
        return F.cross_entropy(
            scores[batch.mask], batch.targets[batch.mask], reduction="mean"
        )

    def _distill_loss(self, scores: Tensor, batch: Batch) -> Tensor:
        """Gold and teacher terms (`nn.distill.mix`) at the gold loss's own scale.

        Softmax: per token, KL(teachers' posterior || the token's softmax at T),
        averaged over real tokens like the cross-entropy.

        CRF: per sentence, the sum over its tokens of KL(teachers' marginal || the
        student CRF's marginal at T, by forward-backward), averaged over sentences
        like the NLL. We match marginals rather than take the expected CRF
        log-likelihood under the teachers' per-token posteriors: the posteriors are
        all the teachers give, so the loss is 0 exactly when the student's
        marginals equal them; and the averaged posteriors of several teachers (or
        of a softmax teacher) put weight on neighbouring tags that the scheme
        forbids together (B-PER then O), which the expected likelihood would
        score at the CRF's -1e4 penalty, swamping the loss with a constant.
        """
        mask, targets = batch.mask, batch.targets.masked_fill(~batch.mask, 0)
        temperature = batch.temperature
        if self.crf is None:
            gold = F.cross_entropy(
                scores.transpose(1, 2), targets, reduction="none"
            )  # (batch, time)
            soft = softened_kl(scores, batch.soft_targets, temperature)
            rows = batch.gold.unsqueeze(1).expand_as(mask)  # (batch, time)
            return mix(gold[mask], soft[mask], rows[mask], batch.distill_weight).mean()
        gold = self.crf.nll(scores, targets, mask)  # (batch,)
        log_probs = self.crf.log_marginals(scores, mask, temperature=temperature)
        log_probs = log_probs.masked_fill(~mask.unsqueeze(-1), 0.0)  # padding: 0
        per_token = soft_kl(log_probs, batch.soft_targets)  # (batch, time)
        soft = temperature**2 * (per_token * mask).sum(1)  # (batch,)
        return mix(gold, soft, batch.gold, batch.distill_weight).mean()

    loss = forward

    @torch.no_grad()
    def decode(
        self, batch: Batch, *, k: int = 1
    ) -> list[list[tuple[float, list[int]]]]:
        """The k best tag sequences of each sentence with their scores, best first
        (log-probabilities for the softmax decoder, CRF path scores otherwise)."""
        return best_paths(self.emissions(batch), batch.mask, self.crf, k)

    @torch.no_grad()
    def marginals(self, batch: Batch, *, temperature: float = 1.0) -> Tensor:
        """P(tag | sentence) at every token, (batch, time, tags), of the scores
        divided by `temperature` (a calibrated model's T, or a teacher's softening
        for distillation)."""
        return tag_marginals(
            self.emissions(batch), batch.mask, self.crf, temperature=temperature
        )


class TaggerEnsemble(nn.Module):
    """Several taggers read as one: the mean of their scores.

    The members read the same batch, so they must share the word and character
    vocabularies (the same recipe trained with other seeds does); their tag sets
    may list the same tags in another order (`orders`). With CRFs the ensemble's
    emissions, transitions, start and end scores are the members' means: a mean of
    linear-chain CRF scores is itself one, so Viterbi, n-best and marginals stay
    exact for the ensemble. Softmax members' log-probabilities are averaged (the
    log of their geometric mean).
    """

    def __init__(
        self, members: Sequence[Tagger], orders: Sequence[Sequence[int]]
    ) -> None:
        super().__init__()
        kinds = {m.crf is None for m in members}
        if len(kinds) != 1:
            raise ValueError("an ensemble's taggers must all use a CRF, or none")
        self.members = nn.ModuleList(members)
        # orders[m][j]: the column of member m that holds the ensemble's tag j.
        self.orders = [torch.as_tensor(list(o), dtype=torch.long) for o in orders]
        self.crf = None if members[0].crf is None else _mean_crf(members, self.orders)

    def emissions(self, batch: Batch) -> Tensor:
        total = None
        for member, order in zip(self.members, self.orders, strict=True):
            scores = member.emissions(batch)
            if self.crf is None:
                scores = scores.log_softmax(-1)
            scores = scores.index_select(-1, order.to(scores.device))
            total = scores if total is None else total + scores
        return total / len(self.members)  # type: ignore[operator]

    @torch.no_grad()
    def decode(
        self, batch: Batch, *, k: int = 1
    ) -> list[list[tuple[float, list[int]]]]:
        return best_paths(self.emissions(batch), batch.mask, self.crf, k)

    @torch.no_grad()
    def marginals(self, batch: Batch, *, temperature: float = 1.0) -> Tensor:
        return tag_marginals(self.emissions(batch), batch.mask, self.crf, temperature)


def _mean_crf(members: Sequence[Tagger], orders: Sequence[Tensor]) -> CRF:
    """A CRF whose scores are the members' means, in the ensemble's tag order; the
    scheme's constraints are the first member's (its tags in its order)."""
    first = members[0].crf
    assert first is not None
    crf = CRF(first.num_tags)
    crf.penalty = first.penalty.clone()
    with torch.no_grad():
        for name in ("transitions", "start", "end"):
            values = []
            for member, order in zip(members, orders, strict=True):
                value = getattr(member.crf, name).detach()
                if name == "transitions":
                    value = value[order][:, order]
                else:
                    value = value[order]
                values.append(value)
            getattr(crf, name).copy_(torch.stack(values).mean(0))
    return crf


def best_paths(
    scores: Tensor, mask: Tensor, crf: CRF | None, k: int
) -> list[list[tuple[float, list[int]]]]:
    """The k best tag sequences from emission scores: a CRF's n-best Viterbi, or
    the best tag of each token's softmax (k > 1 is a CRF's feature)."""
    if crf is not None:
        values, paths = crf.nbest(scores, mask, k=k)
        return [
            list(zip(values[b, : len(p)].tolist(), p, strict=True))
            for b, p in enumerate(paths)
        ]
    lengths = mask.sum(1).tolist()
    best = scores.log_softmax(-1).max(-1)
    return [
        [(float(best.values[b, :n].sum()), best.indices[b, :n].tolist())]
        for b, n in enumerate(lengths)
    ]


def tag_marginals(
    scores: Tensor, mask: Tensor, crf: CRF | None, temperature: float = 1.0
) -> Tensor:
    """P(tag | sentence) at every token, (batch, time, tags), of the scores (and a
    CRF's transitions) divided by `temperature`."""
    if crf is not None:
        return crf.marginals(scores, mask, temperature=temperature)
    return (scores / temperature).softmax(-1) * mask.unsqueeze(-1)


def scaled_nll(
    scores: Tensor,
    targets: Tensor,
    mask: Tensor,
    crf: CRF | None,
    temperature: float | Tensor,
) -> Tensor:
    """Summed negative log-likelihood of gold tags with every score divided by
    `temperature`: what temperature scaling minimises over T (per sentence for a
    CRF, per token for the softmax decoder, as each is trained)."""
    if crf is not None:
        return crf.nll(scores, targets, mask, temperature=temperature).sum()
    return F.cross_entropy(
        scores[mask] / temperature, targets[mask], reduction="sum"
    )  # over real tokens
