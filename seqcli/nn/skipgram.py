"""Skip-gram with negative sampling (Mikolov et al., 2013): word2vec as a network.

Each training pair is a centre word and one word of its context window. The centre
word's input vector should score high against the context word's output vector and
low against k "negative" words drawn at random:

    loss = -log sigmoid(u_ctx . v_centre) - sum_k log sigmoid(-u_neg_k . v_centre)

The input vectors are the word embeddings one keeps; the output vectors only serve
training. A batch is a few big operations: two embedding lookups, the dot
products with the context word and the negatives, one logsigmoid.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from seqcli.batching import Batch


class SkipGram(nn.Module):
    """Input (centre) and output (context) embeddings of one vocabulary.

    Args:
        vocab_size: rows of both matrices.
        emb_size: dimensions of a word vector.
        sparse: sparse gradients (only the rows a batch touches), for plain SGD;
            Adam needs dense ones.
    """

    def __init__(self, vocab_size: int, emb_size: int, *, sparse: bool = False):
        super().__init__()
        self.input = nn.Embedding(vocab_size, emb_size, sparse=sparse)
        self.output = nn.Embedding(vocab_size, emb_size, sparse=sparse)
        # word2vec's initialisation: small random input vectors, zero output vectors
        # (every score starts at 0, sigmoid 0.5, so all words start alike).
        nn.init.uniform_(self.input.weight, -0.5 / emb_size, 0.5 / emb_size)
        nn.init.zeros_(self.output.weight)

    def forward(self, batch: Batch) -> Tensor:
        """The loss per pair (see the end for its gradient).

        `batch.ids` (pairs,) holds the centre words; `batch.targets` (pairs, 1 + k)
        the context word in column 0 and the k negatives after it.
        """
        assert batch.targets is not None
        centre = self.input(batch.ids)  # (pairs, emb)
        others = self.output(batch.targets)  # (pairs, 1 + k, emb)
        # Dot products as a product and a sum: on a CPU, bmm over thousands of
        # tiny (1 + k) x emb matrices took 1.5x as long as this elementwise form.
        scores = (others * centre.unsqueeze(1)).sum(dim=2)  # (pairs, 1 + k)
        # The context word is a positive example, the negatives negative ones.
        positive = F.logsigmoid(scores[:, 0])  # (pairs,)
        negative = F.logsigmoid(-scores[:, 1:]).sum(dim=1)  # (pairs,)
        total = -(positive + negative).sum()
        # The value is the mean loss per pair (what progress shows), the gradient
        # the sum's: as word2vec updates once per pair, the learning rate is per
        # pair (word2vec's 0.025) whatever the batch size.
        mean = total.detach() / len(scores)
        return total - (total.detach() - mean)
