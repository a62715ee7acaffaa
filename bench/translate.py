"""Translation benchmark: Multi30k German -> English, a fixed training budget.

    python -m bench.translate [--budget 30] [--raw-budget 15] [--only tok,raw]

1. On the anchors' preparation (translation/multi30k-tok: Moses-tokenized,
   lowercased), train for --budget minutes with seqcli's recipe (below), then
   translate test2016 with `seqcli translate --beam 5` and score it with
   `seqcli bleu --tokenize none`.
2. Cased, detokenized sacreBLEU on the raw files (translation/multi30k): a model
   trained with seqcli's default settings for --raw-budget minutes, scored with
   `seqcli bleu` (13a tokenization, as sacreBLEU's default).
3. BLEU of the tokenized model for beam 1, 5, 10 x alpha 0, 0.6, 1.0.
4. Decoding speed at beam 5, sentences per second: batched, and one sentence at
   a time, in the same process, on the same sentences (wall clock, and CPU time,
   which the other work on a shared machine disturbs less).
5. Beam-search error analysis of test2016 at beams 1, 5 and 10.
6. Training throughput (target tokens/s) and peak RSS of training and of
   `seqcli translate`.

Every torch computation runs on one thread (OMP_NUM_THREADS=1 and
`num_threads`); the thread count and load averages are recorded. Corpora come
from ../shared/corpora (override with SEQCLI_CORPORA). The last line of output is
one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.steptimer import StepTimer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
THREADS = 1
# The recipe of figure 1 (besides the defaults of TranslationConfig): chosen for
# quality per CPU-second on a shared 2-core machine.
RECIPE = {
    "cell": "gru",
    "emb_size": 256,
    "hidden_size": 256,
    "num_layers": 1,
    "dropout": 0.2,
    "attention": "bahdanau",
    "input_feeding": False,
    "tie_embeddings": True,
    "label_smoothing": 0.1,
    "batch_tokens": 600,
    "lr": 2e-3,
    # Word level, as Joey NMT beside it reads the same files (the command's
    # default became subword pieces after this figure's recipe was set).
    "level": "word",
    "min_freq": 2,
    "word_split": "whitespace",  # the data are tokenized: outputs stay so
    "eval_every": 400,  # steps (about 2/3 of an epoch)
}
GRID_BEAMS = (1, 5, 10)
GRID_ALPHAS = (0.0, 0.6, 1.0)
ONE_AT_A_TIME = 200  # sentences decoded both ways for the speed ratio


def corpora() -> Path:
    return Path(os.environ.get("SEQCLI_CORPORA", ROOT.parent / "shared" / "corpora"))


def tok_dir() -> Path:
    return corpora() / "translation" / "multi30k-tok"


def raw_dir() -> Path:
    return corpora() / "translation" / "multi30k"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(THREADS), "PYTHONPATH": str(ROOT)}


# --- workers (each in its own process, so that peak memory is its own) -------------
def _train(cfg, budget: float) -> dict:  # noqa: ANN001 - a TranslationConfig
    from seqcli.tasks.translation import train_translation

    cfg.train.max_time, cfg.train.epochs, cfg.train.num_threads = budget, 1000, THREADS
    timer = StepTimer(echo_evals=True)
    load_before = os.getloadavg()
    outcome = train_translation(cfg, reporter=timer)
    tokens = timer.evals[-1]["tokens"] if timer.evals else 0
    return {
        "valid": outcome.metrics["valid"],
        "test_greedy": outcome.metrics.get("test", {}),
        "stopped_by": outcome.stopped_by,
        "evaluations": [
            {k: r[k] for k in ("epoch", "step", "elapsed_s", "bleu", "loss")}
            for r in timer.evals
        ],
        "train_tokens": tokens,
        "train_tokens_per_s": tokens / max(timer.train_s, 1e-9),
        "epochs_done": round(tokens / max(1, outcome_train_tokens(outcome.path)), 2),
        "loadavg_start": load_before,
        "loadavg_end": os.getloadavg(),
        "peak_rss_mb": peak_rss_mb(),
    }


def outcome_train_tokens(path: Path) -> int:
    from seqcli.checkpoint import load_checkpoint

    return (
        load_checkpoint(path)["data"]["train"]["tgt_tokens"]
        + load_checkpoint(path)["data"]["train"]["pairs"]
    )  # + one <eos> per pair


def worker_train_tok(budget: float) -> dict:
    from seqcli.config import TranslationConfig

    d = tok_dir()
    cfg = TranslationConfig(
        src_path=str(d / "train.de"),
        tgt_path=str(d / "train.en"),
        valid_src_path=str(d / "valid.de"),
        valid_tgt_path=str(d / "valid.en"),
        test_src_path=str(d / "test2016.de"),
        test_tgt_path=str(d / "test2016.en"),
        out=str(RESULTS / "multi30k-tok.pt"),
    )
    r = RECIPE
    for key in ("cell", "emb_size", "hidden_size", "num_layers", "dropout"):
        setattr(cfg.model, key, r[key])
    for key in ("attention", "input_feeding", "tie_embeddings", "label_smoothing"):
        setattr(cfg, key, r[key])
    cfg.batch_tokens, cfg.train.lr = r["batch_tokens"], r["lr"]
    cfg.tokenizer.min_freq, cfg.train.eval_every = r["min_freq"], r["eval_every"]
    cfg.tokenizer.word_split, cfg.tokenizer.level = r["word_split"], r["level"]
    return {**_train(cfg, budget), "recipe": RECIPE}


def worker_train_raw(budget: float) -> dict:
    from seqcli.config import TranslationConfig

    d = raw_dir()
    cfg = TranslationConfig(
        src_path=str(d / "train.de"),
        tgt_path=str(d / "train.en"),
        valid_src_path=str(d / "valid.de"),
        valid_tgt_path=str(d / "valid.en"),
        out=str(RESULTS / "multi30k-raw.pt"),
    )
    return _train(cfg, budget)


def worker_decode_tok(budget: float) -> dict:
    """Figures 3-5 of the tokenized model, through the Python API."""
    import torch

    from seqcli.metrics.translation import BleuOptions, corpus_scores
    from seqcli.tasks.translation_analysis import analyze
    from seqcli.tasks.translation_inference import load_translator, translate

    torch.set_num_threads(THREADS)
    d = tok_dir()
    src = (d / "test2016.de").read_text(encoding="utf-8").splitlines()
    ref = (d / "test2016.en").read_text(encoding="utf-8").splitlines()
    model = load_translator(RESULTS / "multi30k-tok.pt")
    none = BleuOptions(tokenize="none")
    grid = {}
    for beam in GRID_BEAMS:
        for alpha in GRID_ALPHAS:
            out = [t.texts[0] for t in translate(model, src, beam=beam, alpha=alpha)]
            (bleu,) = corpus_scores(out, [ref], options=none)
            grid[f"beam{beam}_alpha{alpha}"] = round(bleu.score, 2)
            print(f"grid beam {beam} alpha {alpha}: {bleu.score:.2f}", file=sys.stderr)
    speed = _speed(model, src)
    analysis = {}
    for beam in GRID_BEAMS:
        _, s = analyze(model, src, ref, beam=beam)
        analysis[f"beam{beam}"] = {
            "same": s.same,
            "search_errors": s.search_errors,
            "model_errors": s.model_errors,
            "search_share": round(s.share(s.search_errors), 4),
            "model_share": round(s.share(s.model_errors), 4),
            "bleu_13a": round(s.bleu, 2),
        }
        print(f"analysis beam {beam}: {analysis[f'beam{beam}']}", file=sys.stderr)
    return {"grid": grid, "speed": speed, "analysis": analysis}


def _speed(model, src: list[str]) -> dict:  # noqa: ANN001 - a Translator
    from seqcli.tasks.translation_inference import translate

    subset = src[:ONE_AT_A_TIME]
    translate(model, subset[:8], beam=5)  # warm-up
    result = {}
    for name, batch_size in (("batched", 64), ("one_at_a_time", 1)):
        wall, cpu = time.perf_counter(), time.process_time()
        translate(model, subset, beam=5, batch_size=batch_size)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        result[f"{name}_sent_per_s_wall"] = round(len(subset) / wall, 1)
        result[f"{name}_sent_per_s_cpu"] = round(len(subset) / cpu, 1)
    wall, cpu = time.perf_counter(), time.process_time()
    translate(model, src, beam=5)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result["batched_full_test_sent_per_s_wall"] = round(len(src) / wall, 1)
    result["batched_full_test_sent_per_s_cpu"] = round(len(src) / cpu, 1)
    result["speedup_wall"] = round(
        result["batched_sent_per_s_wall"] / result["one_at_a_time_sent_per_s_wall"], 2
    )
    result["speedup_cpu"] = round(
        result["batched_sent_per_s_cpu"] / result["one_at_a_time_sent_per_s_cpu"], 2
    )
    result["sentences"] = len(subset)
    return result


def worker_speed_tok(budget: float) -> dict:
    """Figure 4 alone: beam-5 decoding speed of the tokenized model."""
    import torch

    from seqcli.tasks.translation_inference import load_translator

    torch.set_num_threads(THREADS)
    src = (tok_dir() / "test2016.de").read_text(encoding="utf-8").splitlines()
    return _speed(load_translator(RESULTS / "multi30k-tok.pt"), src)


WORKERS = {
    "train-tok": worker_train_tok,
    "decode-tok": worker_decode_tok,
    "speed-tok": worker_speed_tok,
    "train-raw": worker_train_raw,
}


def run_worker(name: str, budget: float) -> dict:
    print(f"== {name} ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.translate",
            "--worker",
            name,
            "--budget",
            str(budget),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env(),
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the command line, as a user runs it -------------------------------------------
def seqcli(*args: str, stdout: Path | None = None) -> tuple[str, float]:
    """Run `python -m seqcli ARGS`; (its stdout, or "" when sent to a file; its
    peak RSS in MB, from the kernel's accounting of that one child)."""
    from seqcli.outputs import OutputFile

    cmd = [sys.executable, "-m", "seqcli", *args]
    if stdout is None:
        return _run(cmd, subprocess.PIPE)
    # the one write path: the previous file stays if the command fails
    with OutputFile(stdout, inputs={}, flag="stdout").open("w") as sink:
        return _run(cmd, sink)


def _run(cmd: list[str], sink: Any) -> tuple[str, float]:
    proc = subprocess.Popen(cmd, stdout=sink, text=True, cwd=ROOT, env=env())
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed with {proc.returncode}")
    return out, usage.ru_maxrss / 1024


def cli_figures(kind: str) -> dict:
    """Translate test2016 with `seqcli translate` (defaults, beam 5) and score it."""
    d = tok_dir() if kind == "tok" else raw_dir()
    model = RESULTS / f"multi30k-{kind}.pt"
    hyp = RESULTS / f"test2016-{kind}.en"
    t0 = time.perf_counter()
    _, rss = seqcli("translate", str(d / "test2016.de"), "-m", str(model), stdout=hyp)
    seconds = time.perf_counter() - t0
    bleu_args = ["--tokenize", "none"] if kind == "tok" else []
    line, _ = seqcli("bleu", str(d / "test2016.en"), "-i", str(hyp), *bleu_args)
    chrf, _ = seqcli(
        "bleu", str(d / "test2016.en"), "-i", str(hyp), "--metrics", "chrf"
    )
    return {
        "bleu_line": line.strip(),
        "chrf_line": chrf.strip(),
        "bleu": _score_of(line),
        "translate_seconds_with_startup": round(seconds, 1),
        "translate_peak_rss_mb": round(rss, 1),
        "command": f"seqcli translate {d / 'test2016.de'} -m {model} > {hyp}; "
        f"seqcli bleu {d / 'test2016.en'} -i {hyp} {' '.join(bleu_args)}".strip(),
    }


def _score_of(line: str) -> float | None:
    for part in line.replace("=", " ").split():
        try:
            return float(part)
        except ValueError:
            continue
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0, help="minutes")
    parser.add_argument("--raw-budget", type=float, default=15.0, help="minutes")
    parser.add_argument("--only", default="tok,raw")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--markdown", help="render a results JSON file and exit")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return
    if args.worker:
        torch_threads()
        print(json.dumps(WORKERS[args.worker](args.budget)))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    parts = args.only.split(",")
    result: dict = {
        "benchmark": "translate",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": _commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared",
        "threads": THREADS,
        "loadavg_start": os.getloadavg(),
        "budget_min": args.budget,
    }
    if "tok" in parts:
        if not args.skip_train:
            result["train_tok"] = run_worker("train-tok", args.budget)
        result["cli_tok"] = cli_figures("tok")
        print(f"cli tok: {result['cli_tok']}", file=sys.stderr, flush=True)
        result["decode_tok"] = run_worker("decode-tok", 0)
    if "raw" in parts:
        result["raw_budget_min"] = args.raw_budget
        if not args.skip_train:
            result["train_raw"] = run_worker("train-raw", args.raw_budget)
        result["cli_raw"] = cli_figures("raw")
    result["loadavg_end"] = os.getloadavg()
    from seqcli.outputs import OutputFile

    for name, text in (
        ("json", json.dumps(result, indent=2)),
        ("md", markdown(result)),
    ):
        OutputFile(RESULTS / f"translate.{name}", inputs={}).write_text(text)
    print(json.dumps(result))


def markdown(r: dict) -> str:
    """The figures of a run as the docs/BENCHMARKS.md section shows them."""
    load = ", ".join(f"{x:.1f}" for x in r["loadavg_start"])
    lines = [
        f"Run of {r['date']} UTC, commit {r['commit']}, {r['machine']}; "
        f"{r['threads']} torch thread; load average at the start {load} "
        f"(1/5/15 min), at the end "
        f"{', '.join(f'{x:.1f}' for x in r['loadavg_end'])}.",
        "",
    ]
    t, c = r.get("train_tok"), r.get("cli_tok")
    if t and c:
        lines += [
            f"1. Tokenized (multi30k-tok), {r['budget_min']:g} minutes: test2016 "
            f"**BLEU {c['bleu']:.2f}** at beam 5 (`seqcli bleu --tokenize none`); "
            f"validation BLEU (greedy) {t['valid']['bleu']:.2f}, test greedy "
            f"{t['test_greedy'].get('bleu', float('nan')):.2f}; "
            f"{t['train_tokens']:,} target tokens trained "
            f"({t['epochs_done']} epochs), stopped by {t['stopped_by']}.",
            f"   `{c['bleu_line']}`",
            f"   `{c['chrf_line']}`",
        ]
    rc, rt = r.get("cli_raw"), r.get("train_raw")
    if rc and rt:
        lines += [
            f"2. Raw, cased (multi30k), default settings, {r['raw_budget_min']:g} "
            f"minutes: test2016 **BLEU {rc['bleu']:.2f}** (sacreBLEU 13a, "
            f"detokenized); {rt['train_tokens']:,} target tokens trained "
            f"({rt['epochs_done']} epochs).",
            f"   `{rc['bleu_line']}`",
        ]
    d = r.get("decode_tok")
    if d:
        lines += ["", "3. BLEU (tokenized test2016, `--tokenize none`):", ""]
        lines += [
            "   | beam | alpha 0 | alpha 0.6 | alpha 1.0 |",
            "   | --- | --- | --- | --- |",
        ]
        for beam in GRID_BEAMS:
            cells = [f"{d['grid'][f'beam{beam}_alpha{a}']:.2f}" for a in GRID_ALPHAS]
            lines.append(f"   | {beam} | {' | '.join(cells)} |")
        sp = d["speed"]
        lines += [
            "",
            f"4. Decoding at beam 5, first {sp['sentences']} test sentences: batched "
            f"(64) {sp['batched_sent_per_s_wall']} sentences/s wall "
            f"({sp['batched_sent_per_s_cpu']} per CPU-second), one at a time "
            f"{sp['one_at_a_time_sent_per_s_wall']} wall "
            f"({sp['one_at_a_time_sent_per_s_cpu']} per CPU-second): "
            f"**{sp['speedup_wall']}x** wall, {sp['speedup_cpu']}x CPU. The whole "
            f"test set batched: {sp['batched_full_test_sent_per_s_wall']} sentences/s "
            f"wall, {sp['batched_full_test_sent_per_s_cpu']} per CPU-second.",
            "",
            "5. Error analysis of test2016 (alpha 1.0): shares of the sentences that "
            "differ from their reference",
            "",
            "   | beam | same | search errors | model errors | BLEU (13a) |",
            "   | --- | --- | --- | --- | --- |",
        ]
        for beam in GRID_BEAMS:
            a = d["analysis"][f"beam{beam}"]
            lines.append(
                f"   | {beam} | {a['same']} | {a['search_errors']} "
                f"({a['search_share']:.1%}) | {a['model_errors']} "
                f"({a['model_share']:.1%}) | {a['bleu_13a']:.2f} |"
            )
    if t:
        lines += [
            "",
            f"6. Training: {t['train_tokens_per_s']:.0f} target tokens/s (time in "
            f"training steps), peak RSS {t['peak_rss_mb']:.0f} MB; "
            + (
                f"`seqcli translate` of test2016: peak RSS "
                f"{c['translate_peak_rss_mb']:.0f} MB, "
                f"{c['translate_seconds_with_startup']} s with start-up."
                if c
                else ""
            ),
        ]
    return "\n".join(lines) + "\n"


def torch_threads() -> None:
    import torch

    torch.set_num_threads(THREADS)


def _commit() -> str:
    if os.environ.get("SEQCLI_BENCH_COMMIT"):  # a run from an exported copy
        return os.environ["SEQCLI_BENCH_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
