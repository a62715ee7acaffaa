"""Sampling speed of a word language model: seqcli's `sample` against a plain loop.

    python bench/sampling.py [--model LM.pt] [--tokens 1000] [--threads 0]
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
generation script works: a time-major model of the same sizes (embedding,
nn.LSTM, linear decoder, log-softmax over every word) called one token at a time,
torch.multinomial over the exponentiated output, and .item() per word to look the
word up. It runs in the same process on the same number of threads.

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
    cfg = lm.cfg.model
    sizes = (len(lm.vocab), cfg.emb_size, cfg.hidden_size, cfg.num_layers)
    reference = ReferenceLM(*sizes).eval()
    rate, cpu_rate = reference_rate(reference, tokens, seed=seed)
    figures["reference_1"] = {
        "words_per_s": round(rate, 1),
        "words_per_cpu_s": round(cpu_rate, 1),
        "threads": used,
    }
    figures["speedup_1"] = round(
        figures["seqcli_1"]["words_per_s"] / figures["reference_1"]["words_per_s"], 2
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
    """Embedding, nn.LSTM and a linear decoder, time-major, log-softmax out."""

    def __init__(self, vocab: int, emb: int, hidden: int, layers: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, layers)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, ids: Tensor, state: Any) -> tuple[Tensor, Any]:
        output, state = self.rnn(self.embedding(ids), state)  # (time, batch, hidden)
        return F.log_softmax(self.decoder(output), dim=-1), state


def reference_rate(model: Any, words: int, *, seed: int = 1) -> tuple[float, float]:
    """Words per second (and per CPU second) of the plain loop: one forward call per
    word, a multinomial draw over the whole vocabulary, the word looked up with
    .item()."""
    torch.manual_seed(seed)
    vocab = model.decoder.out_features
    itos = [f"w{i}" for i in range(vocab)]
    out = io.StringIO()
    word = torch.randint(vocab, (1, 1))  # (time, batch)
    state = None
    with torch.no_grad():
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(words):
            log_probs, state = model(word, state)
            weights = log_probs.squeeze().exp()
            index = torch.multinomial(weights, 1)[0]
            word.fill_(index)
            out.write(itos[index.item()] + ("\n" if i % 20 == 19 else " "))
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
