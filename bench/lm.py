"""Language-model benchmark: seqcli against a plain PyTorch reference, same budget.

    python bench/lm.py [--budget MINUTES] [--only wikitext,shakespeare]

1. WikiText-2, word level, 2-layer LSTM with 200 units, BPTT 35, batch 20:
   seqcli's default setting vs the classic PyTorch word-language-model recipe
   (embedding, nn.LSTM, full softmax, cross-entropy, SGD lr 20, clip 0.25), each
   trained for the same wall-clock budget: training tokens/s and validation
   perplexity, and their ratios.
2. Tiny Shakespeare, character level: validation loss (nats/char) and bits per
   character after the budget; sampling speed for 1 and 16 parallel samples.
3. Peak resident memory of each training run (each runs in its own process).

Corpora come from ../shared/corpora (override with SEQCLI_CORPORA). The last line
of output is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from steptimer import StepTimer  # bench/, first on sys.path

ROOT = Path(__file__).resolve().parent.parent


def corpora() -> Path:
    return Path(os.environ.get("SEQCLI_CORPORA", ROOT.parent / "shared" / "corpora"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- workers (each in its own process, so that peak memory is its own) -------------
def worker_seqcli_wikitext(budget: float) -> dict:
    from seqcli.config import LMConfig
    from seqcli.tasks.lm import train_lm

    wt = corpora() / "lm" / "wikitext-2"
    cfg = LMConfig(
        train_path=str(wt / "train.txt"),
        valid_path=str(wt / "valid.txt"),
        out=str(ROOT / "bench" / "results" / "wikitext-seqcli.pt"),
    )
    cfg.train.max_time = budget
    cfg.train.epochs = 1000
    timer = StepTimer()
    outcome = train_lm(cfg, reporter=timer)
    tokens = timer.evals[-1]["tokens"] if timer.evals else 0
    return {
        "valid_ppl": outcome.metrics["valid"]["ppl"],
        "train_tokens": tokens,
        "train_tokens_per_s": tokens / max(timer.train_s, 1e-9),
        "epochs_done": timer.evals[-1]["epoch"] if timer.evals else 0,
        "softmax": "adaptive (auto)",
        "optimizer": f"{cfg.train.optimizer} lr {cfg.train.lr}",
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_reference_wikitext(budget: float) -> dict:
    """The classic recipe, written plainly: no seqcli code in the training step."""
    import torch
    from torch import nn

    from seqcli.config import LMConfig
    from seqcli.tasks.lm import prepare_data

    torch.manual_seed(1)
    wt = corpora() / "lm" / "wikitext-2"
    # Same vocabulary and ids as seqcli's run, so the perplexities compare.
    data = prepare_data(
        LMConfig(train_path=str(wt / "train.txt"), valid_path=str(wt / "valid.txt"))
    )
    vocab = len(data.vocab)

    class RNNModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = nn.Dropout(0.2)
            self.encoder = nn.Embedding(vocab, 200)
            self.rnn = nn.LSTM(200, 200, 2, dropout=0.2)
            self.decoder = nn.Linear(200, vocab)

        def forward(self, x, hidden):  # noqa: ANN001, ANN202
            out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
            return self.decoder(self.drop(out)), hidden

    def batchify(stream: torch.Tensor, bsz: int) -> torch.Tensor:
        n = stream.numel() // bsz
        return stream[: n * bsz].view(bsz, -1).t().long().contiguous()

    train, valid = batchify(data.train, 20), batchify(data.valid, 10)
    model, crit, lr, bptt = RNNModel(), nn.CrossEntropyLoss(), 20.0, 35
    start, train_s, tokens, hidden = time.perf_counter(), 0.0, 0, None
    while time.perf_counter() - start < budget * 60:
        model.train()
        for i in range(0, train.size(0) - 1, bptt):
            t0 = time.perf_counter()
            seq = min(bptt, train.size(0) - 1 - i)
            x, y = train[i : i + seq], train[i + 1 : i + 1 + seq]
            if hidden is not None:
                hidden = tuple(h.detach() for h in hidden)
            model.zero_grad()
            out, hidden = model(x, hidden)
            loss = crit(out.view(-1, vocab), y.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            train_s += time.perf_counter() - t0
            tokens += x.numel()
            if time.perf_counter() - start >= budget * 60:
                break
        hidden = None
    last_train_loss = float(loss)
    model.eval()
    total, count, hidden = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, valid.size(0) - 1, bptt):
            seq = min(bptt, valid.size(0) - 1 - i)
            out, hidden = model(valid[i : i + seq], hidden)
            total += (
                float(crit(out.view(-1, vocab), valid[i + 1 : i + 1 + seq].reshape(-1)))
                * out.size(0)
                * out.size(1)
            )
            count += out.size(0) * out.size(1)
    return {
        "valid_ppl": math.exp(total / count),
        "train_ppl_last_batch": math.exp(last_train_loss),
        "train_tokens": tokens,
        "train_tokens_per_s": tokens / train_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_seqcli_shakespeare(budget: float) -> dict:
    from seqcli.config import LMConfig
    from seqcli.tasks.lm import train_lm
    from seqcli.tasks.lm_inference import load_lm, sample

    ts = corpora() / "lm" / "tinyshakespeare"
    out = ROOT / "bench" / "results" / "shakespeare-seqcli.pt"
    cfg = LMConfig(
        train_path=str(ts / "train.txt"),
        valid_path=str(ts / "valid.txt"),
        out=str(out),
        bptt=100,
    )
    cfg.tokenizer.level = "char"
    cfg.model.emb_size, cfg.model.hidden_size, cfg.model.num_layers = 64, 256, 2
    cfg.train.batch_size, cfg.train.max_time, cfg.train.epochs = 32, budget, 1000
    timer = StepTimer()
    outcome = train_lm(cfg, reporter=timer)
    rss = peak_rss_mb()
    lm = load_lm(out)
    speeds = {}
    for n in (1, 16):
        sample(lm, num=1, max_length=20, seed=0)  # warm-up
        t0 = time.perf_counter()
        texts = sample(lm, num=n, max_length=1000, stop_at_eos=False, seed=0)
        speeds[n] = sum(len(t) for t in texts) / (time.perf_counter() - t0)
    valid = outcome.metrics["valid"]
    return {
        "valid_nats_per_char": valid["loss"],
        "valid_bpc": valid["bpc"],
        "train_chars_per_s": (timer.evals[-1]["tokens"] / timer.train_s)
        if timer.evals
        else 0,
        "epochs_done": timer.evals[-1]["epoch"] if timer.evals else 0,
        "sample_chars_per_s_1": speeds[1],
        "sample_chars_per_s_16": speeds[16],
        "peak_rss_mb": rss,
        "config": "char, lstm 2x256, emb 64, bptt 100, batch 32, adam 2e-3",
    }


WORKERS = {
    "seqcli-wikitext": worker_seqcli_wikitext,
    "reference-wikitext": worker_reference_wikitext,
    "seqcli-shakespeare": worker_seqcli_shakespeare,
}


def run_workers(names: list[str], budget: float, threads: int) -> list[dict]:
    """Run workers side by side, so that they share whatever else loads the machine."""
    print(
        f"== {', '.join(names)} ({budget} min budget, {threads} thread(s) each)",
        file=sys.stderr,
        flush=True,
    )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                name,
                "--budget",
                str(budget),
                "--threads",
                str(threads),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for name in names
    ]
    results = []
    for name, proc in zip(names, procs, strict=True):
        out, err = proc.communicate()
        if proc.returncode != 0:
            sys.stderr.write(err[-3000:])
            raise SystemExit(f"{name} failed with exit code {proc.returncode}")
        result = json.loads(out.strip().splitlines()[-1])
        print(f"   {name}: {result}", file=sys.stderr, flush=True)
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=float, default=10.0, help="minutes per training run"
    )
    parser.add_argument("--only", default="wikitext,shakespeare")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per training process (0 = torch's default); "
        "1 keeps a busy 2-core machine from thrashing",
    )
    args = parser.parse_args()
    if args.worker:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
        print(json.dumps(WORKERS[args.worker](args.budget)))
        return
    figures: dict = {
        "budget_min": args.budget,
        "threads_per_run": args.threads,
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, no GPU",
    }
    only = args.only.split(",")
    if "wikitext" in only:
        # Side by side on one thread each: both see the same machine load, so the
        # ratios hold even on a busy 2-core machine.
        ours, ref = run_workers(
            ["seqcli-wikitext", "reference-wikitext"], args.budget, args.threads
        )
        figures["wikitext2"] = {
            "seqcli": ours,
            "reference": ref,
            "throughput_ratio": ours["train_tokens_per_s"] / ref["train_tokens_per_s"],
            "valid_ppl_ratio": ours["valid_ppl"] / ref["valid_ppl"],
        }
        print(
            f"WikiText-2: seqcli {ours['train_tokens_per_s']:,.0f} tok/s, valid ppl "
            f"{ours['valid_ppl']:.1f} | reference "
            f"{ref['train_tokens_per_s']:,.0f} tok/s, "
            f"valid ppl {ref['valid_ppl']:.1f} | throughput x"
            f"{figures['wikitext2']['throughput_ratio']:.2f}"
        )
    if "shakespeare" in only:
        (ch,) = run_workers(["seqcli-shakespeare"], args.budget, args.threads)
        figures["tinyshakespeare"] = ch
        print(
            f"tiny Shakespeare: valid {ch['valid_nats_per_char']:.3f} nats/char "
            f"({ch['valid_bpc']:.3f} bpc); sampling {ch['sample_chars_per_s_1']:,.0f} "
            f"chars/s (1), {ch['sample_chars_per_s_16']:,.0f} chars/s (16)"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
