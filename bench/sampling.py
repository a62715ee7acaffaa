"""Sampling speed of a word language model: seqcli's `sample` against a plain loop.

    python -m bench.sampling [--model LM.pt] [--tokens 1000] [--threads 0]
                             [--softmax adaptive,full]

Without --model it builds, through seqcli's own API, 2-layer LSTM language models
with 200 units and WikiText-2's vocabulary size (33,278 words) with random weights
(speed does not depend on what the weights learnt, except how often an adaptive
softmax's rare-word clusters are drawn: the random model is made to draw them
about as often as WikiText-2's text holds such words, 22.7% of tokens, and the
share drawn is reported as `cluster_share`), one per --softmax kind. For each
model it times seqcli's sampling API as `seqcli sample` calls it (the first
sample streamed) for 1 sample and for 16 samples drawn as a batch, each --tokens
tokens long (not stopping at <eos>, which is a line end then), and reports words
(tokens) per second of wall clock and of CPU time (the latter less disturbed by
other processes on a busy machine).

The reference is a loop written as the PyTorch examples' word-language-model
generation script works: a time-major embedding and nn.LSTM and torch's own output
layer (nn.AdaptiveLogSoftmaxWithLoss, or a linear decoder), holding the SAME
trained weights as the seqcli model (`ReferenceLM.from_seqcli`), called one token
at a time. It draws each word two ways: from the full distribution over every
word (one multinomial over the vocabulary, as the example does), and with seqcli's
two-stage draw (the head, then the cluster that came up). Both it and seqcli get
a 20-token warm-up before they are timed; it runs in the same process on the
same number of threads.

--threads 0 lets seqcli choose (what the command does, `seqcli.threads`); give a
list (1,2) to compare. The last line of output is one JSON object.
`measure_sampling(path_or_lm)` returns the same figures for one model (bench/lm.py
measures its trained WikiText-2 model with it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout, seqcli not installed
    sys.path.insert(0, str(ROOT))

WIKITEXT2_VOCAB = 33_278
BATCH = 16
# Share of WikiText-2's training tokens in each adaptive-softmax cluster of seqcli's
# default cut-offs: ranks 2,000-10,000 and 10,000 on (the head holds the rest).
WIKITEXT2_CLUSTER_SHARES = (0.156, 0.071)


def build_lm(softmax: str, *, vocab_size: int = WIKITEXT2_VOCAB, seed: int = 1) -> Any:
    """A 2x200 word LSTM LM with random weights, as seqcli builds one for WikiText-2
    (its default sizes; `softmax` adaptive or full), ready for `lm_inference`."""
    from seqcli.config import LMConfig
    from seqcli.tasks.lm import build_network
    from seqcli.tasks.lm_inference import LoadedLM
    from seqcli.tokenizers import make_tokenizer
    from seqcli.vocab import SPECIALS, Vocab

    torch.manual_seed(seed)
    cfg = LMConfig(softmax=softmax)
    words = [f"w{i}" for i in range(vocab_size - len(SPECIALS))]
    network = build_network(cfg, vocab_size).eval()
    if network.adaptive is not None:
        _draw_clusters_as_wikitext(network, WIKITEXT2_CLUSTER_SHARES)
    return LoadedLM(network, Vocab([*SPECIALS, *words]), make_tokenizer("word"), cfg)


@torch.no_grad()
def _draw_clusters_as_wikitext(network: Any, shares: tuple[float, ...]) -> None:
    """Make random weights draw an adaptive softmax's clusters about as often as a
    WikiText-2 model does (a cluster draw costs more than a head draw).

    Random weights give every head entry about the same score, so a cluster
    would be drawn once in 1,000 tokens. Here one unit of the top LSTM layer is
    made constant (its gates saturated: its output tends to tanh of a growing cell,
    1) and the head's cluster rows read it with a weight that gives each cluster
    its share of the head's mass.
    """
    rnn, top = network.encoder.rnn, network.encoder.cfg.num_layers - 1
    hidden = network.encoder.cfg.hidden_size
    gates = torch.arange(4) * hidden  # unit 0 of the input, forget, cell, output gates
    getattr(rnn, f"weight_ih_l{top}")[gates] = 0.0
    getattr(rnn, f"weight_hh_l{top}")[gates] = 0.0
    getattr(rnn, f"bias_ih_l{top}")[gates] = 10.0
    head = network.adaptive.head.weight  # (head ids + clusters, hidden)
    shortlist = network.softmax_cutoffs[0]
    head[:, 0] = 0.0
    probe = torch.rand(256, hidden) * 2 - 1  # outputs of the other units
    probe[:, 0] = 1.0
    mass = (probe @ head[:shortlist].T).exp().sum(dim=1).mean()  # of the head ids
    for cluster, share in enumerate(shares):
        target = share / (1.0 - sum(shares)) * mass
        head[shortlist + cluster, 0] = float(target.log())


def measure_sampling(
    model: Any, *, tokens: int = 1000, threads: int = 0, seed: int = 1
) -> dict[str, Any]:
    """Words per second of seqcli's sampling (1 sample, 16 as a batch) and of the
    reference loop on a model of the same sizes, in this process.

    Args:
        model: a checkpoint path or a loaded LM (`lm_inference.LoadedLM`).
        tokens: tokens drawn per sample.
        threads: torch threads (0: seqcli's automatic choice, per batch size).
    """
    from seqcli.tasks.lm_inference import LoadedLM, load_lm
    from seqcli.threads import set_threads

    lm = model if isinstance(model, LoadedLM) else load_lm(model)
    threads_before = torch.get_num_threads()
    figures: dict[str, Any] = {
        "softmax": "adaptive" if lm.network.adaptive is not None else "full",
        "vocab": len(lm.vocab),
        "tokens_per_sample": tokens,
    }
    for num in (1, BATCH):
        used = set_threads(threads, rows=num)
        (rate, cpu_rate), share = _seqcli_rate(lm, num=num, tokens=tokens, seed=seed)
        figures[f"seqcli_{num}"] = {
            "words_per_s": round(rate, 1),
            "words_per_cpu_s": round(cpu_rate, 1),
            "threads": used,
            "cluster_share": share,
        }
    used = set_threads(threads, rows=1)
    reference = ReferenceLM.from_seqcli(lm.network)
    itos = list(lm.vocab.itos)
    for draw in ("full", "two-stage"):
        rate, cpu_rate = reference_rate(
            reference, tokens, seed=seed, draw=draw, itos=itos
        )
        key = "reference_1" if draw == "full" else "reference_two_stage_1"
        figures[key] = {
            "words_per_s": round(rate, 1),
            "words_per_cpu_s": round(cpu_rate, 1),
            "threads": used,
        }
    for key, ref in (
        ("speedup_1", "reference_1"),
        ("speedup_two_stage_1", "reference_two_stage_1"),
    ):
        figures[key] = round(
            figures["seqcli_1"]["words_per_s"] / figures[ref]["words_per_s"], 2
        )
    torch.set_num_threads(threads_before)
    return figures


def _seqcli_rate(
    lm: Any, *, num: int, tokens: int, seed: int
) -> tuple[tuple[float, float], float | None]:
    """((tokens per second, per CPU second), share of tokens from an adaptive
    softmax's clusters) of `lm_inference.sample` drawing `num` samples, the first
    streamed as by the CLI."""
    from seqcli.tasks.lm_inference import sample

    sink = io.StringIO()
    kwargs = {"max_length": tokens, "stop_at_eos": False, "on_text": sink.write}
    sample(lm, num=num, seed=seed, **{**kwargs, "max_length": 20})  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    texts = sample(lm, num=num, seed=seed, **kwargs)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return (num * tokens / elapsed, num * tokens / cpu), _cluster_share(lm, texts)


def _cluster_share(lm: Any, texts: list[str]) -> float | None:
    """The share of sampled tokens that an adaptive softmax drew from a cluster
    (the dearer draws), read back from the texts."""
    if lm.network.adaptive is None:
        return None
    shortlist = lm.network.softmax_cutoffs[0]
    ids = [lm.vocab.stoi.get(t, 0) for x in texts for t in lm.tokenizer.tokenize(x)]
    return round(sum(i >= shortlist for i in ids) / max(1, len(ids)), 3)


# --- the reference: generation as the PyTorch example does it ----------------------
class ReferenceLM(nn.Module):
    """Embedding, nn.LSTM (or nn.GRU) and an output layer, time-major, written as
    the PyTorch example writes it, holding a seqcli model's trained weights
    (`from_seqcli`): torch's own nn.AdaptiveLogSoftmaxWithLoss for an adaptive
    softmax (seqcli's keeps PyTorch's layer names), a linear decoder otherwise."""

    def __init__(
        self,
        vocab: int,
        emb: int,
        hidden: int,
        layers: int,
        *,
        cell: str = "lstm",
        cutoffs: list[int] | None = None,
        project: int | None = None,
    ):
        super().__init__()
        self.vocab = vocab
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(emb, hidden, layers)
        self.project = nn.Linear(hidden, project) if project else nn.Identity()
        self.adaptive: nn.AdaptiveLogSoftmaxWithLoss | None = None
        self.decoder: nn.Linear | None = None
        if cutoffs:
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
                hidden, vocab, cutoffs, div_value=4.0
            )
        else:
            self.decoder = nn.Linear(project or hidden, vocab)

    @classmethod
    def from_seqcli(cls, network: Any) -> ReferenceLM:
        """The same trained weights as a seqcli `LanguageModel`, in these modules."""
        cfg = network.encoder.cfg
        project = getattr(network.project, "out_features", None)
        cutoffs = network.softmax_cutoffs[:-1] if network.adaptive is not None else None
        ref = cls(
            network.vocab_size,
            cfg.emb_size,
            cfg.hidden_size,
            cfg.num_layers,
            cell=cfg.cell,
            cutoffs=cutoffs,
            project=project,
        )
        ref.embedding.load_state_dict(network.encoder.embedding.state_dict())
        ref.rnn.load_state_dict(network.encoder.rnn.state_dict())
        if project:
            ref.project.load_state_dict(network.project.state_dict())
        if ref.adaptive is not None:
            ref.adaptive.load_state_dict(network.adaptive.state_dict())
        else:
            ref.decoder.weight.data.copy_(network.decoder.weight.detach())
            ref.decoder.bias.data.copy_(network.decoder.bias.detach())
        return ref.eval()

    def forward(self, ids: Tensor, state: Any) -> tuple[Tensor, Any]:
        """(time, batch) ids -> the top layer's outputs (time, batch, hidden)."""
        return self.rnn(self.embedding(ids), state)

    def log_probs(self, hidden: Tensor) -> Tensor:
        """(rows, hidden) -> (rows, vocab): every word's log-probability."""
        if self.adaptive is not None:
            return self.adaptive.log_prob(hidden)
        return F.log_softmax(self.decoder(self.project(hidden)), dim=-1)

    def draw_full(self, hidden: Tensor) -> int:
        """One word from the whole distribution (one multinomial over the vocab)."""
        weights = self.log_probs(hidden).squeeze(0).exp()
        return int(torch.multinomial(weights, 1))

    def draw_two_stage(self, hidden: Tensor) -> int:
        """One word as seqcli draws it: from the head (frequent words and one entry
        per cluster), then, when a cluster came up, from that cluster alone."""
        if self.adaptive is None:
            return self.draw_full(hidden)
        head = self.adaptive.head(hidden).squeeze(0).softmax(-1)
        index = int(torch.multinomial(head, 1))
        shortlist = self.adaptive.shortlist_size
        if index < shortlist:
            return index
        cluster = index - shortlist
        inner = self.adaptive.tail[cluster](hidden).squeeze(0).softmax(-1)
        return self.adaptive.cutoffs[cluster] + int(torch.multinomial(inner, 1))


def reference_rate(
    model: ReferenceLM,
    words: int,
    *,
    seed: int = 1,
    draw: str = "full",
    itos: list[str] | None = None,
) -> tuple[float, float]:
    """Words per second (and per CPU second) of the plain loop: one forward call per
    word, a draw (`full` or `two-stage`), the word looked up by its index.
    A 20-word warm-up comes first, as seqcli's run has one."""
    pick = model.draw_full if draw == "full" else model.draw_two_stage
    itos = itos or [f"w{i}" for i in range(model.vocab)]

    def run(n: int) -> None:
        torch.manual_seed(seed)
        out = io.StringIO()
        word, state = torch.zeros(1, 1, dtype=torch.long), None  # (time, batch)
        for i in range(n):
            output, state = model(word, state)  # (1, 1, hidden)
            index = pick(output[0])
            word.fill_(index)
            out.write(itos[index] + ("\n" if i % 20 == 19 else " "))

    with torch.no_grad():
        run(20)  # warm-up
        start, cpu = time.perf_counter(), time.process_time()
        run(words)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return words / elapsed, words / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a seqcli word LM checkpoint")
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--threads", default="0", help="e.g. 1,2 (0: automatic)")
    parser.add_argument("--softmax", default="adaptive,full")
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs: dict[str, Any] = {}
    for threads in (int(t) for t in args.threads.split(",")):
        models = (
            {"model": args.model}
            if args.model
            else {kind: build_lm(kind) for kind in args.softmax.split(",")}
        )
        for name, model in models.items():
            key = f"{name}_threads{threads}"
            runs[key] = measure_sampling(model, tokens=args.tokens, threads=threads)
            print(f"{key}: {json.dumps(runs[key])}", file=sys.stderr)
    record = {
        "model": str(args.model) if args.model else "random 2x200 LSTM, 33,278 words",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **runs,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
