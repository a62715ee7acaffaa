"""The one recurrent backbone: embedding, dropout, a stack of RNN/GRU/LSTM layers.

This is the only module that builds `nn.RNN`/`nn.GRU`/`nn.LSTM` and the only caller
of `pack_padded_sequence`. Every task network composes `RecurrentEncoder`.
"""

from __future__ import annotations

from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqcli.config import RecurrentConfig
from seqcli.vocab import PAD_ID

# GRU/RNN keep one tensor of hidden states, LSTM a pair (h, c); each is
# (num_layers * directions, batch, hidden).
State = Union[Tensor, tuple[Tensor, Tensor]]  # noqa: UP007 - a runtime alias

_CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentEncoder(nn.Module):
    """ids -> contextual vectors, one per position.

    Dropout is applied to the embeddings, between layers (by the cell) and to the
    outputs, the regularisation of Zaremba et al. (2014) for recurrent LMs.
    """

    def __init__(
        self,
        vocab_size: int,
        cfg: RecurrentConfig,
        *,
        pad_id: int = PAD_ID,
        extra_size: int = 0,
    ):
        """`extra_size`: features per token read beside the word embedding (a
        tagger's character and casing features), passed to `forward` as `extra`."""
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(vocab_size, cfg.emb_size, padding_idx=pad_id)
        self.dropout = (
            LockedDropout(cfg.dropout)
            if cfg.locked_dropout
            else nn.Dropout(cfg.dropout)
        )
        self.rnn = build_rnn(cfg, cfg.emb_size + extra_size)
        self.output_size = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        self._cells: dict[int, nn.RNNBase] = {}  # see _one_way
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[pad_id].zero_()

    def forward(
        self,
        ids: Tensor,
        lengths: Tensor | None = None,
        state: State | None = None,
        *,
        final_state: bool = True,
        extra: Tensor | None = None,
    ) -> tuple[Tensor, State | None]:
        """Run the stack.

        Args:
            ids: (batch, time) token ids.
            lengths: (batch,) real lengths on the CPU for right-padded batches; None
                when every row is full (language-model windows), which skips packing.
            state: initial hidden state, or None for zeros.
            extra: (batch, time, extra_size) features joined to the embeddings.
            final_state: False when only the outputs are used. A left-to-right stack
                then skips packing: right padding comes after every real token, so
                outputs at real positions are the same, and on a CPU the backward
                pass of a packed LSTM grows with the square of the length (~20x
                slower at 300 tokens). A bidirectional stack then runs its backward
                direction on each row reversed instead (`_both_ways_unpacked`).

        Returns:
            outputs (batch, time, output_size), zero at padded positions (with
            `lengths`), and the final state (of each row's last real token when
            `lengths` is given; None when `final_state` is False).
        """
        emb = self.embedding(ids)  # (batch, time, emb)
        if extra is not None:
            emb = torch.cat([emb, extra], dim=-1)  # (batch, time, emb + extra)
        emb = self.dropout(emb)
        if lengths is None:
            outputs, state = self.rnn(emb, state)
        elif not final_state and state is None:
            lengths = lengths.to(ids.device)
            mask = torch.arange(ids.size(1), device=ids.device) < lengths.unsqueeze(1)
            if self.cfg.bidirectional:
                outputs = self._both_ways_unpacked(emb, lengths)
            else:
                outputs, _ = self.rnn(emb)
            outputs, state = outputs * mask.unsqueeze(-1), None  # zero the padding
        else:
            # enforce_sorted=False: callers never sort batches by length; packing
            # sorts internally and restores the order of rows and states.
            packed = pack_padded_sequence(
                emb, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            packed_out, state = self.rnn(packed, state)
            outputs, _ = pad_packed_sequence(
                packed_out, batch_first=True, total_length=ids.size(1)
            )
        return self.dropout(outputs), state  # (batch, time, output_size)

    def step(self, ids: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One token per row through the stack: what decoding does at each position.

        The same arithmetic as `forward` on one-token rows in eval mode, run one
        layer at a time through torch's cell functions (those of nn.LSTMCell and
        nn.GRUCell) on this stack's own weights. For a single step nn.LSTM costs far
        more than its arithmetic: its Python checks, and on a CPU under no_grad a
        oneDNN primitive set up at every call (a one-row step through nn.LSTM
        takes about twice as long as here). Training (dropout) and bidirectional
        stacks take `forward`.

        Args:
            ids: (batch,) token ids.
            state: the stack's state, or None for zeros.

        Returns:
            the top layer's output (batch, hidden) and the new state.
        """
        if self.training or self.cfg.bidirectional:
            outputs, new_state = self.forward(ids.unsqueeze(1), None, state)
            assert new_state is not None
            return outputs[:, 0], new_state
        x = F.embedding(ids, self.embedding.weight)  # (batch, emb)
        layers = self.cfg.num_layers
        if state is None:
            zeros = x.new_zeros(layers, x.size(0), self.cfg.hidden_size)
            state = (zeros, zeros) if self.cfg.cell == "lstm" else zeros
        hs, cs = [], []
        for layer in range(layers):
            weights = [getattr(self.rnn, f"{n}_l{layer}") for n in _WEIGHT_NAMES]
            if isinstance(state, tuple):  # LSTM: (h, c), each (layers, batch, hidden)
                h, c = torch.lstm_cell(x, (state[0][layer], state[1][layer]), *weights)
                cs.append(c)
            else:
                h = _CELL_STEPS[self.cfg.cell](x, state[layer], *weights)
            hs.append(h)
            x = h  # (batch, hidden): the next layer's input
        new: State = (torch.stack(hs), torch.stack(cs)) if cs else torch.stack(hs)
        return x, new

    def _both_ways_unpacked(self, emb: Tensor, lengths: Tensor) -> Tensor:
        """A bidirectional stack on right-padded rows, without packing.

        The forward direction reads the rows as they are (padding comes after every
        real token). The backward direction reads each row with its real tokens
        reversed, so that it too starts at real text; its outputs are flipped back.
        Each direction runs as a one-layer, one-way cell on this stack's own weights
        (`functional_call`), so the parameters and checkpoints are those of the
        packed path. Outputs at padded positions are left for the caller to mask.
        """
        from torch.func import functional_call

        flip = _reversal_index(lengths, emb.size(1))  # (batch, time)
        x = emb
        for layer in range(self.cfg.num_layers):
            halves = []
            for suffix, rows in (("", x), ("_reverse", _gather_time(x, flip))):
                weights = {
                    f"{name}_l0": getattr(self.rnn, f"{name}_l{layer}{suffix}")
                    for name in _WEIGHT_NAMES
                }
                out, _ = functional_call(self._one_way(x.size(-1)), weights, (rows,))
                halves.append(out if not suffix else _gather_time(out, flip))
            x = torch.cat(halves, dim=-1)  # (batch, time, 2 * hidden)
            if layer < self.cfg.num_layers - 1:  # what the stacked cell does
                x = F.dropout(x, self.rnn.dropout, self.training)
        return x

    def _one_way(self, input_size: int) -> nn.RNNBase:
        """A one-layer, one-way cell whose weights `functional_call` replaces. Kept
        in a plain dict, not as a submodule, so it adds nothing to the state dict."""
        cell = self._cells.get(input_size)
        if cell is None:
            extra = {"nonlinearity": "tanh"} if self.cfg.cell == "rnn" else {}
            cell = _CELLS[self.cfg.cell](
                input_size, self.cfg.hidden_size, batch_first=True, **extra
            )
            self._cells[input_size] = cell
        return cell


class LockedDropout(nn.Module):
    """Dropout with one mask per row of a (batch, time, features) tensor, shared by
    all its time steps (`RecurrentConfig.locked_dropout`). Padded positions are
    zero before and after, as with nn.Dropout."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.size(0), 1, x.size(2)) if x.dim() == 3 else x.shape
        mask = torch.empty(shape, dtype=x.dtype, device=x.device)
        return x * mask.bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


_WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
# One time step of a GRU or Elman layer, (input, h, weights...) -> h: the functions
# nn.GRUCell and nn.RNNCell call (an LSTM's, torch.lstm_cell, keeps a cell state too).
_CELL_STEPS = {"gru": torch.gru_cell, "rnn": torch.rnn_tanh_cell}


def build_rnn(
    cfg: RecurrentConfig, input_size: int, *, bidirectional: bool | None = None
) -> nn.RNNBase:
    """The RNN/GRU/LSTM stack of `cfg` (batch-first) reading `input_size` features.

    Every recurrent layer of seqcli is built here: the encoder's stack, and the
    decoders that read more than an embedding (a translation decoder reads its
    previous attentional vector too).
    """
    extra = {"nonlinearity": "tanh"} if cfg.cell == "rnn" else {}
    return _CELLS[cfg.cell](
        input_size,
        cfg.hidden_size,
        num_layers=cfg.num_layers,
        batch_first=True,
        dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        bidirectional=cfg.bidirectional if bidirectional is None else bidirectional,
        **extra,
    )


def _reversal_index(lengths: Tensor, time: int) -> Tensor:
    """(batch, time) positions that reverse each row's first `length` steps and keep
    its padding in place; applying it twice gives the identity."""
    steps = torch.arange(time, device=lengths.device).unsqueeze(0)  # (1, time)
    last = lengths.unsqueeze(1) - 1  # (batch, 1)
    return torch.where(steps <= last, last - steps, steps)


def _gather_time(x: Tensor, index: Tensor) -> Tensor:
    """x[b, index[b, t]] for (batch, time, features) x."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


def detach_state(state: State | None) -> State | None:
    """Cut the graph at a window boundary (truncated BPTT) but keep the values.

    The state is kept in fp32: one computed under bf16 autocast then also starts
    an fp32 pass (an evaluation, or a run resumed in fp32) without a dtype clash.
    """
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach().float() for s in state)  # type: ignore[return-value]
    return state.detach().float()


def select_state(state: State, index: Tensor) -> State:
    """Reorder or pick rows of a state along the batch dimension (dim 1)."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)  # type: ignore[return-value]
    return state.index_select(1, index)


def count_parameters(module: nn.Module) -> int:
    """Distinct trainable parameters (tied weights counted once)."""
    seen = {id(p): p for p in module.parameters() if p.requires_grad}
    return sum(p.numel() for p in seen.values())
