"""Language-model benchmark: seqcli's defaults, its engine against a plain PyTorch
loop, character-level Shakespeare and sampling speed.

    python -m bench.lm [--budget 10] [--seeds 1,2,3] [--speed-seconds 120]
                       [--threads 0] [--only wikitext,speed,shakespeare,sampling]
                       [--char-recipe KEY=VALUE,...] [--bf16]
                       [--wikitext-args "--precision bf16"]

1. wikitext: `seqcli train-lm train.txt --valid valid.txt --test test.txt
   --max-time BUDGET --seed S`, seqcli's default command line as a user types it
   (its own process, through the CLI), once per seed: validation and test
   perplexity, training tokens/s, peak RSS; `--wikitext-args` adds options to
   that command line (for instance `--precision bf16`).
2. speed: training tokens/s of a 2x200 LSTM (BPTT 35, batch 20) for the same
   wall-clock time each, one after the other on the same threads:
   (a) the reference, the classic PyTorch word-language-model loop written plainly
       (embedding, nn.LSTM, full softmax, cross-entropy, SGD lr 20, clip 0.25,
       embedding and decoder initialised uniform +-0.1, decoder bias zero);
   (b) seqcli's engine with exactly that recipe (full softmax, untied, SGD lr 20,
       clip 0.25, the same initialisation), so that the ratio (b)/(a) is the engine's
       alone;
   (c) seqcli's default recipe (its softmax, optimiser and batch size), the figure
       that (c)/(a) compares;
   with --bf16 also (b) and (c) with `--precision bf16` (mixed precision: the
   matrix products in bfloat16), each with its validation perplexity, so that
   the speed is seen beside what it costs in quality at equal time, and (a)
   again under bf16 autocast, the reference those two are compared with.
3. shakespeare: a character LM on tiny Shakespeare for BUDGET minutes per seed
   (validation nats/char); `--char-recipe model.hidden_size=256,...` changes its
   recipe (CHAR_RECIPE below).
4. sampling: words/s of `sample` on the first WikiText-2 model, 1 and 16 samples,
   beside a plain one-token-at-a-time loop like pytorch/examples' generate.py
   holding the same weights (bench/sampling.py).

Corpora come from ../shared/corpora (override with SEQCLI_CORPORA). Runs take the
whole machine: run the benchmark on a quiet machine (its load average is recorded).
The last line of output is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

from bench.results import evaluations
from bench.spread import spread
from bench.steptimer import StepTimer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def corpora() -> Path:
    return Path(os.environ.get("SEQCLI_CORPORA", ROOT.parent / "shared" / "corpora"))


def wikitext() -> Path:
    return corpora() / "lm" / "wikitext-2"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def clear(prefix: str) -> None:
    """Remove an earlier run's files: each run starts fresh, not resumed or refused."""
    for stale in RESULTS.glob(f"{prefix}.*"):
        stale.unlink()


def cpu_model() -> str:
    """The CPU's name and its bf16 instructions: figures differ from one machine of
    this workplace to the next (AMD EPYC with AVX-512 BF16, Intel Xeon with AMX)."""
    from seqcli.devices import cpu_bf16_flags, cpu_name

    name = cpu_name()
    return f"{name} ({', '.join(cpu_bf16_flags()) or 'no bf16 instructions'})"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- 1. seqcli's default command line ------------------------------------------------
def default_run(budget: float, seed: int, threads: int, extra: list[str]) -> dict:
    """`seqcli train-lm` as a user runs it, in a child process (its own peak RSS)."""
    wt = wikitext()
    out = RESULTS / f"wikitext-default-{seed}.pt"
    clear(f"wikitext-default-{seed}")
    cmd = [
        sys.executable, "-m", "seqcli", "train-lm", str(wt / "train.txt"),
        "--valid", str(wt / "valid.txt"), "--test", str(wt / "test.txt"),
        "--max-time", f"{budget:g}", "--seed", str(seed), "-o", str(out), "-q",
        "--threads", str(threads), *extra,
    ]  # fmt: skip
    log(f"   $ seqcli {' '.join(cmd[3:])}")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"train-lm failed with status {status}")
    records = evaluations(out.with_suffix(".metrics.jsonl"))
    from seqcli.checkpoint import load_checkpoint

    metrics = load_checkpoint(out, task="lm")["metrics"]
    last = records[-1]
    return {
        "seed": seed,
        "valid_ppl": metrics["valid"]["ppl"],
        "test_ppl": metrics["test"]["ppl"],
        "epochs": last["epoch"],
        "train_tokens": last["tokens"],
        # the whole training time, evaluations included: what the budget buys
        "tokens_per_s": last["tokens"] / last["elapsed_s"],
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "model": str(out),
    }


def torch_threads() -> int:
    """The threads the worker was given: seqcli's own setting must not change them."""
    import torch

    return torch.get_num_threads()


# --- 2. engine speed ---------------------------------------------------------------
def _lm_config(recipe: str, seconds: float, precision: str):  # noqa: ANN202
    from seqcli.config import LMConfig, load_config

    wt = wikitext()
    overrides = {
        "train_path": str(wt / "train.txt"),
        "valid_path": str(wt / "valid.txt"),
        "out": str(RESULTS / f"speed-{recipe}-{precision}.pt"),
        "train.precision": precision,
        "train.max_time": seconds / 60,
        "train.epochs": 1000,
        "train.device": "cpu",
        "train.num_threads": torch_threads(),
    }
    if recipe == "reference":
        overrides.update(
            {
                "softmax": "full",
                "tie_weights": False,
                "bptt": 35,
                "model.emb_size": 200,
                "model.hidden_size": 200,
                "model.num_layers": 2,
                "model.dropout": 0.2,
                "train.batch_size": 20,
                "train.optimizer": "sgd",
                "train.lr": 20.0,
                "train.clip": 0.25,
                "train.lr_schedule": "plateau",
                "train.warmup_steps": 0,  # the reference loop has no warm-up
            }
        )
    return load_config(LMConfig, None, overrides)


def worker_seqcli_speed(seconds: float, recipe: str, precision: str) -> dict:
    from seqcli.tasks.lm import train_lm

    RESULTS.mkdir(parents=True, exist_ok=True)
    cfg = _lm_config(recipe, seconds, precision)
    clear(f"speed-{recipe}-{precision}")
    timer = StepTimer()
    outcome = train_lm(cfg, reporter=timer)
    tokens = timer.evals[-1]["tokens"]
    return {
        "recipe": recipe,
        "precision": precision,
        "train_tokens": tokens,
        "tokens_per_s": tokens / timer.train_s,
        "valid_ppl": outcome.metrics["valid"]["ppl"],
        "softmax": cfg.softmax,
        "batch_size": cfg.train.batch_size,
        "optimizer": f"{cfg.train.optimizer} lr {cfg.train.lr:g}",
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_reference_speed(seconds: float, precision: str = "fp32") -> dict:
    """The classic recipe, written plainly: no seqcli code in the training step.

    With `precision` "bf16" its forward pass and loss run under CPU autocast, as
    seqcli's step does with `--precision bf16` (weights, gradients and the
    evaluation stay fp32 in both), so that a ratio compares engines, not precisions.
    """
    import torch
    from torch import nn

    from seqcli.config import LMConfig
    from seqcli.tasks.lm_data import prepare_data

    torch.manual_seed(1)
    wt = wikitext()
    # Same vocabulary and ids as seqcli's runs, so the perplexities compare.
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
            nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)

        def forward(self, x, hidden):  # noqa: ANN001, ANN202
            out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
            return self.decoder(self.drop(out)), hidden

    def batchify(stream: torch.Tensor, bsz: int) -> torch.Tensor:
        n = stream.numel() // bsz
        return stream[: n * bsz].view(bsz, -1).t().long().contiguous()

    train, valid = batchify(data.train, 20), batchify(data.valid, 10)
    bf16 = precision == "bf16"
    model, crit, lr, bptt = RNNModel(), nn.CrossEntropyLoss(), 20.0, 35
    start, train_s, tokens, hidden = time.perf_counter(), 0.0, 0, None
    while time.perf_counter() - start < seconds:
        model.train()
        for i in range(0, train.size(0) - 1, bptt):
            t0 = time.perf_counter()
            seq = min(bptt, train.size(0) - 1 - i)
            x, y = train[i : i + seq], train[i + 1 : i + 1 + seq]
            if hidden is not None:
                hidden = tuple(h.detach() for h in hidden)
            model.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out, hidden = model(x, hidden)
                loss = crit(out.view(-1, vocab), y.reshape(-1))
            hidden = tuple(h.float() for h in hidden)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            train_s += time.perf_counter() - t0
            tokens += x.numel()
            if time.perf_counter() - start >= seconds:
                break
        hidden = None
    model.eval()
    total, count, hidden = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, valid.size(0) - 1, bptt):
            seq = min(bptt, valid.size(0) - 1 - i)
            out, hidden = model(valid[i : i + seq], hidden)
            n = out.size(0) * out.size(1)
            target = valid[i + 1 : i + 1 + seq].reshape(-1)
            total += float(crit(out.view(-1, vocab), target)) * n
            count += n
    return {
        "recipe": "plain PyTorch loop",
        "precision": precision,
        "train_tokens": tokens,
        "tokens_per_s": tokens / train_s,
        "valid_ppl": math.exp(total / count),
        "peak_rss_mb": peak_rss_mb(),
    }


# --- 3. characters -----------------------------------------------------------------
CHAR_RECIPE = {
    "tokenizer.level": "char",
    "bptt": 100,
    "model.emb_size": 64,
    "model.hidden_size": 512,
    "model.num_layers": 2,
    "model.dropout": 0.2,
    "train.batch_size": 32,
    "train.lr": 0.002,
}


def char_recipe(text: str) -> dict:
    """CHAR_RECIPE with ``--char-recipe`` overrides: ``model.hidden_size=256,...``
    (each value read as a YAML scalar, as in a config file)."""
    import yaml

    recipe = dict(CHAR_RECIPE)
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        recipe[key.strip()] = yaml.safe_load(value)
    return recipe


def worker_shakespeare(budget: float, seed: int, recipe_text: str) -> dict:
    from seqcli.config import LMConfig, load_config
    from seqcli.tasks.lm import train_lm

    ts = corpora() / "lm" / "tinyshakespeare"
    out = RESULTS / f"shakespeare-{seed}.pt"
    clear(f"shakespeare-{seed}")
    overrides = {
        "train_path": str(ts / "train.txt"),
        "valid_path": str(ts / "valid.txt"),
        "out": str(out),
        "train.max_time": budget,
        "train.epochs": 1000,
        "train.seed": seed,
        "train.device": "cpu",
        "train.num_threads": torch_threads(),
        **char_recipe(recipe_text),
    }
    cfg = load_config(LMConfig, None, overrides)
    timer = StepTimer()
    outcome = train_lm(cfg, reporter=timer)
    valid = outcome.metrics["valid"]
    return {
        "seed": seed,
        "valid_nats_per_char": valid["loss"],
        "valid_bpc": valid["bpc"],
        "train_chars_per_s": timer.evals[-1]["tokens"] / timer.train_s,
        "epochs": timer.evals[-1]["epoch"],
        "peak_rss_mb": peak_rss_mb(),
    }


# --- 4. sampling -------------------------------------------------------------------
def worker_sampling(model: str, tokens: int = 1000) -> dict:
    from bench.sampling import measure_sampling

    return measure_sampling(model, tokens=tokens)


WORKERS = {
    "seqcli-speed-reference": lambda a: worker_seqcli_speed(
        a.seconds, "reference", a.precision
    ),
    "seqcli-speed-default": lambda a: worker_seqcli_speed(
        a.seconds, "default", a.precision
    ),
    "reference-speed": lambda a: worker_reference_speed(a.seconds, a.precision),
    "shakespeare": lambda a: worker_shakespeare(a.budget, a.seed, a.char_recipe),
    "sampling": lambda a: worker_sampling(a.model, a.tokens),
}


def run_worker(name: str, threads: int, **kwargs: object) -> dict:
    """One worker in its own process (its own peak RSS and thread setting)."""
    cmd = [sys.executable, "-m", "bench.lm", "--worker", name]
    cmd += ["--threads", str(threads)]
    for key, value in kwargs.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {proc.returncode}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    log(f"   {name}: {json.dumps(result)}")
    return result


def set_threads(threads: int) -> int:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    else:  # seqcli's automatic choice, as a user gets it
        from seqcli import threads as chooser

        chooser.set_threads(0)
    return torch.get_num_threads()


def bench_wikitext(args: argparse.Namespace, figures: dict) -> None:
    log(f"== WikiText-2, seqcli's default command, {args.budget:g} min per seed")
    extra = shlex.split(args.wikitext_args)
    runs = [default_run(args.budget, seed, args.threads, extra) for seed in args.seeds]
    for r in runs:
        log(f"   seed {r['seed']}: {json.dumps(r)}")
    figures["wikitext2_default"] = {
        "options": extra,
        "runs": runs,
        "valid_ppl": spread([r["valid_ppl"] for r in runs]),
        "test_ppl": spread([r["test_ppl"] for r in runs]),
        "tokens_per_s": spread([r["tokens_per_s"] for r in runs]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }
    v = figures["wikitext2_default"]["valid_ppl"]
    t = figures["wikitext2_default"]["test_ppl"]
    print(
        f"WikiText-2 default, {args.budget:g} min: valid ppl {v['mean']:.1f} "
        f"(+-{v['sd']:.1f}), test ppl {t['mean']:.1f} (+-{t['sd']:.1f})",
        flush=True,
    )


def bench_speed(args: argparse.Namespace, figures: dict) -> None:
    log(f"== engine speed, {args.speed_seconds:g} s each, one after the other")
    seconds = args.speed_seconds
    ref = run_worker("reference-speed", args.threads, seconds=seconds)
    same = run_worker("seqcli-speed-reference", args.threads, seconds=seconds)
    ours = run_worker("seqcli-speed-default", args.threads, seconds=seconds)
    figures["speed"] = {
        "reference": ref,
        "seqcli_reference_recipe": same,
        "seqcli_default": ours,
        "ratio_same_recipe": same["tokens_per_s"] / ref["tokens_per_s"],
        "ratio_default": ours["tokens_per_s"] / ref["tokens_per_s"],
    }
    s = figures["speed"]
    if args.bf16:
        # the reference under autocast too: bf16 against bf16
        ref_bf16 = run_worker(
            "reference-speed", args.threads, seconds=seconds, precision="bf16"
        )
        s["reference_bf16"] = ref_bf16
        for recipe in ("reference", "default"):
            run = run_worker(
                f"seqcli-speed-{recipe}",
                args.threads,
                seconds=seconds,
                precision="bf16",
            )
            s[f"seqcli_{recipe}_bf16"] = run
            s[f"ratio_{recipe}_bf16"] = run["tokens_per_s"] / ref_bf16["tokens_per_s"]
    print(
        f"speed: reference {ref['tokens_per_s']:,.0f} tok/s | seqcli same recipe "
        f"{same['tokens_per_s']:,.0f} (x{s['ratio_same_recipe']:.2f}) | seqcli default "
        f"{ours['tokens_per_s']:,.0f} (x{s['ratio_default']:.2f})"
        + "".join(
            f" | {r} bf16 x{s[f'ratio_{r}_bf16']:.2f}"
            for r in ("reference", "default")
            if f"ratio_{r}_bf16" in s
        ),
        flush=True,
    )


def bench_shakespeare(args: argparse.Namespace, figures: dict) -> None:
    log(f"== tiny Shakespeare, characters, {args.budget:g} min per seed")
    runs = [
        run_worker(
            "shakespeare",
            args.threads,
            budget=args.budget,
            seed=seed,
            char_recipe=args.char_recipe,
        )
        for seed in args.seeds
    ]
    figures["tinyshakespeare"] = {
        "recipe": char_recipe(args.char_recipe),
        "runs": runs,
        "valid_nats_per_char": spread([r["valid_nats_per_char"] for r in runs]),
    }
    v = figures["tinyshakespeare"]["valid_nats_per_char"]
    print(
        f"tiny Shakespeare, {args.budget:g} min: valid {v['mean']:.3f} nats/char "
        f"(+-{v['sd']:.3f})",
        flush=True,
    )


def bench_sampling(args: argparse.Namespace, figures: dict) -> None:
    model = args.model or str(RESULTS / f"wikitext-default-{args.seeds[0]}.pt")
    log(f"== sampling from {model}")
    s = run_worker("sampling", args.threads, model=model)
    figures["sampling"] = s
    print(f"sampling: {json.dumps(s)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0, help="minutes per run")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument(
        "--speed-seconds", type=float, default=120.0, help="seconds per speed run"
    )
    parser.add_argument("--only", default="wikitext,speed,shakespeare,sampling")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads per run (0 = automatic)"
    )
    parser.add_argument("--model", help="the WikiText-2 model that sampling reads")
    parser.add_argument(
        "--char-recipe",
        default="",
        help="shakespeare: overrides of its recipe, e.g. model.hidden_size=256",
    )
    parser.add_argument(
        "--wikitext-args",
        default="",
        help='wikitext: options added to the train-lm command, e.g. "--precision bf16"',
    )
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="speed: also seqcli's two recipes with --precision bf16",
    )
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        set_threads(args.threads)
        RESULTS.mkdir(parents=True, exist_ok=True)
        print(json.dumps(WORKERS[args.worker](args)))
        return
    args.seeds = [int(s) for s in args.seeds.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    figures: dict = {
        "command": " ".join(["python", "-m", "bench.lm", *sys.argv[1:]]),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs, no GPU",
        "load_at_start": os.getloadavg(),
        "budget_min": args.budget,
    }
    steps = {
        "wikitext": bench_wikitext,
        "speed": bench_speed,
        "shakespeare": bench_shakespeare,
        "sampling": bench_sampling,
    }
    for name in args.only.split(","):
        steps[name](args, figures)
    figures["load_at_end"] = os.getloadavg()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
