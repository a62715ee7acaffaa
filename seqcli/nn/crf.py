"""A linear-chain conditional random field over a tagger's emission scores.

The score of a tag sequence y for a sentence of n tokens is

    s(y) = start[y_1] + sum_i emit[i, y_i] + sum_i trans[y_i, y_i+1] + end[y_n]

and P(y | x) = exp(s(y)) / Z, where the log-partition log Z sums over every tag
sequence (Lafferty et al., 2001; the BiLSTM-CRF of Lample et al., 2016). The
forward algorithm computes log Z, Viterbi the best sequence, a k-best Viterbi the
k best, and forward-backward each token's tag marginals, all batched over
right-padded sentences (`mask` True at real tokens; every sentence has at least
one). Transitions a tag scheme forbids (``O`` -> ``I-PER`` in BIOES) can be masked
out with `allowed`, so decoding never produces an ill-formed sequence.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# Added to forbidden transitions: large enough that no such path survives, small
# enough that sums of several stay finite (-inf would give NaN in 0 * -inf).
_FORBIDDEN = -1e4


class CRF(nn.Module):
    """Transition, start and end scores for `num_tags` tags.

    Args:
        num_tags: size of the tag set.
        allowed: optional (num_tags + 2, num_tags + 2) boolean matrix of allowed
            transitions, where row/column ``num_tags`` is the start and
            ``num_tags + 1`` the end of a sentence; None allows everything.
    """

    def __init__(self, num_tags: int, allowed: Tensor | None = None) -> None:
        super().__init__()
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # (from, to)
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        penalty = torch.zeros(num_tags + 2, num_tags + 2)
        if allowed is not None:
            penalty = penalty.masked_fill(~allowed.bool(), _FORBIDDEN)
        # A buffer, not a parameter: the constraint is fixed by the tag scheme.
        self.register_buffer("penalty", penalty, persistent=False)

    # --- scores with the constraints applied -----------------------------------------
    def _trans(self) -> Tensor:
        k = self.num_tags
        return self.transitions + self.penalty[:k, :k]  # (from, to)

    def _start(self) -> Tensor:
        return self.start + self.penalty[self.num_tags, : self.num_tags]

    def _end(self) -> Tensor:
        return self.end + self.penalty[: self.num_tags, self.num_tags + 1]

    def _legal_scores(self) -> tuple[Tensor, Tensor, Tensor]:
        """Transition, start and end scores for decoding: -inf where the scheme
        forbids a move, so that a path through one is impossible, not merely
        unlikely (with the finite training penalty, an n-best list longer than
        the legal sequences would be filled up with illegal ones)."""
        k = self.num_tags
        forbidden = self.penalty < 0  # (k + 2, k + 2)
        inf = float("-inf")
        return (
            self.transitions.masked_fill(forbidden[:k, :k], inf),  # (from, to)
            self.start.masked_fill(forbidden[k, :k], inf),
            self.end.masked_fill(forbidden[:k, k + 1], inf),
        )

    def _scaled(
        self, emissions: Tensor, temperature: float | Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Emissions, transitions, start and end scores divided by `temperature`:
        the whole score s(y) / T, so P_T(y | x) = exp(s(y) / T) / Z_T (temperature
        scaling of a CRF, Guo et al., 2017; T = 1 leaves every score as it is)."""
        if isinstance(temperature, float) and temperature == 1.0:
            return emissions, self._trans(), self._start(), self._end()
        return (
            emissions / temperature,  # (batch, time, tags)
            self._trans() / temperature,  # (from, to)
            self._start() / temperature,
            self._end() / temperature,
        )

    # --- training ----------------------------------------------------------------
    def nll(
        self,
        emissions: Tensor,
        tags: Tensor,
        mask: Tensor,
        *,
        temperature: float | Tensor = 1.0,
    ) -> Tensor:
        """Negative log-likelihood of the gold `tags`, one value per sentence.

        Args:
            emissions: (batch, time, num_tags) scores from the network.
            tags: (batch, time) gold tag ids (anything at padded positions).
            mask: (batch, time) True at real tokens.
            temperature: every score is divided by it (s(y) is linear in them,
                so the gold score is s(y) / T).
        """
        log_z = self.log_partition(emissions, mask, temperature=temperature)
        return log_z - self.score(emissions, tags, mask) / temperature

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """s(y) of the given tag sequences, (batch,)."""
        maskf = mask.to(emissions.dtype)
        tags = tags.masked_fill(~mask, 0)
        emit = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1)  # (batch, time)
        total = self._start()[tags[:, 0]] + (emit * maskf).sum(1)
        trans = self._trans()[tags[:, :-1], tags[:, 1:]]  # (batch, time - 1)
        total = total + (trans * maskf[:, 1:]).sum(1)
        last = tags.gather(1, (mask.sum(1, keepdim=True) - 1).clamp(min=0))
        return total + self._end()[last.squeeze(1)]

    def log_partition(
        self, emissions: Tensor, mask: Tensor, *, temperature: float | Tensor = 1.0
    ) -> Tensor:
        """log Z by the forward algorithm, (batch,); of the scores / `temperature`."""
        emissions, trans, start, end = self._scaled(emissions, temperature)
        alpha = start + emissions[:, 0]  # (batch, tags)
        for t in range(1, emissions.size(1)):
            # alpha'[j] = logsumexp_i(alpha[i] + trans[i, j]) + emit[t, j]
            step = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t : t + 1], step, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    # --- decoding ----------------------------------------------------------------
    def viterbi(
        self, emissions: Tensor, mask: Tensor
    ) -> tuple[Tensor, list[list[int]]]:
        """The best tag sequence of each sentence and its score s(y)."""
        scores, paths = self.nbest(emissions, mask, k=1)
        return scores[:, 0], [p[0] for p in paths]

    @torch.no_grad()
    def nbest(
        self, emissions: Tensor, mask: Tensor, *, k: int
    ) -> tuple[Tensor, list[list[list[int]]]]:
        """The k best tag sequences of each sentence, best first.

        A Viterbi pass that keeps, for every tag at every position, the k best
        partial paths ending there (with a back-pointer to the tag and rank they
        came from) instead of one.

        Only legal sequences are returned: a forbidden transition scores -inf.

        Returns:
            scores (batch, k), -inf where a sentence has fewer than k legal
            sequences, and for each sentence its (up to k) tag sequences.
        """
        batch, time, tags = emissions.shape
        k = min(k, possible_sequences(tags, time))  # no more ranks than sequences
        trans, start, end = self._legal_scores()
        neg_inf = torch.finfo(emissions.dtype).min
        # best[b, j, r]: score of the r-th best partial path ending in tag j.
        best = emissions.new_full((batch, tags, k), neg_inf)
        best[:, :, 0] = start + emissions[:, 0]
        pointers = []  # per step: (batch, tags, k) index into from_tag * k + rank
        for t in range(1, time):
            # (batch, from, rank, to) -> (batch, from * rank, to)
            cand = (best.unsqueeze(3) + trans.view(1, tags, 1, tags)).reshape(
                batch, tags * k, tags
            )
            top, index = cand.topk(k, dim=1)  # (batch, k, to)
            step = top.transpose(1, 2) + emissions[:, t].unsqueeze(2)  # (b, to, k)
            keep = mask[:, t].view(batch, 1, 1)
            # Past a sentence's end, carry each path on unchanged.
            same = (torch.arange(tags).view(tags, 1) * k + torch.arange(k)).to(
                index.device
            )
            best = torch.where(keep, step, best)
            pointers.append(torch.where(keep, index.transpose(1, 2), same))
        final = (best + end.view(1, tags, 1)).reshape(batch, tags * k)
        scores, last = final.topk(k, dim=1)  # (batch, k)
        paths = _backtrack(last, pointers, k)
        valid = scores > neg_inf / 2
        lengths = mask.sum(1).tolist()
        ok = valid.tolist()
        out = [
            [paths[b][r][: lengths[b]] for r in range(k) if ok[b][r]]
            for b in range(batch)
        ]
        return scores.masked_fill(~valid, float("-inf")), out

    def marginals(
        self, emissions: Tensor, mask: Tensor, *, temperature: float | Tensor = 1.0
    ) -> Tensor:
        """P(y_i = j | x) for every token and tag, (batch, time, tags); forward-
        backward. Padded positions hold zeros.

        With `temperature` T every score (emissions, transitions, start, end) is
        divided by T first: the marginals of P_T(y | x) = exp(s(y) / T) / Z_T, what
        a calibrated tagger reports and what distillation matches (`nn.distill`).
        """
        log_probs = self.log_marginals(emissions, mask, temperature=temperature)
        # Rounding in alpha + beta - log Z (larger with scores divided by a small
        # T) can put a certain tag a hair above 1; a probability is at most 1.
        probs = log_probs.exp().clamp(max=1.0)
        return probs * mask.unsqueeze(-1).to(probs.dtype)

    def log_marginals(
        self, emissions: Tensor, mask: Tensor, *, temperature: float | Tensor = 1.0
    ) -> Tensor:
        """log P(y_i = j | x), (batch, time, tags), at `temperature` (see
        `marginals`); differentiable, so a CRF student can learn from it. Values
        at padded positions are meaningless: mask them."""
        batch, time, _ = emissions.shape
        emissions, trans, start, end = self._scaled(emissions, temperature)
        alphas = [start + emissions[:, 0]]
        for t in range(1, time):
            step = torch.logsumexp(alphas[-1].unsqueeze(2) + trans, dim=1)
            alphas.append(
                torch.where(mask[:, t : t + 1], step + emissions[:, t], alphas[-1])
            )
        # beta at each sentence's last token is `end`; it stays there through the
        # padding so that the recursion below starts in the right place for all.
        betas = [end.expand(batch, -1)]
        for t in range(time - 2, -1, -1):
            nxt = betas[0] + emissions[:, t + 1]
            step = torch.logsumexp(trans.unsqueeze(0) + nxt.unsqueeze(1), dim=2)
            betas.insert(0, torch.where(mask[:, t + 1 : t + 2], step, betas[0]))
        alpha = torch.stack(alphas, 1)  # (batch, time, tags)
        beta = torch.stack(betas, 1)
        log_z = torch.logsumexp(alphas[-1] + end, dim=1)  # (batch,)
        return alpha + beta - log_z.view(batch, 1, 1)


def possible_sequences(tags: int, time: int) -> int:
    """How many tag sequences `time` tokens have (capped, never a huge int)."""
    return tags ** min(time, 64)


def nbest_bytes(batch: int, time: int, tags: int, k: int) -> int:
    """Memory `CRF.nbest` takes for a batch: at each step the (batch, tags x k,
    tags) candidates and their top k (fp32), and one (batch, tags, k) int64
    back-pointer per token."""
    k = min(k, possible_sequences(tags, time))
    step = 4 * batch * tags * k * (2 * tags + 2)
    return step + 8 * batch * tags * k * time


def _backtrack(last: Tensor, pointers: list[Tensor], k: int) -> list[list[list[int]]]:
    """Follow the back-pointers from the final (tag * k + rank) choices."""
    batch = last.size(0)
    position = last  # (batch, k): tag * k + rank at the current step
    steps = [position // k]
    for ptr in reversed(pointers):
        flat = ptr.reshape(batch, -1)  # (batch, tags * k)
        position = flat.gather(1, position)
        steps.append(position // k)
    tags = torch.stack(steps[::-1], dim=2)  # (batch, k, time)
    return tags.tolist()


def bioes_transitions(labels: list[str]) -> Tensor:
    """Allowed transitions of a BIOES tag set, for `CRF(allowed=...)`.

    Row/column ``len(labels)`` is the sentence start, ``len(labels) + 1`` its end.
    Inside an entity only I- and E- of its type may follow B- or I-; an entity
    must open with B- or S- and close with E- or S-.
    """
    k = len(labels)
    parts = [(lab.partition("-")[0], lab.partition("-")[2]) for lab in labels]
    allowed = torch.zeros(k + 2, k + 2, dtype=torch.bool)
    start, end = k, k + 1
    for j, (prefix, _) in enumerate(parts):
        allowed[start, j] = prefix in ("O", "B", "S")
        allowed[j, end] = prefix in ("O", "E", "S")
        for i, (prev, prev_type) in enumerate(parts):
            if prev in ("B", "I"):
                allowed[i, j] = prefix in ("I", "E") and parts[j][1] == prev_type
            else:  # after O, E or S an entity may open, or nothing
                allowed[i, j] = prefix in ("O", "B", "S")
    return allowed
