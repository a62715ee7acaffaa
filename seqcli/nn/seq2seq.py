"""`Seq2Seq`: a bidirectional recurrent encoder, attention, and a recurrent decoder.

A conditional language model P(y | x) = prod_t P(y_t | y_<t, x) (Sutskever et
al., 2014; Bahdanau et al., 2015; Luong et al., 2015):

    source ids --RecurrentEncoder (both ways)--> memory (batch, src, hidden)
                                    \\-- bridge --> decoder's first state
    <bos> y1 y2 ... --decoder RNN--> h_t --attention over memory--> context c_t
        attentional vector  a_t = tanh(W [c_t; h_t])  -->  P(y_t | ...)

Attention scores (`attention`): ``dot`` h_t . m_s and ``general`` h_t W m_s
(Luong), queried by the decoder's output h_t; ``bahdanau`` v . tanh(W q + U m_s),
queried by the previous state, so that the context is read before the step and
fed into it. With input feeding (Luong), a_{t-1} is part of the next step's
input, so the decoder knows where it attended. Without input feeding, Luong
attention needs no loop in training: the decoder RNN runs over the whole target
at once and attention is one batched product, much faster on a CPU.

The network implements the step protocol of `seqcli.step_protocol` (`start`,
`step`, `reorder`), so greedy and beam search are the shared ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqcli.batching import Batch
from seqcli.config import RecurrentConfig
from seqcli.nn.recurrent import RecurrentEncoder, State, build_rnn, select_state
from seqcli.vocab import PAD_ID

ATTENTIONS = ("bahdanau", "dot", "general")


@dataclass
class DecoderState:
    """Everything a decoding step needs.

    Rows (hypotheses) are grouped by sentence, and what belongs to the source is
    kept once per sentence, not once per row: beam search then reorders only the
    small per-row part at each step, and attention broadcasts over the beam.

        rows:       s0h0 s0h1 s0h2 | s1h0 s1h1 s1h2 | ...   (sentences x group)
        sentences:  s0             | s1             | ...

    ``group`` (rows per sentence) is 1 after `start` and the beam width after
    beam search has expanded the rows.
    """

    rnn: State  # (layers, rows, hidden), a pair for LSTM
    feed: Tensor | None  # (rows, hidden) previous attentional vector, input feeding
    memory: Tensor  # (sentences, src, hidden) encoder outputs in the decoder's size
    keys: Tensor | None  # (sentences, src, hidden) U m_s, precomputed (bahdanau)
    src_mask: Tensor  # (sentences, src) True at real source tokens
    attention: Tensor | None = None  # (rows, src) weights of the last step

    @property
    def group(self) -> int:
        """Rows per sentence."""
        rows = (self.rnn[0] if isinstance(self.rnn, tuple) else self.rnn).size(1)
        return rows // self.memory.size(0)

    def select(self, index: Tensor) -> DecoderState:
        """The rows in `index`, (sentences, k): new row j of sentence s is old row
        ``index[s, j]``. As `step_protocol.Stepper.reorder` promises, the rows of a
        sentence come from one old sentence and sentences keep their order, so the
        per-sentence tensors change only when sentences are dropped."""
        rows = index.reshape(-1)
        memory, keys, src_mask = self.memory, self.keys, self.src_mask
        if index.size(0) != memory.size(0):
            source = index[:, 0] // self.group  # (sentences,) old sentence of each
            memory = memory.index_select(0, source)
            keys = None if keys is None else keys.index_select(0, source)
            src_mask = src_mask.index_select(0, source)

        def pick(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.index_select(0, rows)

        return DecoderState(
            rnn=select_state(self.rnn, rows),
            feed=pick(self.feed),
            memory=memory,
            keys=keys,
            src_mask=src_mask,
            attention=pick(self.attention),
        )


class Attention(nn.Module):
    """Scores of a query against every source position, softmax over real ones."""

    def __init__(self, kind: str, hidden: int) -> None:
        super().__init__()
        if kind not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {kind!r}")
        self.kind = kind
        self.query = nn.Linear(hidden, hidden, bias=False) if kind != "dot" else None
        self.key = nn.Linear(hidden, hidden, bias=False) if kind == "bahdanau" else None
        self.energy = nn.Linear(hidden, 1, bias=False) if kind == "bahdanau" else None

    def keys_of(self, memory: Tensor) -> Tensor | None:
        """U m_s for additive attention, computed once per sentence."""
        return None if self.key is None else self.key(memory)

    def forward(
        self, query: Tensor, memory: Tensor, keys: Tensor | None, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(batch, time, hidden) queries -> contexts (batch, time, hidden) and
        weights (batch, time, src)."""
        if self.kind == "bahdanau":
            q = self.query(query).unsqueeze(2)  # (batch, time, 1, hidden)
            # v . tanh(y) = 2 v . sigmoid(2y) - sum(v), and the softmax below
            # ignores a constant: Bahdanau's weights, as accurate in float32, but
            # torch's CPU sigmoid is several times faster than its tanh, and this
            # is the widest tensor of a decoding step (rows x src x hidden).
            y = (q + keys.unsqueeze(1)).mul_(2).sigmoid_()  # (batch, time, src, h)
            scores = 2 * self.energy(y).squeeze(-1)  # (batch, time, src)
        else:
            q = query if self.query is None else self.query(query)
            scores = q @ memory.transpose(1, 2)  # (batch, time, src)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = scores.softmax(dim=-1)
        return weights @ memory, weights


class Seq2Seq(nn.Module):
    """An attentional encoder-decoder; ``forward(batch)`` returns the training loss.

    A batch holds the source in ``ids``/``lengths``/``mask``, the decoder's input
    (`<bos>` y1 ... yn) in ``decoder_ids`` and its targets (y1 ... yn `<eos>`) in
    ``targets``, `<pad>` after the end.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        cfg: RecurrentConfig,
        *,
        attention: str = "general",
        input_feeding: bool = False,
        tie_embeddings: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = cfg.hidden_size
        self.tgt_vocab = tgt_vocab
        self.input_feeding = input_feeding and attention != "bahdanau"
        self.label_smoothing = label_smoothing
        self.encoder = RecurrentEncoder(src_vocab, replace(cfg, bidirectional=True))
        # The encoder's two directions side by side, brought to the decoder's size.
        self.memory = nn.Linear(self.encoder.output_size, hidden)
        self.bridge = nn.Linear(self.encoder.output_size, hidden * cfg.num_layers)
        self.embedding = nn.Embedding(tgt_vocab, cfg.emb_size, padding_idx=PAD_ID)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        extra = hidden if (self.input_feeding or attention == "bahdanau") else 0
        self.rnn = build_rnn(cfg, cfg.emb_size + extra, bidirectional=False)
        self.attention = Attention(attention, hidden)
        self.combine = nn.Linear(2 * hidden, hidden, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)
        self.project: nn.Module = nn.Identity()
        out_size = hidden
        if tie_embeddings and cfg.emb_size != hidden:
            self.project = nn.Linear(hidden, cfg.emb_size, bias=False)
            out_size = cfg.emb_size
        self.output = nn.Linear(out_size, tgt_vocab)
        if tie_embeddings:
            self.output.weight = self.embedding.weight
        self.cell = cfg.cell
        self.num_layers = cfg.num_layers
        self.hidden = hidden

    # --- training ---------------------------------------------------------------
    def forward(self, batch: Batch) -> Tensor:
        """Mean (label-smoothed) cross-entropy per target token."""
        logits, _ = self.teacher_forced(batch)
        return F.cross_entropy(
            logits.reshape(-1, self.tgt_vocab),
            batch.targets.reshape(-1),
            ignore_index=PAD_ID,
            label_smoothing=self.label_smoothing,
        )

    loss = forward

    def teacher_forced(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Logits (batch, time, vocab) and attention weights (batch, time, src) of
        the decoder fed with the reference (`decoder_ids`)."""
        state = self.start(batch.ids, batch.lengths)
        emb = self.dropout(self.embedding(batch.decoder_ids))  # (batch, time, emb)
        if not self.input_feeding and self.attention.kind != "bahdanau":
            out, _ = self.rnn(emb, state.rnn)  # the whole target in one call
            vectors, weights = self._attend(out, state)
        else:
            vector_list, weight_list = [], []
            for t in range(emb.size(1)):
                vector, state = self._step(emb[:, t], state)
                vector_list.append(vector)
                weight_list.append(state.attention)
            vectors = torch.stack(vector_list, 1)  # (batch, time, hidden)
            weights = torch.stack(weight_list, 1)  # (batch, time, src)
        return self.output(self.project(self.dropout(vectors))), weights

    def sequence_log_probs(self, batch: Batch) -> Tensor:
        """log P(y | x) of each row's reference, `<eos>` included: (batch,)."""
        logits, _ = self.teacher_forced(batch)
        lp = -F.cross_entropy(
            logits.transpose(1, 2), batch.targets, ignore_index=PAD_ID, reduction="none"
        )  # (batch, time), 0 at padding
        return lp.sum(1)

    # --- decoding step protocol ---------------------------------------------------
    def start(self, src_ids: Tensor, lengths: Tensor) -> DecoderState:
        """Encode the source; the decoder's first state comes from its summary."""
        mask = torch.arange(src_ids.size(1), device=src_ids.device) < lengths.to(
            src_ids.device
        ).unsqueeze(1)
        outputs, _ = self.encoder(src_ids, lengths, final_state=False)
        memory = self.memory(outputs)  # (batch, src, hidden)
        # Summary: the forward direction at the last real token and the backward
        # direction at the first, as in Bahdanau et al.'s encoder.
        half = outputs.size(-1) // 2
        last = (lengths.to(src_ids.device) - 1).view(-1, 1, 1).expand(-1, 1, half)
        summary = torch.cat(
            [outputs[:, :, :half].gather(1, last).squeeze(1), outputs[:, 0, half:]], -1
        )
        h0 = torch.tanh(self.bridge(summary))  # (batch, layers * hidden)
        h0 = h0.view(-1, self.num_layers, self.hidden).transpose(0, 1).contiguous()
        rnn: State = (h0, torch.zeros_like(h0)) if self.cell == "lstm" else h0
        feed = (
            memory.new_zeros(memory.size(0), self.hidden)
            if self.input_feeding
            else None
        )
        return DecoderState(rnn, feed, memory, self.attention.keys_of(memory), mask)

    def step(
        self, prev_ids: Tensor, state: DecoderState
    ) -> tuple[Tensor, DecoderState]:
        """One target token per row in; log-probs of the next (rows, vocab) out."""
        emb = self.dropout(self.embedding(prev_ids))  # (rows, emb)
        vector, state = self._step(emb, state)
        logits = self.output(self.project(self.dropout(vector)))
        return logits.log_softmax(-1), state

    def reorder(self, state: DecoderState, index: Tensor) -> DecoderState:
        return state.select(index)

    # --- one step of the decoder ----------------------------------------------------
    def _step(self, emb: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """(rows, emb) in; the attentional vector (rows, hidden) and new state out."""
        if self.attention.kind == "bahdanau":
            top = state.rnn[0][-1] if isinstance(state.rnn, tuple) else state.rnn[-1]
            context, weights = self._context(top.unsqueeze(1), state)  # (rows, 1, h)
            x = torch.cat([emb.unsqueeze(1), context], -1)
            out, rnn = self.rnn(x, state.rnn)  # (rows, 1, hidden)
            vector = torch.tanh(self.combine(torch.cat([context, out], -1))).squeeze(1)
        else:
            x = emb if state.feed is None else torch.cat([emb, state.feed], -1)
            out, rnn = self.rnn(x.unsqueeze(1), state.rnn)
            vectors, weights = self._attend(out, state)
            vector = vectors.squeeze(1)
        new = DecoderState(
            rnn,
            vector if self.input_feeding else None,
            state.memory,
            state.keys,
            state.src_mask,
            weights.squeeze(1),
        )
        return vector, new

    def _attend(self, out: Tensor, state: DecoderState) -> tuple[Tensor, Tensor]:
        """Luong: attend with the decoder's outputs (batch, time, hidden)."""
        context, weights = self._context(out, state)
        return torch.tanh(self.combine(torch.cat([context, out], -1))), weights

    def _context(self, query: Tensor, state: DecoderState) -> tuple[Tensor, Tensor]:
        """Attention of (rows, time, hidden) queries over their sentence's memory:
        contexts (rows, time, hidden) and weights (rows, time, src).

        A sentence's rows (its hypotheses) and their time steps all query the same
        memory, so they are one sentence's queries side by side, (sentences,
        group * time, hidden), and the memory is never copied per row.
        """
        rows, time, hidden = query.shape
        sentences = state.memory.size(0)
        context, weights = self.attention(
            query.reshape(sentences, -1, hidden),
            state.memory,
            state.keys,
            state.src_mask,
        )
        return context.view(rows, time, hidden), weights.view(rows, time, -1)
