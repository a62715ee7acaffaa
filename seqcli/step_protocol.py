"""The step protocol: what generation needs from a network.

A network offers ``start(prefix) -> state``, ``step(prev_ids, state) -> (log_probs,
state)`` and ``reorder(state, index)``. The searches (`seqcli.decoding`'s sampling
and greedy search, `seqcli.beam`'s beam search) are written against these
protocols alone, so this module sits below both and imports neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import Tensor


class Stepper(Protocol):
    """What generation needs from a network.

    ``step`` reads one token per row and returns the next token's log-probs,
    (rows, vocab). ``reorder`` picks rows of a state for beam search: ``index`` is
    (sentences, k), new row j of sentence s being old row ``index[s, j]``. The
    rows of a sentence always come from the rows of one earlier sentence, and
    sentences keep their order (some may be dropped), so a network can keep what
    belongs to a sentence (an encoder's memory) once per sentence.
    """

    def step(self, prev_ids: Tensor, state: Any) -> tuple[Tensor, Any]: ...

    def reorder(self, state: Any, index: Tensor) -> Any: ...


@runtime_checkable
class TwoLevelStepper(Stepper, Protocol):
    """A stepper whose softmax has two levels, as an adaptive softmax (Grave et al.,
    2017) has: a head over the ids below ``softmax_cutoffs[0]`` plus one entry per
    cluster of rarer ids, and a softmax within each cluster, so that
    P(id) = P_head(its cluster) * P_cluster(id). A full softmax is the case of one
    level, ``softmax_cutoffs == [vocab]``. `decoding.sample` draws from it level by
    level.
    """

    @property
    def softmax_cutoffs(self) -> list[int]: ...

    def step_hidden(self, prev_ids: Tensor, state: Any) -> tuple[Tensor, Any]: ...

    def head_scorer(self) -> Callable[[Tensor], Tensor]: ...

    def cluster_logits(self, hidden: Tensor, cluster: int) -> Tensor: ...
